"""expire_checkouts, release_escrow and reconcile: safe to rerun and to run concurrently."""

import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from listings.models import Listing
from marketplace.errors import ServiceError
from payments import payouts
from payments.gateway import PaymentRefused, PaymentUnavailable, SimulatedConnectGateway
from payments.models import LedgerEntry, Transaction
from payments.services import (
    transaction_book_late_payment,
    transaction_cancel,
    transaction_dispute_open,
    transaction_refund,
    transaction_release_due,
    transaction_reverse_due,
)
from tests.factories import SellerFactory
from tests.payments.purchase_helpers import paid, released, reload, start

S = Transaction.Status
K = LedgerEntry.Kind


def run(name: str, *args) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out, stderr=out)
    return out.getvalue()


def run_concurrently(calls) -> None:
    barrier = threading.Barrier(len(calls), timeout=20)
    errors = []

    def worker(call):
        try:
            barrier.wait()
            call()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def age(txn, **field_ago):
    Transaction.objects.filter(pk=txn.pk).update(
        **{field: timezone.now() - delta for field, delta in field_ago.items()}
    )


def onboarded_account() -> str:
    """A simulated Connect account (the test settings have no Stripe keys) that can receive payouts."""
    gateway = SimulatedConnectGateway()
    account = gateway.create_express_account(
        email="seller@example.com", idempotency_key=f"t-{time.time_ns()}"
    )
    return gateway.complete_onboarding(account.id).id


def seller_with_payouts():
    return SellerFactory(stripe_connect_id=onboarded_account())


def due(**kwargs):
    txn = paid(seller=seller_with_payouts(), **kwargs)
    age(txn, escrow_release_date=timedelta(minutes=1))
    return txn


# --- expire_checkouts -------------------------------------------------------------------
@pytest.mark.django_db
def test_expire_checkouts_cancels_old_unpaid_ones_only(settings):
    settings.CHECKOUT_EXPIRY_MINUTES = 30
    old, fresh, paid_old = start(), start(), paid()
    age(old, created_at=timedelta(minutes=31))
    age(paid_old, created_at=timedelta(hours=2))
    assert "1 unpaid checkouts would expire" in run("expire_checkouts", "--dry-run")
    assert reload(old).status == S.PENDING
    assert "Expired 1 unpaid checkouts." in run("expire_checkouts")
    assert reload(old).status == S.CANCELLED
    assert reload(old).metadata["cancelled_by"] == "expiry"
    assert reload(old).listing.status == Listing.Status.ACTIVE
    assert reload(fresh).status == S.PENDING
    assert reload(paid_old).status == S.PROCESSING
    assert "Expired 0 unpaid checkouts." in run("expire_checkouts")


@pytest.mark.django_db(transaction=True)
def test_concurrent_expiry_runs_cancel_each_checkout_once():
    txns = [start() for _ in range(6)]
    for txn in txns:
        age(txn, created_at=timedelta(hours=1))
    outputs = []
    run_concurrently([lambda: outputs.append(run("expire_checkouts")) for _ in range(3)])
    expired = sum(int(out.split("Expired ")[1].split()[0]) for out in outputs)
    assert expired == 6
    assert set(Transaction.objects.values_list("status", flat=True)) == {S.CANCELLED}
    assert set(Listing.objects.values_list("status", flat=True)) == {Listing.Status.ACTIVE}
    for txn in txns:
        assert [entry["status"] for entry in reload(txn).metadata["history"]] == [S.PENDING, S.CANCELLED]


# --- release_escrow ---------------------------------------------------------------------
@pytest.mark.django_db
def test_release_escrow_pays_due_sellers_and_sells_the_listing():
    ready, not_due = due(price_cents=10_000), paid(seller=seller_with_payouts())
    out = run("release_escrow")
    assert "Released 1" in out
    stored = reload(ready)
    assert stored.status == S.COMPLETED
    assert stored.transfer_id.startswith("tr_sim_")
    assert stored.listing.status == Listing.Status.SOLD
    transfer = LedgerEntry.objects.get(transaction=ready, kind=K.TRANSFER)
    assert (transfer.amount_cents, transfer.external_id) == (9_000, stored.transfer_id)
    assert reload(not_due).status == S.PROCESSING
    assert "Released 0" in run("release_escrow")  # twice: nothing more
    assert LedgerEntry.objects.filter(kind=K.TRANSFER).count() == 1


