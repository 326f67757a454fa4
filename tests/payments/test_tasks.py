"""The periodic payment jobs: escrow release and checkout expiry through the job queue, a
failed row shown as a failed job, and two runs at once handling each row once."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import transaction
from procrastinate.exceptions import AlreadyEnqueued

from marketplace.errors import ErrorCode, ServiceError
from payments import payouts, tasks
from payments.models import LedgerEntry, Transaction
from payments.services import sweeps
from tests.jobs import queued_jobs, run_jobs
from tests.payments.purchase_helpers import paid, reload, start
from tests.payments.test_commands import age, due, run, run_concurrently

S = Transaction.Status


@pytest.mark.django_db
def test_the_release_job_pays_due_sellers():
    ready, not_due = due(price_cents=10_000), paid()
    tasks.release_escrow.defer(timestamp=0)
    assert run_jobs() == 1
    assert reload(ready).status == S.COMPLETED
    assert reload(not_due).status == S.PROCESSING
    assert len(queued_jobs("payments.release_escrow", status="succeeded")) == 1


@pytest.mark.django_db
def test_a_release_that_fails_is_a_failed_job_and_the_other_rows_are_released(monkeypatch):
    broken, fine = due(), due()
    real = sweeps.transaction_release_due

    def refused_for_one(*, transaction, now):
        if transaction.pk == broken.pk:
            raise ServiceError("Stripe refused the transfer.", code=ErrorCode.PAYMENT_REFUSED)
        return real(transaction=transaction, now=now)

    monkeypatch.setattr(sweeps, "transaction_release_due", refused_for_one)
    tasks.release_escrow.defer(timestamp=0)
    assert run_jobs() == 1
    assert reload(fine).status == S.COMPLETED
    assert reload(broken).status == S.PROCESSING  # the next run retries it
    [failed] = queued_jobs("payments.release_escrow", status="failed")
    assert failed["timestamp"] == 0


@pytest.mark.django_db
def test_the_expiry_job_cancels_old_unpaid_checkouts(settings):
    settings.CHECKOUT_EXPIRY_MINUTES = 30
    old, fresh = start(), start()
    age(old, created_at=timedelta(minutes=31))
    tasks.expire_checkouts.defer(timestamp=0)
    assert run_jobs() == 1
    assert reload(old).status == S.CANCELLED
    assert reload(fresh).status == S.PENDING


@pytest.mark.django_db
def test_the_queueing_lock_keeps_one_waiting_run():
    tasks.expire_checkouts.defer(timestamp=1)
    with pytest.raises(AlreadyEnqueued), transaction.atomic():
        tasks.expire_checkouts.defer(timestamp=2)
    assert [job["timestamp"] for job in queued_jobs("payments.expire_checkouts")] == [1]


@pytest.mark.django_db(transaction=True)
def test_two_expiry_jobs_and_the_command_at_once_cancel_each_checkout_once():
    txns = [start() for _ in range(6)]
    for txn in txns:
        age(txn, created_at=timedelta(hours=1))
    run_concurrently(
        [
            lambda: tasks.expire_checkouts(timestamp=0),
            lambda: tasks.expire_checkouts(timestamp=0),
            lambda: run("expire_checkouts"),
        ]
    )
    assert set(Transaction.objects.values_list("status", flat=True)) == {S.CANCELLED}
    for txn in txns:
        assert [entry["status"] for entry in reload(txn).metadata["history"]] == [S.PENDING, S.CANCELLED]


@pytest.mark.usefixtures("ledger_db")
def test_two_release_jobs_at_once_transfer_once(monkeypatch):
    txns = [due() for _ in range(3)]
    calls = []
    lock = threading.Lock()

    def slow_transfer(transaction, *, amount_cents):
        with lock:
            calls.append(transaction.pk)
        time.sleep(0.2)  # hold the row while the other run looks at it
        return f"tr_{transaction.pk.hex}"

    monkeypatch.setattr(payouts, "payout_transfer", slow_transfer)
    outcomes = []
    run_concurrently([lambda: outcomes.append(tasks.release_escrow(timestamp=0)) for _ in range(2)])
    assert sorted(calls) == sorted(txn.pk for txn in txns)  # one transfer each
    assert sum(outcome["released"] for outcome in outcomes) == 3
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TRANSFER).count() == 3
