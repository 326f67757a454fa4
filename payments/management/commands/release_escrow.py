from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from marketplace.errors import ServiceError
from payments.models import Transaction
from payments.selectors import held_payouts
from payments.services import transaction_release_due


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
        due = Transaction.objects.filter(
            Q(
                status=Transaction.Status.PROCESSING,
                escrow_released_at__isnull=True,
                escrow_release_date__lte=now,
            )
        ).order_by("escrow_release_date")
        if dry_run:
            held = len(held_payouts(now=now))
            self.stdout.write(
                f"{due.count()} transactions are due for release ({held} of them held for staff: the "
                "seller is not in good standing)."
            )
            return
        outcomes = {"released": 0, "held": 0, "waiting": 0, "skipped": 0, "failed": 0}
        for transaction in due.only("pk", "listing_id").iterator():
            try:
                outcomes[transaction_release_due(transaction=transaction, now=now)] += 1
            except ServiceError as error:
                outcomes["failed"] += 1
                self.stderr.write(f"{transaction.pk}: {error.message}")
            except Exception as error:  # a payout API error: this row is rolled back, go on
                outcomes["failed"] += 1
                self.stderr.write(f"{transaction.pk}: {type(error).__name__}: {error}")
        self.stdout.write(
            "Released {released}; held for staff (seller not in good standing) {held}; "
            "waiting for the seller's payout account {waiting}; "
            "skipped (taken by another run or no longer due) {skipped}; failed {failed}.".format(**outcomes)
        )
        if outcomes["failed"]:
            raise CommandError(f"{outcomes['failed']} releases failed (see above); a rerun retries them.")
