"""``payments.ledger``: the writer's rules, and each figure of ``transaction_figures`` through a
purchase's life (refund limits, payout due, the seller's share, the reversal due)."""

import pytest

from marketplace.errors import ErrorCode, ServiceError
from payments.ledger import (
    FIGURES,
    PAID_OUT,
    SELLER_HOLDS,
    ledger_write,
    require_positive_cents,
    transaction_figures,
)
from payments.models import LedgerEntry, Transaction
from payments.services import (
    SYSTEM,
    payout_due_cents,
    refund_amount_check,
    seller_reversal_due_cents,
    transaction_dispute_close,
    transaction_dispute_open,
    transaction_refund,
)
from tests.payments.purchase_helpers import paid, released, reload, start

pytestmark = pytest.mark.django_db

K = LedgerEntry.Kind
S = Transaction.Status


@pytest.mark.parametrize("bad", [0, -1, 1.5, "100", None, True])
def test_amounts_must_be_positive_integers_of_minor_units(bad):
    with pytest.raises(ServiceError) as excinfo:
        require_positive_cents(bad, "refund")
    assert excinfo.value.code == ErrorCode.INVALID
    assert "positive amount in minor units" in excinfo.value.message


def test_the_writer_refuses_a_negative_amount_and_skips_zero():
    txn = start()
    with pytest.raises(ValueError, match="positive"):
        ledger_write(txn, [(K.CHARGE, -100, "ch_negative")])
    ledger_write(txn, [(K.PLATFORM_FEE, 0, "")])
    assert not LedgerEntry.objects.filter(transaction=txn).exists()


def test_each_kind_is_counted_by_some_figure_and_paid_out_differs_from_holds_by_debt_only():
    counted = {kind for figure in FIGURES for kind in figure.kinds}
    assert counted == set(K.values)
    assert set(SELLER_HOLDS.minus) - set(PAID_OUT.minus) == {K.SELLER_DEBT}


def test_figures_of_a_paid_purchase_with_a_partial_refund():
    txn = paid(price_cents=10_000)  # fee 1_000, payout 9_000
    transaction_refund(transaction=txn, amount_cents=2_500, refund_id="re_f", actor=SYSTEM)
    figures = transaction_figures(reload(txn))
    assert (figures.paid, figures.platform_fee, figures.refunded) == (10_000, 1_000, 2_500)
    assert (figures.refund_remaining, figures.refund_partial_max) == (7_500, 6_500)
    assert figures.payout_due == figures.seller_share == payout_due_cents(txn) == 6_500
    assert (figures.paid_out, figures.seller_debt, figures.reversal_due) == (0, 0, 0)
    assert not figures.refunded_in_full


def test_refund_limits_are_the_figures():
    txn = reload(paid(price_cents=10_000))
    with pytest.raises(ServiceError) as excinfo:
        refund_amount_check(txn, 10_001)
    assert excinfo.value.code == ErrorCode.TOO_MUCH
    with pytest.raises(ServiceError) as excinfo:
        refund_amount_check(txn, 9_001)  # partial, beyond the seller's payout
    assert excinfo.value.code == ErrorCode.TOO_MUCH
    assert refund_amount_check(txn, 9_000) is False
    assert refund_amount_check(txn, 10_000) is True  # everything that remains: in full


def test_after_release_a_refund_is_due_back_from_the_seller():
    txn = released(price_cents=10_000)
    transaction_refund(transaction=txn, amount_cents=2_000, refund_id="re_r", actor=SYSTEM)
    figures = transaction_figures(reload(txn))
    assert (figures.paid_out, figures.seller_share, figures.reversal_due) == (9_000, 7_000, 2_000)
    assert seller_reversal_due_cents(reload(txn)) == 2_000


def test_a_lost_dispute_is_refunded_in_full_and_leaves_the_seller_no_share():
    txn = paid(price_cents=10_000)
    transaction_dispute_open(transaction=txn, dispute_id="dp_f", amount_cents=10_000)
    transaction_dispute_close(transaction=txn, dispute_id="dp_f", won=False)
    figures = transaction_figures(reload(txn))
    assert reload(txn).status == S.REFUNDED
    assert figures.refunded_in_full and figures.seller_share == 0
    assert (figures.disputed, figures.platform_fee, figures.platform_fee_returned) == (10_000, 0, 1_000)
