"""Every status change goes through transaction_transition; the listing and ledger follow."""

from datetime import timedelta

import pytest
from django.utils import timezone

from listings.models import Listing
from marketplace.errors import ServiceError
from payments.gateway import PaymentRefused, PaymentUnavailable, SimulatedConnectGateway
from payments.models import LedgerEntry, Transaction
from payments.services import (
    TRANSACTION_TRANSITIONS,
    ledger_totals,
    seller_reversal_due_cents,
    transaction_cancel,
    transaction_confirm_receipt,
    transaction_dispute_close,
    transaction_dispute_open,
    transaction_mark_paid,
    transaction_refund,
    transaction_release,
    transaction_reverse_due,
    transaction_transition,
)
from tests.factories import ListingFactory, TransactionFactory, UserFactory
from tests.payments.purchase_helpers import paid, released, reload, staff_with, start

pytestmark = pytest.mark.django_db

S = Transaction.Status
K = LedgerEntry.Kind
ALL = list(S.values)
LEGAL = {
    (S.PENDING, S.PROCESSING),
    (S.PENDING, S.CANCELLED),
    (S.PROCESSING, S.COMPLETED),
    (S.PROCESSING, S.REFUNDED),
    (S.PROCESSING, S.DISPUTED),
    (S.COMPLETED, S.REFUNDED),
    (S.COMPLETED, S.DISPUTED),
    (S.DISPUTED, S.PROCESSING),
    (S.DISPUTED, S.COMPLETED),
    (S.DISPUTED, S.REFUNDED),
}
LISTING_FOR = {
    S.PENDING: Listing.Status.RESERVED,
    S.PROCESSING: Listing.Status.RESERVED,
    S.COMPLETED: Listing.Status.SOLD,
    S.DISPUTED: Listing.Status.RESERVED,
    S.CANCELLED: Listing.Status.ACTIVE,
    S.REFUNDED: Listing.Status.ACTIVE,
}


def in_status(status: str, *, released_escrow: bool = False) -> Transaction:
    listing_status = Listing.Status.SOLD if released_escrow else LISTING_FOR[status]
    now = timezone.now()
    sold_at = now if listing_status == Listing.Status.SOLD else None
    return TransactionFactory(
        listing=ListingFactory(status=listing_status, sold_at=sold_at),
        status=status,
        completed_at=now if status == S.COMPLETED else None,
        escrow_released_at=now if released_escrow or status == S.COMPLETED else None,
    )


def test_the_table_is_the_documented_one():
    assert {
        (source, target) for source, targets in TRANSACTION_TRANSITIONS.items() for target in targets
    } == LEGAL
    assert TRANSACTION_TRANSITIONS[S.CANCELLED] == TRANSACTION_TRANSITIONS[S.REFUNDED] == frozenset()


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_legal_transitions_are_applied_and_recorded(source, target):
    # A dispute won after release returns to completed; before release, to processing.
    txn = in_status(source, released_escrow=(source, target) == (S.DISPUTED, S.COMPLETED))
    at = timezone.now() - timedelta(minutes=5)
    moved = transaction_transition(transaction=txn, to_status=target, at=at)
    stored = reload(moved)
    assert stored.status == target
    assert stored.metadata["history"][-1] == {"status": target, "at": at.isoformat()}
    if target == S.CANCELLED:
        assert stored.cancelled_at == at
    if target == S.COMPLETED and source == S.PROCESSING:
        assert stored.completed_at == at


@pytest.mark.parametrize(
    ("source", "target"), sorted((s, t) for s in ALL for t in ALL if (s, t) not in LEGAL)
)
def test_illegal_transitions_are_refused_and_change_nothing(source, target):
    txn = in_status(source)
    with pytest.raises(ServiceError) as excinfo:
        transaction_transition(transaction=txn, to_status=target)
    assert excinfo.value.code == "invalid_transition"
    stored = reload(txn)
    assert stored.status == source
    assert stored.listing.status == LISTING_FOR[source]


def test_a_dispute_won_returns_to_where_it_came_from():
    before_release = in_status(S.DISPUTED)
    with pytest.raises(ServiceError):
        transaction_transition(transaction=before_release, to_status=S.COMPLETED)
    after_release = in_status(S.DISPUTED, released_escrow=True)
    with pytest.raises(ServiceError):
        transaction_transition(transaction=after_release, to_status=S.PROCESSING)


