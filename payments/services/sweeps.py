"""The periodic sweeps over every due row: escrow release and checkout expiry.

Called by the worker's periodic jobs (``payments.tasks``) and by the ops commands
(``release_escrow``, ``expire_checkouts``). Each row is handled by its own service in its own
transaction (``transaction_release_due``, ``transaction_expire``: SKIP LOCKED, re-checked under
the row lock), so two sweeps at once, a job and a command say, handle each row once, and one
failing row never stops the others.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from marketplace.errors import ServiceError
from payments.models import Transaction, TransactionStatus
from payments.services.escrow import transaction_release_due
from payments.services.purchase import transaction_expire

Status = TransactionStatus
RELEASE_OUTCOMES = ("released", "held", "waiting", "skipped", "failed")


@dataclass
class SweepReport:
    """What one sweep did: a count per outcome, and one line per failed row (``"<pk>: why"``)."""

    outcomes: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.outcomes["failed"]


def escrow_due(*, now: datetime | None = None):
    """Processing transactions whose escrow release date has passed, oldest due first."""
    return Transaction.objects.filter(
        Q(
            status=Status.PROCESSING,
            escrow_released_at__isnull=True,
            escrow_release_date__lte=now or timezone.now(),
        )
    ).order_by("escrow_release_date")


def escrow_release_all_due(*, now: datetime | None = None) -> SweepReport:
    """Release every due escrow (``transaction_release_due`` each, in its own transaction).

    Outcomes: ``released``, ``held`` (seller not in good standing), ``waiting`` (no payout
    account yet), ``skipped`` (another run holds it, or no longer due), ``failed`` (a payout
    error: that row is rolled back and retried by the next sweep, with the same idempotency key).
    """
    now = now or timezone.now()
    report = SweepReport()
    for key in RELEASE_OUTCOMES:
        report.outcomes[key] = 0
    for txn in escrow_due(now=now).only("pk", "listing_id").iterator():
        try:
            report.outcomes[transaction_release_due(transaction=txn, now=now)] += 1
        except ServiceError as error:
            report.outcomes["failed"] += 1
            report.errors.append(f"{txn.pk}: {error.message}")
        except Exception as error:  # noqa: BLE001 - a payout API error: this row rolled back, go on
            report.outcomes["failed"] += 1
            report.errors.append(f"{txn.pk}: {type(error).__name__}: {error}")
    return report


def checkouts_expiring(*, now: datetime | None = None):
    """Unpaid checkouts older than ``CHECKOUT_EXPIRY_MINUTES`` (an offer's checkout may have
    longer: ``transaction_expire`` re-checks its own limit), oldest first."""
    cutoff = (now or timezone.now()) - timedelta(minutes=settings.CHECKOUT_EXPIRY_MINUTES)
    return Transaction.objects.filter(status=Status.PENDING, created_at__lte=cutoff).order_by("created_at")


def checkouts_expire_all_due(*, now: datetime | None = None) -> SweepReport:
    """Cancel every expired unpaid checkout (``transaction_expire`` each, in its own
    transaction). Outcomes: ``expired``, ``skipped`` (another run holds it, paid since, or an
    offer's longer checkout), ``failed`` (a ``ServiceError``, e.g. a listing moved by hand)."""
    now = now or timezone.now()
    report = SweepReport()
    for key in ("expired", "skipped", "failed"):
        report.outcomes[key] = 0
    for txn in checkouts_expiring(now=now).only("pk", "listing_id").iterator():
        try:
            report.outcomes["expired" if transaction_expire(transaction=txn, now=now) else "skipped"] += 1
        except ServiceError as error:
            report.outcomes["failed"] += 1
            report.errors.append(f"{txn.pk}: {error.message}")
    return report
