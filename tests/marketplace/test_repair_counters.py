"""``manage.py repair_counters`` and ``marketplace.counters``: find and fix drifted counters."""

import threading
import time
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from marketplace import counters
from reviews.models import Review, ReviewFlag
from tests.factories import (
    ConversationFactory,
    FavoriteFactory,
    ListingFactory,
    MessageFactory,
    ReviewFactory,
    TransactionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

T0 = datetime.fromisoformat("2024-05-01T12:00:00+00:00")


def run(*args) -> str:
    out = StringIO()
    call_command("repair_counters", *args, stdout=out)
    return out.getvalue()


def fetch(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def snapshot() -> dict[str, list[tuple]]:
    """Every counter column of every row, to show a dry run changes nothing."""
    return {
        "listings": fetch("SELECT id, favorite_count, inquiry_count FROM listings_listing ORDER BY id"),
        "users": fetch(
            "SELECT id, seller_rating, seller_rating_sum, seller_rating_count, buyer_rating,"
            " buyer_rating_sum, buyer_rating_count, total_sales_count FROM accounts_user ORDER BY id"
        ),
        "conversations": fetch("SELECT id, last_message_at FROM messaging_conversation ORDER BY id"),
        "reviews": fetch("SELECT id, flag_count FROM reviews_review ORDER BY id"),
    }


@pytest.fixture
def marketplace_data():
    """A little of everything, with the counters as the triggers left them (correct)."""
    listing = ListingFactory()
    seller = listing.seller
    FavoriteFactory(listing=listing)
    FavoriteFactory(listing=listing)
    FavoriteFactory()
    conversation = ConversationFactory(listing=listing)
    MessageFactory(conversation=conversation, created_at=T0)
    MessageFactory(conversation=conversation, created_at=T0 + timedelta(minutes=3))
    ConversationFactory(listing=None)  # no messages: last_message_at stays NULL
    for rating in (5, 4, 4):
        ReviewFactory(transaction=TransactionFactory(listing=ListingFactory(seller=seller)), rating=rating)
    ReviewFactory(rating=1, status=Review.Status.FLAGGED)
    purchase = TransactionFactory()
    ReviewFactory(
        transaction=purchase,
        reviewer=purchase.seller,
        reviewee=purchase.buyer,
        reviewer_type=Review.ReviewerType.SELLER,
        rating=2,
    )
    TransactionFactory(listing=ListingFactory(seller=seller), status="pending")
    ReviewFlag.objects.create(review=ReviewFactory(rating=3), member=UserFactory(), reason="spam")
    return {"listing": listing, "seller": seller, "conversation": conversation, "buyer": purchase.buyer}


def test_correct_counters_are_reported_as_correct(marketplace_data):
    assert counters.counters_repair(dry_run=True) == dict.fromkeys(counters.COUNTERS, 0)
    output = run("--dry-run")
    assert "All counters are correct." in output
    assert output.count(": ok") == len(counters.COUNTERS)
    assert counters.counters_repair() == dict.fromkeys(counters.COUNTERS, 0)


CORRUPTIONS = {
    # label: (SQL setting wrong values on marketplace_data rows, repair function)
    "listing favorite_count": (
        "UPDATE listings_listing SET favorite_count = favorite_count + 5",
        counters.repair_listing_favorite_count,
    ),
    "listing inquiry_count": (
        "UPDATE listings_listing SET inquiry_count = 7 WHERE inquiry_count = 0",
        counters.repair_listing_inquiry_count,
    ),
    "user seller/buyer ratings": (
        "UPDATE accounts_user SET seller_rating = 1, seller_rating_sum = 1, seller_rating_count = 1"
        " WHERE seller_rating IS NULL;"
        " UPDATE accounts_user SET buyer_rating_count = buyer_rating_count + 1"
        " WHERE buyer_rating IS NOT NULL;"
        " UPDATE accounts_user SET seller_rating = 4.34 WHERE seller_rating = 4.33",
        counters.repair_user_ratings,
    ),
    "review flag_count": (
        "UPDATE reviews_review SET flag_count = flag_count + 2",
        counters.repair_review_flag_count,
    ),
    "user total_sales_count": (
        "UPDATE accounts_user SET total_sales_count = 0 WHERE total_sales_count > 0",
        counters.repair_user_total_sales_count,
    ),
    "conversation last_message_at": (
        "UPDATE messaging_conversation"
        " SET last_message_at = CASE WHEN last_message_at IS NULL THEN %s::timestamptz END",
        counters.repair_conversation_last_message_at,
    ),
}


@pytest.mark.parametrize("label", CORRUPTIONS)
def test_a_corrupted_counter_is_reported_by_a_dry_run_and_fixed_by_a_run(marketplace_data, label):
    sql, repair = CORRUPTIONS[label]
    correct = snapshot()
    execute(sql, [T0] if "%s" in sql else [])
    corrupted = snapshot()
    assert corrupted != correct

    wrong = repair(dry_run=True)
    assert wrong > 0
    assert snapshot() == corrupted

    with pytest.raises(CommandError, match=f"{wrong} rows have wrong counters"):
        run("--dry-run")
    assert snapshot() == corrupted

    output = run()
    assert f"{label}: {wrong} rows wrong, fixed" in output
    assert f"Fixed {wrong} rows." in output
    assert snapshot() == correct

    assert counters.counters_repair(dry_run=True) == dict.fromkeys(counters.COUNTERS, 0)
    assert "All counters are correct." in run()


def test_every_counter_corrupted_at_once(marketplace_data):
    correct = snapshot()
    for sql, _repair in CORRUPTIONS.values():
        execute(sql, [T0] if "%s" in sql else [])

    found = counters.counters_repair(dry_run=True)
    assert all(found.values()), found

    assert counters.counters_repair() == found
    assert snapshot() == correct
    assert counters.counters_repair() == dict.fromkeys(counters.COUNTERS, 0)


def test_the_exact_values_written(marketplace_data):
    listing, seller, buyer = (marketplace_data[k] for k in ("listing", "seller", "buyer"))
    execute(
        "UPDATE accounts_user SET seller_rating = NULL, seller_rating_sum = 0, seller_rating_count = 0,"
        " total_sales_count = 99 WHERE id = %s",
        [seller.pk],
    )
    execute(
        "UPDATE accounts_user SET buyer_rating = NULL, buyer_rating_sum = 0, buyer_rating_count = 0"
        " WHERE id = %s",
        [buyer.pk],
    )
    execute("UPDATE listings_listing SET favorite_count = 0, inquiry_count = 0 WHERE id = %s", [listing.pk])
    execute("UPDATE messaging_conversation SET last_message_at = NULL")

    counters.counters_repair()

    assert fetch(
        "SELECT seller_rating::text, seller_rating_sum, seller_rating_count, total_sales_count"
        " FROM accounts_user WHERE id = %s",
        [seller.pk],
    ) == [("4.33", 13, 3, 3)]
    assert fetch(
        "SELECT buyer_rating::text, buyer_rating_sum, buyer_rating_count FROM accounts_user WHERE id = %s",
        [buyer.pk],
    ) == [("2.00", 2, 1)]
    assert fetch(
        "SELECT favorite_count, inquiry_count FROM listings_listing WHERE id = %s", [listing.pk]
    ) == [(2, 1)]
    assert fetch(
        "SELECT last_message_at FROM messaging_conversation WHERE id = %s",
        [marketplace_data["conversation"].pk],
    ) == [(T0 + timedelta(minutes=3),)]


def test_a_repair_fires_no_counting_trigger(marketplace_data):
    """Writing counter columns must not move other counters (only updated_at)."""
    execute("UPDATE listings_listing SET favorite_count = 50, inquiry_count = 50")
    execute("UPDATE messaging_conversation SET last_message_at = NULL")
    execute(
        "UPDATE accounts_user SET total_sales_count = 50, seller_rating_count = 50, seller_rating_sum = 50"
    )

    counters.counters_repair()

    assert counters.counters_repair(dry_run=True) == dict.fromkeys(counters.COUNTERS, 0)


def test_a_second_run_at_once_is_refused():
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [counters.ADVISORY_LOCK_KEY])
        with pytest.raises(CommandError, match="Another counter repair is running"):
            run()
        # A dry run writes nothing and needs no lock.
        assert "All counters are correct." in run("--dry-run")
    finally:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [counters.ADVISORY_LOCK_KEY])
        other.close()

    assert "All counters are correct." in run()