def test_transition_uses_the_locked_row_not_the_callers_copy():
    txn = start()
    stale = Transaction.objects.get(pk=txn.pk)
    transaction_cancel(transaction=txn, actor=txn.buyer)
    with pytest.raises(ServiceError):
        transaction_transition(transaction=stale, to_status=S.PROCESSING)
    assert reload(txn).status == S.CANCELLED


# --- The whole flow, listing and ledger -------------------------------------------------
def test_purchase_reserves_and_cancellation_releases_the_listing():
    txn = start()
    assert txn.status == S.PENDING and reload(txn).listing.status == Listing.Status.RESERVED
    transaction_cancel(transaction=txn, actor=txn.buyer)
    stored = reload(txn)
    assert stored.status == S.CANCELLED
    assert stored.cancelled_at is not None
    assert stored.metadata["cancelled_by"] == "buyer"
    assert stored.listing.status == Listing.Status.ACTIVE
    assert not LedgerEntry.objects.filter(transaction=txn).exists()
    assert [entry["status"] for entry in stored.metadata["history"]] == [S.PENDING, S.CANCELLED]


def test_only_the_buyer_cancels_and_only_while_unpaid():
    txn = start()
    with pytest.raises(ServiceError):
        transaction_cancel(transaction=txn, actor=txn.seller)
    with pytest.raises(ServiceError):
        transaction_cancel(transaction=txn, actor=UserFactory())
    paid_txn = paid()
    with pytest.raises(ServiceError):
        transaction_cancel(transaction=paid_txn, actor=paid_txn.buyer)
    assert reload(paid_txn).status == S.PROCESSING


def test_payment_books_charge_and_fee_and_starts_escrow(settings):
    settings.ESCROW_RELEASE_DAYS = 3
    txn = paid(price_cents=4599)
    stored = reload(txn)
    assert stored.status == S.PROCESSING
    assert stored.listing.status == Listing.Status.RESERVED
    assert stored.escrow_release_date - timezone.now() > timedelta(days=2, hours=23)
    rows = list(LedgerEntry.objects.filter(transaction=txn).values_list("kind", "amount_cents", "currency"))
    assert sorted(rows) == sorted([(K.CHARGE, 4599, "USD"), (K.PLATFORM_FEE, 459, "USD")])


def test_payment_of_another_amount_is_refused():
    txn = start(price_cents=1000)
    with pytest.raises(ServiceError) as excinfo:
        transaction_mark_paid(transaction=txn, payment_intent_id="pi_x", charge_id="ch_x", amount_cents=999)
    assert excinfo.value.code == "amount_mismatch"
    assert reload(txn).status == S.PENDING
    assert not LedgerEntry.objects.exists()


def test_a_replayed_payment_is_booked_once():
    txn = start()
    for _ in range(2):
        transaction_mark_paid(
            transaction=txn, payment_intent_id="pi_1", charge_id="ch_1", amount_cents=txn.total_cents
        )
    assert LedgerEntry.objects.filter(transaction=txn, kind=K.CHARGE).count() == 1


def test_a_cancelled_checkout_cannot_be_paid():
    txn = start()
    transaction_cancel(transaction=txn, actor=txn.buyer)
    with pytest.raises(ServiceError):
        transaction_mark_paid(
            transaction=txn, payment_intent_id="pi_2", charge_id="ch_2", amount_cents=txn.total_cents
        )


def test_release_needs_due_escrow_then_sells_the_listing_and_books_the_transfer():
    txn = paid(price_cents=10_000)
    with pytest.raises(ServiceError) as excinfo:
        transaction_release(transaction=txn, transfer_id="tr_early")
    assert excinfo.value.code == "not_due"
    with pytest.raises(ServiceError):
        transaction_confirm_receipt(transaction=txn, actor=txn.seller)
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)
    done = transaction_release(transaction=txn, transfer_id="tr_1")
    stored = reload(done)
    assert stored.status == S.COMPLETED
    assert stored.escrow_released_at is not None and stored.completed_at == stored.escrow_released_at
    assert stored.transfer_id == "tr_1"
    assert stored.listing.status == Listing.Status.SOLD
    assert stored.listing.sold_at == stored.escrow_released_at
    assert LedgerEntry.objects.get(transaction=txn, kind=K.TRANSFER).amount_cents == 9_000


