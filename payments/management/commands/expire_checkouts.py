from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from marketplace.errors import ServiceError
from payments.models import Transaction
from payments.services import transaction_expire


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
        cutoff = now - timedelta(minutes=settings.CHECKOUT_EXPIRY_MINUTES)
        due = Transaction.objects.filter(status=Transaction.Status.PENDING, created_at__lte=cutoff).order_by(
            "created_at"
        )
        if dry_run:
            count = due.count()
            self.stdout.write(f"{count} unpaid checkouts would expire.")
            return
        expired = failed = 0
        for transaction in due.only("pk", "listing_id").iterator():
            try:
                expired += transaction_expire(transaction=transaction, now=now)
            except ServiceError as error:  # e.g. a listing moved by hand: report it, go on
                failed += 1
                self.stderr.write(f"{transaction.pk}: {error.message}")
        self.stdout.write(f"Expired {expired} unpaid checkouts.")
        if failed:
            raise CommandError(f"{failed} checkouts could not be expired (see above).")
