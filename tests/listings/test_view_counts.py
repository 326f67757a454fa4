"""Views are counted in Redis (no write per view) and flushed to view_count in batches:
nothing lost, nothing counted twice, under concurrent views and concurrent flushes."""

import threading

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_redis import get_redis_connection

from listings import view_counts
from listings.models import Listing
from listings.view_counts import (
    PROCESSING_INFIX,
    TXID_FIELD,
    VIEWS_KEY,
    listing_view_record,
    view_counts_flush,
    view_counts_pending,
)
from tests.factories import ListingFactory, UserFactory

pytestmark = pytest.mark.django_db

redis = get_redis_connection("default")


def pending() -> dict[str, int]:
    return {key.decode(): int(value) for key, value in redis.hgetall(cache.make_key(VIEWS_KEY)).items()}


def processing_keys() -> list[bytes]:
    return list(redis.scan_iter(match=f"{cache.make_key(VIEWS_KEY)}{PROCESSING_INFIX}*"))


def view_count(listing) -> int:
    return Listing.objects.values_list("view_count", flat=True).get(pk=listing.pk)


# --- Counting -------------------------------------------------------------------------
def test_a_page_view_is_one_hincrby_and_no_database_write(client):
    listing = ListingFactory()
    client.get(listing.get_absolute_url())
    with CaptureQueriesContext(connection) as queries:
        client.get(listing.get_absolute_url())
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in queries)
    assert pending() == {str(listing.pk): 2}
    assert view_count(listing) == 0


def test_only_rendered_get_requests_of_other_people_count(client):
    listing = ListingFactory()
    unlisted = ListingFactory(visibility=Listing.Visibility.UNLISTED)
    client.head(listing.get_absolute_url())
    client.get(reverse("listings:detail_unlisted", args=[listing.slug, listing.share_token]))  # redirect
    client.get(reverse("listings:detail_unlisted", args=[listing.slug, "wrong"]))  # 404
    client.get(unlisted.get_absolute_url())  # 404 without the token
    assert pending() == {}

    client.force_login(listing.seller)
    client.get(listing.get_absolute_url())  # the owner
    assert pending() == {}

    client.force_login(UserFactory())
    client.get(listing.get_absolute_url())
    client.get(reverse("listings:detail_unlisted", args=[unlisted.slug, unlisted.share_token]))
    assert pending() == {str(listing.pk): 1, str(unlisted.pk): 1}