def balanced(txn) -> bool:
    t = ledger_totals(txn)
    return t[K.CHARGE] + t[K.DISPUTE_WON] == (
        (t[K.TRANSFER] - t[K.TRANSFER_REVERSAL] - t[K.SELLER_DEBT])
        + (t[K.PLATFORM_FEE] - t[K.PLATFORM_FEE_REVERSAL])
        + t[K.REFUND]
        + t[K.DISPUTE]
    )


def test_full_refund_before_release_returns_everything_and_the_listing():
    txn = paid(price_cents=10_000)
    transaction_refund(transaction=txn, amount_cents=10_000, refund_id="re_1", actor=txn.seller)
    stored = reload(txn)
    assert stored.status == S.REFUNDED
    assert stored.listing.status == Listing.Status.ACTIVE
    totals = ledger_totals(txn)
    assert totals[K.REFUND] == 10_000 and totals[K.PLATFORM_FEE_REVERSAL] == 1_000
    assert totals[K.TRANSFER_REVERSAL] == 0
    assert balanced(txn)


def test_partial_refund_before_release_comes_out_of_the_payout():
    txn = paid(price_cents=10_000)
    transaction_refund(transaction=txn, amount_cents=2_500, refund_id="re_p", actor=None)
    assert reload(txn).status == S.PROCESSING
    with pytest.raises(ServiceError):  # together more than the payout, less than everything
        transaction_refund(transaction=txn, amount_cents=7_000, refund_id="re_q", actor=None)
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)
    transaction_release(transaction=txn, transfer_id="tr_p")
    assert LedgerEntry.objects.get(transaction=txn, kind=K.TRANSFER).amount_cents == 6_500
    assert reload(txn).status == S.COMPLETED
    assert balanced(txn)


def test_refunds_after_release_reverse_the_sellers_transfer():
    txn = released(price_cents=10_000)
    transaction_refund(transaction=txn, amount_cents=1_000, refund_id="re_a", actor=txn.seller)
    assert reload(txn).status == S.COMPLETED
    assert seller_reversal_due_cents(reload(txn)) == 1_000
    assert not balanced(txn)  # the seller still holds the refunded part: reconcile reports it
    transaction_reverse_due(transaction=txn)
    transaction_reverse_due(transaction=txn)  # nothing due any more: nothing more reversed
    first = LedgerEntry.objects.get(transaction=txn, kind=K.TRANSFER_REVERSAL)
    assert (first.amount_cents, first.external_id[:8]) == (1_000, "trr_sim_")
    assert balanced(txn)

    transaction_refund(transaction=txn, amount_cents=9_000, refund_id="re_b", actor=None)
    transaction_reverse_due(transaction=txn)
    stored = reload(txn)
    assert stored.status == S.REFUNDED
    assert stored.listing.status == Listing.Status.SOLD  # after release the listing stays a record
    totals = ledger_totals(txn)
    assert totals[K.TRANSFER] == totals[K.TRANSFER_REVERSAL] == 9_000
    assert totals[K.PLATFORM_FEE_REVERSAL] == 1_000
    assert balanced(txn)
    transfer = SimulatedConnectGateway()._load("transfer", stored.transfer_id)
    assert transfer["amount_reversed_cents"] == 9_000  # the gateway moved what the ledger says


def test_a_reversal_stripe_refuses_is_booked_as_owed_by_the_seller(monkeypatch):
    txn = released(price_cents=10_000)
    transaction_refund(transaction=txn, amount_cents=10_000, refund_id="re_all", actor=None)

    def refuse(self, **kwargs):
        raise PaymentRefused("Insufficient funds in the connected account.", param="amount")

    monkeypatch.setattr(SimulatedConnectGateway, "create_transfer_reversal", refuse)
    transaction_reverse_due(transaction=txn)
    totals = ledger_totals(txn)
    assert (totals[K.SELLER_DEBT], totals[K.TRANSFER_REVERSAL]) == (9_000, 0)
    assert seller_reversal_due_cents(reload(txn)) == 0
    assert balanced(txn)


