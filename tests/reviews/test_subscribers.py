"""review_requested: once per party when a purchase becomes reviewable (receipt confirmed or escrow
released, whichever first), through the real payments services; never on a rollback. A ban
retires the cached pages of the sellers the banned member reviewed."""

import pytest
from django.db import transaction as db_transaction

from accounts.services import user_ban
from payments.models import Transaction
from payments.services import transaction_confirm_receipt, transaction_release
from reviews import subscribers
from tests.factories import ReviewFactory, UserFactory
from tests.reviews.conftest import paid_purchase

pytestmark = pytest.mark.django_db


def requested(hook_calls) -> list[tuple]:
    return [(txn.pk, user.pk) for txn, user in hook_calls.of("review_requested")]


def test_receipt_confirmation_then_release_requests_each_party_once(
    hook_calls, django_capture_on_commit_callbacks
):
    txn = paid_purchase()
    with django_capture_on_commit_callbacks(execute=True):
        transaction_confirm_receipt(transaction=txn, actor=txn.buyer)
    assert sorted(requested(hook_calls), key=str) == sorted(
        [(txn.pk, txn.buyer_id), (txn.pk, txn.seller_id)], key=str
    )

    with django_capture_on_commit_callbacks(execute=True):
        transaction_release(transaction=Transaction.objects.get(pk=txn.pk), transfer_id="tr_test")
    assert len(requested(hook_calls)) == 2  # not asked again at release


def test_release_without_confirmation_requests_each_party_once(
    hook_calls, django_capture_on_commit_callbacks
):
    txn = paid_purchase()
    Transaction.objects.filter(pk=txn.pk).update(escrow_release_date=txn.created_at)
    with django_capture_on_commit_callbacks(execute=True):
        transaction_release(transaction=Transaction.objects.get(pk=txn.pk), transfer_id="tr_test")
    assert sorted(requested(hook_calls), key=str) == sorted(
        [(txn.pk, txn.buyer_id), (txn.pk, txn.seller_id)], key=str
    )


def test_a_rolled_back_confirmation_requests_nothing(hook_calls, django_capture_on_commit_callbacks):
    txn = paid_purchase()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        db_transaction.atomic(),
    ):
        transaction_confirm_receipt(transaction=txn, actor=txn.buyer)
        raise RuntimeError("rolled back")
    assert requested(hook_calls) == []


def test_a_ban_retires_the_pages_of_the_reviewed_sellers(monkeypatch, django_capture_on_commit_callbacks):
    bumped = []
    monkeypatch.setattr(subscribers, "seller_changed", bumped.append)
    review = ReviewFactory()
    admin = UserFactory(is_staff=True, is_superuser=True)
    with django_capture_on_commit_callbacks(execute=True):
        user_ban(user=review.reviewer, actor=admin, reason="Fraud")
    assert bumped == [review.reviewee_id]
