from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from payments.services.sweeps import checkouts_expire_all_due, checkouts_expiring


class Command(BaseCommand):
    help = (
        "Cancel unpaid checkouts older than CHECKOUT_EXPIRY_MINUTES and make their listings "
        "active again. Safe to run twice at once: rows another run holds are skipped and each "
        "row is re-checked under its lock."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would expire; change nothing.")

    def handle(self, *args, dry_run, **options):
        now = timezone.now()
        if dry_run:
            count = checkouts_expiring(now=now).count()
            self.stdout.write(f"{count} unpaid checkouts would expire.")
            return
        report = checkouts_expire_all_due(now=now)
        for line in report.errors:  # e.g. a listing moved by hand: reported, the others go on
            self.stderr.write(line)
        self.stdout.write(f"Expired {report.outcomes['expired']} unpaid checkouts.")
        if report.failed:
            raise CommandError(f"{report.failed} checkouts could not be expired (see above).")