# --- Flushing -------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_flush_applies_the_counts_with_one_update_and_clears_them():
    first, second, untouched = ListingFactory(), ListingFactory(), ListingFactory()
    for _ in range(3):
        listing_view_record(first.pk)
    listing_view_record(second.pk)
    with CaptureQueriesContext(connection) as queries:
        result = view_counts_flush()
    updates = [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1 and "unnest" in updates[0]
    assert (result.batches, result.listings, result.views) == (1, 2, 4)
    assert (view_count(first), view_count(second), view_count(untouched)) == (3, 1, 0)
    assert pending() == {} and processing_keys() == []

    again = view_counts_flush()  # nothing pending: nothing changes
    assert (again.batches, again.views) == (0, 0)
    assert view_count(first) == 3


@pytest.mark.django_db(transaction=True)
def test_a_full_save_never_writes_view_count_back():
    listing = ListingFactory()
    stale = Listing.objects.get(pk=listing.pk)
    listing_view_record(listing.pk)
    view_counts_flush()
    stale.title = "Renamed"
    stale.save()
    assert view_count(listing) == 1


@pytest.mark.django_db(transaction=True)
def test_unknown_listings_and_malformed_entries_are_dropped():
    listing = ListingFactory()
    listing_view_record(listing.pk)
    key = cache.make_key(VIEWS_KEY)
    redis.hset(key, "not-a-uuid", 5)
    redis.hset(key, "00000000-0000-0000-0000-000000000000", 7)  # deleted or never existed
    redis.hset(key, str(listing.pk) + "x", 1)
    view_counts_flush()
    assert view_count(listing) == 1
    assert pending() == {} and processing_keys() == []


@pytest.mark.django_db(transaction=True)
def test_a_batch_left_before_its_commit_is_applied_by_the_next_run():
    listing = ListingFactory()
    leftover = f"{cache.make_key(VIEWS_KEY)}{PROCESSING_INFIX}1-crashed"
    redis.hset(leftover, str(listing.pk), 4)  # renamed, then the process died
    aborted_leftover = f"{cache.make_key(VIEWS_KEY)}{PROCESSING_INFIX}2-crashed"
    with pytest.raises(RuntimeError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text")
        redis.hset(aborted_leftover, mapping={str(listing.pk): 2, TXID_FIELD: cursor.fetchone()[0]})
        raise RuntimeError("died before the commit")
    listing_view_record(listing.pk)
    assert view_counts_pending().views == 7

    result = view_counts_flush()
    assert result.batches == 3
    assert view_count(listing) == 7
    assert processing_keys() == []


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_delete_was_lost_after_the_commit_is_not_counted_twice(monkeypatch):
    listing = ListingFactory()
    for _ in range(5):
        listing_view_record(listing.pk)

    class DiesBeforeDelete:
        def __getattr__(self, name):
            return getattr(redis, name)

        def delete(self, *keys):
            raise ConnectionError("the process died after the commit")

    monkeypatch.setattr(view_counts, "_redis", DiesBeforeDelete)
    with pytest.raises(ConnectionError):
        view_counts_flush()
    monkeypatch.undo()
    assert view_count(listing) == 5
    assert len(processing_keys()) == 1

    listing_view_record(listing.pk)
    assert view_counts_pending().views == 1  # the leftover is known to be applied
    view_counts_flush()
    assert view_count(listing) == 6
    assert processing_keys() == []


def test_flush_refuses_to_run_inside_a_transaction():
    with pytest.raises(RuntimeError):
        view_counts_flush()


@pytest.mark.django_db(transaction=True)
def test_concurrent_views_and_concurrent_flushes_lose_and_double_count_nothing():
    listings = ListingFactory.create_batch(5)
    viewers, views_each, flushers = 8, 150, 4
    done = threading.Event()
    errors = []

    def view(worker: int):
        try:
            for index in range(views_each):
                listing_view_record(listings[(worker + index) % len(listings)].pk)
        except Exception as error:  # reported below
            errors.append(error)

    def flush():
        try:
            while not done.is_set():
                view_counts_flush()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    flush_threads = [threading.Thread(target=flush) for _ in range(flushers)]
    view_threads = [threading.Thread(target=view, args=(worker,)) for worker in range(viewers)]
    for thread in flush_threads + view_threads:
        thread.start()
    for thread in view_threads:
        thread.join()
    done.set()
    for thread in flush_threads:
        thread.join()
    assert not errors, errors

    view_counts_flush()
    counts = dict(Listing.objects.values_list("pk", "view_count"))
    assert sum(counts.values()) == viewers * views_each
    assert set(counts.values()) == {viewers * views_each // len(listings)}
    assert pending() == {} and processing_keys() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_page_views_through_http_are_all_counted():
    listing = ListingFactory()
    barrier = threading.Barrier(6)
    statuses = []

    def browse():
        try:
            barrier.wait()
            for _ in range(5):
                statuses.append(Client().get(listing.get_absolute_url()).status_code)
                view_counts_flush()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=browse) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 30
    view_counts_flush()
    assert view_count(listing) == 30


@pytest.mark.django_db(transaction=True)
def test_management_command(capsys):
    listing = ListingFactory()
    listing_view_record(listing.pk)
    listing_view_record(listing.pk)
    call_command("flush_view_counts", "--dry-run")
    assert "Would flush 2 views of 1 listing in 1 batch." in capsys.readouterr().out
    assert view_count(listing) == 0
    call_command("flush_view_counts")
    assert "Flushed 2 views of 1 listing in 1 batch." in capsys.readouterr().out
    assert view_count(listing) == 2
