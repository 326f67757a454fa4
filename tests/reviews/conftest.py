"""Purchases at each stage a review cares about, and a recorder for the reviews hooks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Transaction
from reviews import hooks
from reviews.models import Review, ReviewFlag
from tests.factories import TransactionFactory


def completed_purchase(*, days_ago: float = 0, **kwargs) -> Transaction:
    """Escrow released ``days_ago`` days ago."""
    at = timezone.now() - timedelta(days=days_ago)
    return TransactionFactory(**{"status": Transaction.Status.COMPLETED, "completed_at": at, **kwargs})


def receipt_confirmed_purchase(*, days_ago: float = 0, **kwargs) -> Transaction:
    """Paid, in escrow, receipt confirmed ``days_ago`` days ago."""
    at = timezone.now() - timedelta(days=days_ago)
    return TransactionFactory(
        status=Transaction.Status.PROCESSING,
        completed_at=None,
        metadata={"receipt_confirmed_at": at.isoformat()},
        **kwargs,
    )


def paid_purchase(**kwargs) -> Transaction:
    """Paid, in escrow (its listing reserved), receipt not confirmed: not reviewable yet."""
    return TransactionFactory(
        status=Transaction.Status.PROCESSING, completed_at=None, listing__status="reserved", **kwargs
    )


def written() -> tuple:
    """What a refused call must leave as it was: every review, flag, response and rating."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(row(seller_rating_sum, buyer_rating_sum, seller_rating_count,"
            " buyer_rating_count, seller_rating_distribution, buyer_rating_distribution)::text"
            " ORDER BY id) FROM accounts_user"
        )
        ratings = cursor.fetchone()[0]
    return (
        sorted(
            Review.objects.values_list(
                "id", "rating", "title", "comment", "response", "published_at", "status"
            )
        ),
        ReviewFlag.objects.count(),
        ratings,
    )


class HookRecorder:
    def __init__(self):
        self.calls: list[tuple] = []

    def of(self, name: str) -> list[tuple]:
        return [args for hook, args in self.calls if hook == name]


@pytest.fixture
def hook_calls():
    """Every call of the reviews hooks during the test, as (hook name, args)."""
    recorder = HookRecorder()
    subscribed = []
    for name in ("review_requested", "review_received", "review_responded"):
        hook = getattr(hooks, name)

        def record(*args, _name=name):
            recorder.calls.append((_name, args))

        hook.subscribe(record)
        subscribed.append((hook, record))
    yield recorder
    for hook, record in subscribed:
        hook.subscribers.remove(record)
