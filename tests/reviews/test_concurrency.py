"""Real concurrent connections: both parties submitting at the same instant publish both reviews
exactly once; two publish_due_reviews runs at once publish each review once; a ban racing a
publication leaves the ratings exact."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import AccountStatus, User
from marketplace import counters
from reviews import hooks, services
from reviews.models import Review
from tests.factories import UserFactory
from tests.reviews.conftest import completed_purchase

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(*calls, timeout: float = 30) -> list:
    """Start every call at the same barrier, each in its own thread (own connection); return
    their results or exceptions in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except BaseException as error:  # reported by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results


@pytest.fixture
def received():
    calls = []

    def record(review):
        calls.append(review.pk)

    hooks.review_received.subscribe(record)
    yield calls
    hooks.review_received.subscribers.remove(record)


@pytest.mark.parametrize("attempt", range(3))
def test_both_parties_submitting_at_once_publish_both_exactly_once(received, attempt):
    txn = completed_purchase()
    buyer, seller = txn.buyer, txn.seller
    results = run_together(
        lambda: services.review_submit(transaction=txn, author=buyer, rating=4),
        lambda: services.review_submit(transaction=txn, author=seller, rating=2),
    )
    assert all(isinstance(result, Review) for result in results), results
    reviews = list(Review.objects.filter(transaction=txn))
    assert len(reviews) == 2
    assert all(review.published_at is not None for review in reviews)
    assert reviews[0].published_at == reviews[1].published_at
    assert sorted(map(str, received)) == sorted(str(review.pk) for review in reviews)
    seller.refresh_from_db()
    buyer.refresh_from_db()
    assert (seller.seller_rating_count, seller.seller_rating_sum) == (1, 4)
    assert (buyer.buyer_rating_count, buyer.buyer_rating_sum) == (1, 2)
    assert counters.repair_user_ratings(dry_run=True) == 0


def test_the_same_party_submitting_twice_at_once_writes_one_review():
    txn = completed_purchase()
    results = run_together(
        lambda: services.review_submit(transaction=txn, author=txn.buyer, rating=4),
        lambda: services.review_submit(transaction=txn, author=txn.buyer, rating=1),
    )
    errors = [r for r in results if isinstance(r, services.ServiceError)]
    assert len(errors) == 1 and errors[0].code == "already_reviewed"
    assert Review.objects.filter(transaction=txn).count() == 1


def publish_command() -> str:
    out = StringIO()
    call_command("publish_due_reviews", stdout=out)
    return out.getvalue()


def test_two_publish_runs_at_once_publish_each_review_once(received):
    for _ in range(6):
        txn = completed_purchase(days_ago=20)
        # Written inside the window, which has closed since.
        Review.objects.create(
            transaction=txn,
            listing=txn.listing,
            reviewer=txn.buyer,
            reviewee=txn.seller,
            reviewer_type="buyer",
            rating=3,
            window_closes_at=txn.completed_at + timedelta(days=14),
        )
    outputs = run_together(publish_command, publish_command)
    assert all(isinstance(output, str) for output in outputs), outputs
    assert not Review.objects.filter(published_at__isnull=True).exists()
    assert len(received) == 6
    assert len(set(received)) == 6
    assert counters.repair_user_ratings(dry_run=True) == 0
    # And once more: nothing left to do.
    assert "Published 0 reviews." in publish_command()


def test_publish_command_dry_run_changes_nothing():
    txn = completed_purchase(days_ago=20)
    Review.objects.create(
        transaction=txn,
        listing=txn.listing,
        reviewer=txn.buyer,
        reviewee=txn.seller,
        reviewer_type="buyer",
        rating=3,
        window_closes_at=txn.completed_at,
    )
    out = StringIO()
    call_command("publish_due_reviews", "--dry-run", stdout=out)
    assert "1 review due" in out.getvalue()
    assert Review.objects.filter(published_at__isnull=True).count() == 1


def test_a_second_run_while_one_holds_the_lock_does_nothing():
    from reviews.management.commands.publish_due_reviews import ADVISORY_LOCK_KEY

    txn = completed_purchase(days_ago=20)
    Review.objects.create(
        transaction=txn,
        listing=txn.listing,
        reviewer=txn.buyer,
        reviewee=txn.seller,
        reviewer_type="buyer",
        rating=3,
        window_closes_at=txn.completed_at,
    )
    holder_ready, release = threading.Event(), threading.Event()

    def hold():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
                holder_ready.set()
                release.wait(10)
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert holder_ready.wait(10)
    try:
        assert "in progress" in publish_command()
        assert Review.objects.filter(published_at__isnull=True).count() == 1
    finally:
        release.set()
        thread.join(10)
    assert "Published 1 review." in publish_command()


@pytest.mark.parametrize("attempt", range(3))
def test_a_ban_racing_the_publication_leaves_the_ratings_exact(attempt):
    txn = completed_purchase()
    services.review_submit(transaction=txn, author=txn.buyer, rating=5)
    admin = UserFactory(is_staff=True, is_superuser=True)
    from accounts.services import user_ban

    results = run_together(
        lambda: services.review_submit(transaction=txn, author=txn.seller, rating=3),
        lambda: user_ban(user=User.objects.get(pk=txn.buyer_id), actor=admin, reason="Fraud"),
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert User.objects.get(pk=txn.buyer_id).account_status == AccountStatus.BANNED
    seller = User.objects.get(pk=txn.seller_id)
    assert seller.seller_rating_count == 0  # the banned buyer's review does not count
    assert counters.repair_user_ratings(dry_run=True) == 0