@pytest.mark.django_db
def test_sellers_without_a_payout_account_wait():
    txn = paid()
    age(txn, escrow_release_date=timedelta(days=1))
    assert "waiting for the seller's payout account 1" in run("release_escrow")
    assert reload(txn).status == S.PROCESSING
    assert not LedgerEntry.objects.filter(kind=K.TRANSFER).exists()
    txn.seller.stripe_connect_id = onboarded_account()
    txn.seller.save(update_fields=["stripe_connect_id"])
    assert "Released 1" in run("release_escrow")


@pytest.mark.django_db
def test_a_payout_error_changes_nothing_and_a_rerun_completes(monkeypatch):
    txn = due()
    real = payouts.payout_transfer

    def failing(transaction, *, amount_cents):
        raise ConnectionError("Stripe is down")

    monkeypatch.setattr(payouts, "payout_transfer", failing)
    with pytest.raises(CommandError):
        run("release_escrow")
    assert reload(txn).status == S.PROCESSING
    assert not LedgerEntry.objects.filter(kind=K.TRANSFER).exists()
    monkeypatch.setattr(payouts, "payout_transfer", real)
    assert "Released 1" in run("release_escrow")
    assert reload(txn).status == S.COMPLETED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PaymentUnavailable("connection refused"), "payment_unavailable"),
        (PaymentRefused("insufficient platform balance"), "payment_refused"),
    ],
)
def test_a_gateway_error_at_release_is_a_service_error_and_changes_nothing(monkeypatch, error, code):
    txn = due()

    def failing(transaction, *, amount_cents):
        raise error

    monkeypatch.setattr(payouts, "payout_transfer", failing)
    with pytest.raises(ServiceError) as refused:
        transaction_release_due(transaction=txn)
    assert refused.value.code == code
    assert error.message in refused.value.message
    assert reload(txn).status == S.PROCESSING
    assert reload(txn).escrow_released_at is None
    assert (
        not LedgerEntry.objects.filter(transaction=txn).exclude(kind__in=[K.CHARGE, K.PLATFORM_FEE]).exists()
    )
    with pytest.raises(CommandError):
        run("release_escrow")


@pytest.mark.usefixtures("ledger_db")
def test_concurrent_release_runs_transfer_once(monkeypatch):
    txns = [due() for _ in range(3)]
    calls = []
    lock = threading.Lock()

    def slow_transfer(transaction, *, amount_cents):
        with lock:
            calls.append(transaction.pk)
        time.sleep(0.2)  # hold the row while the other runs look at it
        return f"tr_{transaction.pk.hex}"

    monkeypatch.setattr(payouts, "payout_transfer", slow_transfer)
    run_concurrently([lambda: run("release_escrow") for _ in range(4)])
    assert sorted(calls) == sorted(txn.pk for txn in txns)  # one transfer each
    assert LedgerEntry.objects.filter(kind=K.TRANSFER).count() == 3
    assert set(Transaction.objects.values_list("status", flat=True)) == {S.COMPLETED}
    run("release_escrow")
    assert len(calls) == 3


# --- reconcile --------------------------------------------------------------------------
def every_kind_of_transaction():
    start()  # pending
    paid()  # processing
    released()  # completed
    partly = paid(price_cents=10_000)
    transaction_refund(transaction=partly, amount_cents=500, refund_id="re_part", actor=None)
    refunded = released(price_cents=10_000)
    transaction_refund(transaction=refunded, amount_cents=300, refund_id="re_1", actor=None)
    transaction_refund(transaction=refunded, amount_cents=9_700, refund_id="re_2", actor=None)
    transaction_reverse_due(transaction=refunded)
    disputed = paid()
    transaction_dispute_open(transaction=disputed, dispute_id="dp_1", amount_cents=disputed.total_cents)
    return refunded