def test_the_lock_is_released_after_a_run():
    def held() -> bool:
        key = counters.ADVISORY_LOCK_KEY
        return fetch(
            "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            " AND classid::bigint = %s AND objid::bigint = %s",
            [key >> 32, key & 0xFFFFFFFF],
        )[0][0]

    with counters.repair_lock():
        assert held()
    assert not held()
    run()
    assert not held()


@pytest.mark.django_db(transaction=True)
def test_a_repair_during_a_concurrent_favorite_counts_it():
    """The repair waits for the writer holding the listing row and recounts after it commits."""
    listing = ListingFactory()
    FavoriteFactory(listing=listing)
    execute("UPDATE listings_listing SET favorite_count = 40 WHERE id = %s", [listing.pk])
    holding, repairing = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def favorite_slowly():
        try:
            with transaction.atomic():
                FavoriteFactory(listing=listing)  # its trigger now holds the listing row
                holding.set()
                repairing.wait(timeout=10)
                time.sleep(0.5)  # the repair is now waiting for the row
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=favorite_slowly)
    writer.start()
    assert holding.wait(timeout=10)
    repairing.set()
    assert counters.repair_listing_favorite_count() == 1
    writer.join(timeout=30)

    assert not errors
    assert fetch("SELECT favorite_count FROM listings_listing WHERE id = %s", [listing.pk]) == [(2,)]
    assert counters.repair_listing_favorite_count(dry_run=True) == 0
