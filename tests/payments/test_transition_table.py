"""Walks ``TRANSITION_TABLE``: every row's move succeeds from its source with its guard met (the
listing moves and the hook is announced as the row says); every other move, and every row with
its guard unmet, is refused and changes nothing (status, listing, ledger)."""

import pytest
from django.utils import timezone

from listings.models import Listing
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import Hook
from payments import hooks
from payments.models import LedgerEntry, Transaction
from payments.services import TRANSACTION_TRANSITIONS, TRANSITION_TABLE, transaction_transition
from tests.factories import ListingFactory, TransactionFactory
from tests.payments.purchase_helpers import reload

pytestmark = pytest.mark.django_db

S = Transaction.Status
K = LedgerEntry.Kind
HOOK_NAMES = (
    "order_paid",
    "order_cancelled",
    "order_receipt_confirmed",
    "order_completed",
    "order_refunded",
    "order_disputed",
    "order_dispute_closed",
)
# The listing's status while its transaction is in each status (before escrow release).
LISTING_FOR = {
    S.PENDING: Listing.Status.RESERVED,
    S.PROCESSING: Listing.Status.RESERVED,
    S.COMPLETED: Listing.Status.SOLD,
    S.DISPUTED: Listing.Status.RESERVED,
    S.CANCELLED: Listing.Status.ACTIVE,
    S.REFUNDED: Listing.Status.ACTIVE,
}
LISTING_AFTER_MOVE = {"release": Listing.Status.ACTIVE, "complete_sale": Listing.Status.SOLD}


@pytest.fixture
def calls(monkeypatch):
    """Every hook replaced by a recorder of (hook name, transaction id, extra arguments)."""
    seen = []
    for name in HOOK_NAMES:
        monkeypatch.setattr(hooks, name, lambda txn, *args, name=name: seen.append((name, txn.pk, args)))
    return seen


def in_status(status: str, *, released: bool) -> Transaction:
    released = released or status == S.COMPLETED
    now = timezone.now()
    listing_status = Listing.Status.SOLD if released else LISTING_FOR[status]
    return TransactionFactory(
        listing=ListingFactory(
            status=listing_status, sold_at=now if listing_status == Listing.Status.SOLD else None
        ),
        status=status,
        completed_at=now if status == S.COMPLETED else None,
        escrow_released_at=now if released else None,
    )


def row_id(row) -> str:
    return f"{row.source}->{row.target}" + (f" ({row.guard})" if row.guard else "")


def test_the_derived_table_lists_every_row_and_nothing_else():
    assert {(row.source, row.target) for row in TRANSITION_TABLE} == {
        (source, target) for source, targets in TRANSACTION_TRANSITIONS.items() for target in targets
    }
    assert set(TRANSACTION_TRANSITIONS) == set(S.values)
    assert TRANSACTION_TRANSITIONS[S.CANCELLED] == TRANSACTION_TRANSITIONS[S.REFUNDED] == frozenset()
    for row in TRANSITION_TABLE:
        assert row.hook is None or isinstance(getattr(hooks, row.hook), Hook)
        assert row.listing_move in (None, *LISTING_AFTER_MOVE)


@pytest.mark.parametrize("row", TRANSITION_TABLE, ids=row_id)
def test_every_row_moves_the_status_listing_ledger_and_announces_its_hook(
    row, calls, django_capture_on_commit_callbacks
):
    txn = in_status(row.source, released=row.guard == "released")
    listing_before = txn.listing.status
    with django_capture_on_commit_callbacks(execute=True):
        transaction_transition(
            transaction=txn, to_status=row.target, ledger=[(K.CHARGE, 100, f"ch_{row.target}")]
        )
    stored = reload(txn)
    assert stored.status == row.target
    assert stored.listing.status == LISTING_AFTER_MOVE.get(row.listing_move, listing_before)
    assert list(LedgerEntry.objects.filter(transaction=txn).values_list("kind", "amount_cents")) == [
        (K.CHARGE, 100)
    ]
    assert calls == ([(row.hook, txn.pk, row.hook_args)] if row.hook else [])


def assert_refused_and_unchanged(txn: Transaction, target: str, calls, capture) -> None:
    before = reload(txn)
    with capture(execute=True), pytest.raises(ServiceError) as excinfo:
        transaction_transition(transaction=txn, to_status=target, ledger=[(K.CHARGE, 100, "ch_refused")])
    assert excinfo.value.code == ErrorCode.INVALID_TRANSITION
    stored = reload(txn)
    assert (stored.status, stored.listing.status, stored.metadata) == (
        before.status,
        before.listing.status,
        before.metadata,
    )
    assert not LedgerEntry.objects.filter(transaction=txn).exists()
    assert calls == []


ILLEGAL = sorted(
    (source, target, released)
    for source in S.values
    for target in S.values
    for released in (False, True)
    if target not in TRANSACTION_TRANSITIONS[source]
)


@pytest.mark.parametrize(("source", "target", "released"), ILLEGAL)
def test_every_move_without_a_row_is_refused_and_changes_nothing(
    source, target, released, calls, django_capture_on_commit_callbacks
):
    txn = in_status(source, released=released)
    assert_refused_and_unchanged(txn, target, calls, django_capture_on_commit_callbacks)


UNMET = {"released": False, "not released": True}  # the escrow state that fails each guard


def _opposite(guard: str) -> str:
    return "not released" if guard == "released" else "released"


def has_an_unmet_case(row) -> bool:
    """No other row makes the same move in the escrow state that fails this row's guard (a lost
    dispute has one row per escrow state: either way it is legal)."""
    return not any(
        (other.source, other.target) == (row.source, row.target)
        and other.guard in (None, _opposite(row.guard))
        for other in TRANSITION_TABLE
        if other is not row
    )


GUARDED = [row for row in TRANSITION_TABLE if row.guard and has_an_unmet_case(row)]


def test_a_won_dispute_is_guarded_by_the_escrow_state():
    assert {(row.source, row.target) for row in GUARDED} == {
        (S.DISPUTED, S.PROCESSING),
        (S.DISPUTED, S.COMPLETED),
    }


@pytest.mark.parametrize("row", GUARDED, ids=row_id)
def test_every_row_with_its_guard_unmet_is_refused_and_changes_nothing(
    row, calls, django_capture_on_commit_callbacks
):
    txn = in_status(row.source, released=UNMET[row.guard])
    assert_refused_and_unchanged(txn, row.target, calls, django_capture_on_commit_callbacks)