@pytest.mark.django_db
def test_reconcile_passes_when_the_ledger_adds_up():
    every_kind_of_transaction()
    out = run("reconcile")
    assert "6 transactions checked (1 completed)" in out
    assert "Every transaction reconciles" in out


@pytest.mark.django_db
@pytest.mark.parametrize(
    "corrupt",
    [
        lambda txn: LedgerEntry.objects.create(
            transaction=txn, kind=K.TRANSFER, amount_cents=1, currency="USD"
        ),
        lambda txn: LedgerEntry.objects.create(
            transaction=txn, kind=K.REFUND, amount_cents=1, currency="USD"
        ),
        lambda txn: LedgerEntry.objects.create(
            transaction=txn, kind=K.CHARGE, amount_cents=5, currency="EUR"
        ),
    ],
    ids=["extra-transfer", "extra-refund", "wrong-currency"],
)
def test_reconcile_fails_on_a_corrupted_ledger(corrupt):
    refunded = every_kind_of_transaction()
    corrupt(refunded)
    out = StringIO()
    with pytest.raises(CommandError, match="1 transactions do not reconcile"):
        call_command("reconcile", stdout=out)
    assert f"OFF {refunded.pk} refunded" in out.getvalue()


@pytest.mark.django_db
def test_reconcile_reports_a_refund_after_release_until_the_transfer_is_pulled_back():
    txn = released(price_cents=10_000)
    transaction_refund(transaction=txn, amount_cents=1_000, refund_id="re_late", actor=None)
    out = StringIO()
    with pytest.raises(CommandError, match="1 transactions do not reconcile"):
        call_command("reconcile", stdout=out)
    assert f"OFF {txn.pk} completed" in out.getvalue()
    transaction_reverse_due(transaction=txn)
    assert "Every transaction reconciles" in run("reconcile")


@pytest.mark.django_db
def test_reconcile_accepts_what_the_seller_owes_and_says_so(monkeypatch):
    txn = released(price_cents=10_000)
    transaction_refund(transaction=txn, amount_cents=10_000, refund_id="re_all", actor=None)

    def refuse(self, **kwargs):
        raise PaymentRefused("Insufficient funds.", param="amount")

    monkeypatch.setattr(SimulatedConnectGateway, "create_transfer_reversal", refuse)
    transaction_reverse_due(transaction=txn)
    out = run("reconcile")
    assert f"Sellers owe {txn.seller_payout_cents} (minor units) on 1 transactions" in out
    assert "Every transaction reconciles" in out


@pytest.mark.django_db
def test_reconcile_accepts_a_late_payment_refunded_on_a_cancelled_purchase():
    txn = start()
    transaction_cancel(transaction=txn, actor=txn.buyer)
    transaction_book_late_payment(
        transaction=txn, charge_id="ch_late", amount_cents=txn.total_cents, refund_id="re_late"
    )
    assert "Every transaction reconciles" in run("reconcile")
    # Half refunded would not add up.
    other = start()
    transaction_cancel(transaction=other, actor=other.buyer)
    LedgerEntry.objects.create(
        transaction=other, kind=K.CHARGE, amount_cents=other.total_cents, currency="USD"
    )
    with pytest.raises(CommandError):
        run("reconcile")


@pytest.mark.django_db
def test_reconcile_fails_on_money_without_a_status():
    txn = start()
    LedgerEntry.objects.create(transaction=txn, kind=K.CHARGE, amount_cents=txn.total_cents, currency="USD")
    with pytest.raises(CommandError):
        run("reconcile")


@pytest.mark.django_db
def test_reconcile_lists_stuck_transactions(settings):
    settings.TRANSACTION_STUCK_HOURS = 48
    pending, overdue, fine = start(), paid(), paid()
    age(pending, created_at=timedelta(hours=49))
    age(overdue, escrow_release_date=timedelta(hours=49))
    age(fine, escrow_release_date=timedelta(hours=47))
    out = StringIO()
    with pytest.raises(CommandError, match="2 are stuck"):
        call_command("reconcile", stdout=out)
    text = out.getvalue()
    assert f"STUCK {pending.pk} pending" in text
    assert f"STUCK {overdue.pk} processing" in text
    assert str(fine.pk) not in text
