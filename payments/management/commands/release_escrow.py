from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from payments.selectors import held_payouts
from payments.services.sweeps import escrow_due, escrow_release_all_due


class Command(BaseCommand):
    help = (
        "Pay sellers whose escrow is due (processing transactions past escrow_release_date), "
        "completing the transaction and selling the listing. Safe to run twice or concurrently: "
        "each row is taken with SKIP LOCKED and re-checked under its lock, so it is transferred "
        "once. Sellers without a payout-ready account wait; payouts of sellers not in good standing "
        "(suspended or banned) are held for staff (reconcile lists them; the Transaction admin "
        "releases them with a reason, or staff refund the buyer)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what is due; change nothing.")

    def handle(self, *args, dry_run, **options):
        now = timezone.now()
        if dry_run:
            held = len(held_payouts(now=now))
            self.stdout.write(
                f"{escrow_due(now=now).count()} transactions are due for release ({held} of them held for "
                "staff: the seller is not in good standing)."
            )
            return
        report = escrow_release_all_due(now=now)
        for line in report.errors:
            self.stderr.write(line)
        self.stdout.write(
            "Released {released}; held for staff (seller not in good standing) {held}; "
            "waiting for the seller's payout account {waiting}; "
            "skipped (taken by another run or no longer due) {skipped}; failed {failed}.".format(
                **report.outcomes
            )
        )
        if report.failed:
            raise CommandError(f"{report.failed} releases failed (see above); a rerun retries them.")