def test_a_reversal_that_cannot_reach_stripe_books_nothing_and_a_retry_completes_it(monkeypatch):
    txn = released(price_cents=10_000)
    transaction_refund(transaction=txn, amount_cents=2_000, refund_id="re_part", actor=None)
    real = SimulatedConnectGateway.create_transfer_reversal

    def down(self, **kwargs):
        raise PaymentUnavailable("Network down")

    monkeypatch.setattr(SimulatedConnectGateway, "create_transfer_reversal", down)
    with pytest.raises(PaymentUnavailable):
        transaction_reverse_due(transaction=txn)
    assert ledger_totals(txn)[K.TRANSFER_REVERSAL] == 0
    monkeypatch.setattr(SimulatedConnectGateway, "create_transfer_reversal", real)
    transaction_reverse_due(transaction=txn)
    assert ledger_totals(txn)[K.TRANSFER_REVERSAL] == 2_000
    assert balanced(txn)


def test_refund_rules():
    txn = paid(price_cents=10_000)
    for amount in (0, -1, 1.5, True):
        with pytest.raises(ServiceError):
            transaction_refund(transaction=txn, amount_cents=amount, refund_id="re_bad", actor=None)
    with pytest.raises(ServiceError):
        transaction_refund(transaction=txn, amount_cents=10_001, refund_id="re_big", actor=None)
    with pytest.raises(ServiceError):  # a stranger
        transaction_refund(transaction=txn, amount_cents=100, refund_id="re_x", actor=UserFactory())
    with pytest.raises(ServiceError):  # staff without the refund permission
        transaction_refund(transaction=txn, amount_cents=100, refund_id="re_y", actor=staff_with())
    staff = staff_with("refund_transaction")
    transaction_refund(transaction=txn, amount_cents=100, refund_id="re_s", actor=staff)
    transaction_refund(transaction=txn, amount_cents=100, refund_id="re_s", actor=staff)  # replay
    assert ledger_totals(txn)[K.REFUND] == 100
    with pytest.raises(ServiceError):
        transaction_refund(transaction=start(), amount_cents=100, refund_id="re_unpaid", actor=None)


@pytest.mark.parametrize("after_release", [False, True])
def test_dispute_won_returns_to_the_state_before(after_release):
    txn = released() if after_release else paid()
    transaction_dispute_open(transaction=txn, dispute_id="dp_1", amount_cents=txn.total_cents)
    transaction_dispute_open(transaction=txn, dispute_id="dp_1", amount_cents=txn.total_cents)  # replay
    assert reload(txn).status == S.DISPUTED
    transaction_dispute_close(transaction=txn, dispute_id="dp_1", won=True)
    stored = reload(txn)
    assert stored.status == (S.COMPLETED if after_release else S.PROCESSING)
    assert stored.listing.status == (Listing.Status.SOLD if after_release else Listing.Status.RESERVED)
    totals = ledger_totals(txn)
    assert totals[K.DISPUTE] == totals[K.DISPUTE_WON] == txn.total_cents
    transaction_dispute_close(transaction=txn, dispute_id="dp_1", won=True)  # replay: nothing
    assert ledger_totals(txn)[K.DISPUTE_WON] == txn.total_cents


@pytest.mark.parametrize("after_release", [False, True])
def test_dispute_lost_settles_like_a_refund(after_release):
    txn = released() if after_release else paid()
    transaction_dispute_open(transaction=txn, dispute_id="dp_2", amount_cents=txn.total_cents)
    transaction_dispute_close(transaction=txn, dispute_id="dp_2", won=False)
    transaction_reverse_due(transaction=txn)
    stored = reload(txn)
    assert stored.status == S.REFUNDED
    assert stored.listing.status == (Listing.Status.SOLD if after_release else Listing.Status.ACTIVE)
    totals = ledger_totals(txn)
    assert totals[K.PLATFORM_FEE_REVERSAL] == txn.platform_fee_cents
    assert totals[K.TRANSFER_REVERSAL] == (txn.seller_payout_cents if after_release else 0)
    assert balanced(txn)


def test_a_failure_inside_the_transition_rolls_back_status_ledger_and_listing(monkeypatch):
    txn = paid()
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)

    def broken(**kwargs):
        raise RuntimeError("listing write failed")

    monkeypatch.setattr("payments.services.state.listing_purchase_move", broken)
    with pytest.raises(RuntimeError):
        transaction_release(transaction=txn, transfer_id="tr_rb")
    stored = reload(txn)
    assert stored.status == S.PROCESSING and stored.escrow_released_at is None
    assert not LedgerEntry.objects.filter(transaction=txn, kind=K.TRANSFER).exists()
    assert stored.listing.status == Listing.Status.RESERVED
