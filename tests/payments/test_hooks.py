"""Each committed purchase event calls its hook once: receipts and notices go out after the
commit, never for a change that rolled back, and a failing hook never undoes a payment."""

import pytest
from django.core import mail

from payments import emails, hooks
from payments.services import (
    transaction_cancel,
    transaction_confirm_receipt,
    transaction_dispute_close,
    transaction_dispute_open,
    transaction_mark_paid,
    transaction_refund,
)
from tests.jobs import run_jobs
from tests.payments.purchase_helpers import next_id, paid, release, reload, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(monkeypatch):
    """Every hook replaced by a recorder: (hook name, transaction id, extra arguments)."""
    seen = []
    for name in (
        "order_paid",
        "order_cancelled",
        "order_receipt_confirmed",
        "order_completed",
        "order_refunded",
        "order_disputed",
        "order_dispute_closed",
    ):
        monkeypatch.setattr(hooks, name, lambda txn, *args, name=name: seen.append((name, txn.pk, args)))
    return seen


def test_one_hook_per_event_after_the_commit(calls, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        txn = paid(price_cents=10_000)
    with django_capture_on_commit_callbacks(execute=True):
        transaction_refund(transaction=txn, amount_cents=1_000, refund_id="re_1", actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        transaction_dispute_open(transaction=txn, dispute_id="dp_1", amount_cents=9_000)
    with django_capture_on_commit_callbacks(execute=True):
        transaction_dispute_close(transaction=txn, dispute_id="dp_1", won=True)
    with django_capture_on_commit_callbacks(execute=True):
        release(txn)
    other = start()
    with django_capture_on_commit_callbacks(execute=True):
        transaction_cancel(transaction=other, actor=other.buyer)
    assert calls == [
        ("order_paid", txn.pk, ()),
        ("order_refunded", txn.pk, (1_000,)),
        ("order_disputed", txn.pk, ()),
        ("order_dispute_closed", txn.pk, (True,)),
        ("order_receipt_confirmed", txn.pk, ()),
        ("order_completed", txn.pk, ()),
        ("order_cancelled", other.pk, ()),
    ]


def test_a_replayed_event_calls_no_hook_again(calls, django_capture_on_commit_callbacks):
    txn = start()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            transaction_mark_paid(
                transaction=txn,
                payment_intent_id="pi_once",
                charge_id="ch_once",
                amount_cents=txn.total_cents,
            )
    assert calls == [("order_paid", txn.pk, ())]


def test_a_change_that_rolls_back_calls_no_hook(calls, django_capture_on_commit_callbacks, monkeypatch):
    txn = start()
    monkeypatch.setattr("payments.ledger.ledger_write", lambda *args: 1 / 0)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ZeroDivisionError):
        transaction_mark_paid(
            transaction=txn,
            payment_intent_id=next_id("pi"),
            charge_id=next_id("ch"),
            amount_cents=txn.total_cents,
        )
    assert calls == []
    assert reload(txn).status == "pending"


def test_paying_sends_the_receipt_and_the_sale_notice(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        txn = paid(price_cents=3_900)
    run_jobs()
    assert sorted(message.to[0] for message in mail.outbox) == sorted([txn.buyer.email, txn.seller.email])
    receipt = next(message for message in mail.outbox if message.to == [txn.buyer.email])
    assert "$39.00" in receipt.body


def test_a_failing_email_does_not_undo_the_payment(monkeypatch, django_capture_on_commit_callbacks, caplog):
    def mail_server_down(txn, **kwargs):
        raise ConnectionRefusedError("SMTP down")

    monkeypatch.setattr(emails, "send_order_receipt", mail_server_down)
    with django_capture_on_commit_callbacks(execute=True):
        txn = paid()
    assert reload(txn).status == "processing"
    assert "SMTP down" in caplog.text
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)  # the purchase goes on
