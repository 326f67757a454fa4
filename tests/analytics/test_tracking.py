"""Analytics events: ``track`` buffers in Redis and never breaks a page; the flush writes each
event once (COPY, retried, concurrent) into the right partition; the views and the payments
hook record what the funnel needs; the staff selectors read it back."""

import contextlib
import json
import logging
import threading
import uuid
from datetime import timedelta

import pytest
import redis as redis_lib
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from analytics import tracking
from analytics.models import Event
from analytics.partitions import maintain_partitions, partition_name
from analytics.selectors import conversion_funnel, zero_result_searches
from analytics.tracking import (
    BUFFER_KEY,
    PROCESSING_KEY,
    EventName,
    buffered_count,
    flush_events,
    track,
    truncate_ip,
)
from listings import view_counts
from marketplace.embedded import free_port
from tests.factories import CategoryFactory, ListingFactory, UserFactory
from tests.jobs import run_jobs
from tests.payments.purchase_helpers import paid

pytestmark = pytest.mark.django_db


def buffered() -> list[dict]:
    raw = tracking._redis().lrange(cache.make_key(BUFFER_KEY), 0, -1)
    return [json.loads(line) for line in raw]


def names() -> list[str]:
    return [event["event_name"] for event in buffered()]


@pytest.fixture
def redis_down(monkeypatch):
    """Tracking's Redis is a port nobody listens on (the rest of the site keeps its own)."""
    dead = redis_lib.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    monkeypatch.setattr(tracking, "_redis", lambda: dead)
    return dead


# --- track ----------------------------------------------------------------------------------


def test_track_buffers_in_redis_without_touching_the_database(django_assert_num_queries):
    user = UserFactory()
    request = RequestFactory().get("/listings/x/", REMOTE_ADDR="203.0.113.57", HTTP_USER_AGENT="Firefox")
    request.user = user
    with django_assert_num_queries(0):
        track(request, EventName.LISTING_VIEWED, listing="abc", category="bikes")
    (event,) = buffered()
    assert event["event_name"] == "listing_viewed"
    assert event["user_id"] == str(user.pk)
    assert event["ip_address"] == "203.0.113.0"
    assert event["user_agent"] == "Firefox"
    assert event["page_url"] == "/listings/x/"
    assert event["properties"] == {"listing": "abc", "category": "bikes"}
    uuid.UUID(event["uid"])
    assert Event.objects.count() == 0


def test_an_unknown_event_name_is_logged_and_dropped(caplog):
    with caplog.at_level(logging.ERROR, logger="analytics.tracking"):
        track(None, "listing_veiwed")
    assert buffered() == []
    assert "unknown event name 'listing_veiwed'" in caplog.text


def test_properties_that_are_not_json_are_logged_and_dropped(caplog):
    with caplog.at_level(logging.WARNING, logger="analytics.tracking"):
        track(None, EventName.SEARCH, query=object())
    assert buffered() == []
    assert "dropped" in caplog.text


def test_track_never_raises_when_redis_is_down(redis_down, caplog):
    with caplog.at_level(logging.WARNING, logger="analytics.tracking"):
        track(None, EventName.SEARCH, query="bike", filters={}, result_count=0)
    assert "event 'search' dropped" in caplog.text


def test_a_listing_page_renders_with_tracking_redis_down(client, redis_down, monkeypatch, caplog):
    # The page sends its view count and its event in one pipeline, on the view counter's
    # connection to the same Redis: that one is down too.
    monkeypatch.setattr(view_counts, "_redis", lambda: redis_down)
    listing = ListingFactory()
    with caplog.at_level(logging.WARNING, logger="analytics.tracking"):
        response = client.get(listing.get_absolute_url())
    assert response.status_code == 200
    assert listing.title in response.content.decode()
    assert "event 'listing_viewed' dropped" in caplog.text
    listing.refresh_from_db()
    assert listing.view_count == 1  # written to the row instead


def test_a_listing_view_and_its_event_go_in_one_round_trip(client, monkeypatch):
    listing = ListingFactory()
    client.get(listing.get_absolute_url())  # the page cached: the next view is a hit
    sent = []
    real_execute = redis_lib.client.Pipeline.execute

    def execute(pipe, *args, **kwargs):
        sent.append([command[0][0] for command in pipe.command_stack])
        return real_execute(pipe, *args, **kwargs)

    monkeypatch.setattr(redis_lib.client.Pipeline, "execute", execute)
    before = buffered_count()
    client.get(listing.get_absolute_url())
    assert ["HINCRBY", "RPUSH", "LTRIM"] in sent
    assert buffered_count() == before + 1


@contextlib.contextmanager
def holding_a_string(name: str):
    """The Redis key of ``name`` (a cache key) holds a string meanwhile, so a command for its
    usual type is refused; whatever it held before is put back."""
    redis, key = tracking._redis(), cache.make_key(name)
    saved = redis.dump(key)
    redis.set(key, "not a list nor a hash")
    try:
        yield
    finally:
        redis.delete(key)
        if saved is not None:
            redis.restore(key, 0, saved)


def test_a_refused_event_is_logged_and_does_not_count_the_view_twice(client, caplog):
    listing = ListingFactory()
    with holding_a_string(tracking.BUFFER_KEY), caplog.at_level(logging.WARNING):
        # RPUSH is refused, the HINCRBY before it is not.
        response = client.get(listing.get_absolute_url())
    assert response.status_code == 200
    assert "event 'listing_viewed' dropped" in caplog.text
    assert "written to the database" not in caplog.text
    listing.refresh_from_db()
    assert listing.view_count == 0  # counted in Redis only, not written to the row as well
    pending = tracking._redis().hget(cache.make_key(view_counts.VIEWS_KEY), str(listing.pk))
    assert int(pending) == 1


def test_a_refused_view_count_goes_to_the_row_and_its_event_is_kept(client, caplog):
    listing = ListingFactory()
    before = buffered_count()
    with holding_a_string(view_counts.VIEWS_KEY), caplog.at_level(logging.WARNING):
        # HINCRBY is refused, the event's RPUSH after it is not.
        response = client.get(listing.get_absolute_url())
    assert response.status_code == 200
    assert "written to the database" in caplog.text
    assert "dropped" not in caplog.text
    assert buffered_count() == before + 1
    listing.refresh_from_db()
    assert listing.view_count == 1


@pytest.mark.parametrize(
    ("address", "truncate", "stored"),
    [
        ("203.0.113.57", True, "203.0.113.0"),
        ("2001:db8:abcd:12:34:56:78:9a", True, "2001:db8:abcd::"),
        ("203.0.113.57", False, "203.0.113.57"),
        ("not an address", True, None),
        ("", True, None),
    ],
)
def test_addresses_are_truncated_by_default(settings, address, truncate, stored):
    settings.ANALYTICS_TRUNCATE_IP = truncate
    assert truncate_ip(address) == stored


def test_global_privacy_control_is_only_counted():
    request = RequestFactory().get(
        "/search/?q=secret",
        REMOTE_ADDR="203.0.113.57",
        HTTP_SEC_GPC="1",
        HTTP_USER_AGENT="Firefox",
        HTTP_REFERER="https://example.com/a?b=c",
    )
    request.user = UserFactory()
    track(request, EventName.SEARCH, query="secret", filters={"near": "x"}, result_count=3)
    (event,) = buffered()
    assert event["event_name"] == "search"
    assert event["properties"] == {"gpc": True}
    for field in ("user_id", "session_id", "ip_address"):
        assert event[field] is None
    for field in ("page_url", "referrer_url", "user_agent", "event_category"):
        assert event[field] == ""


def test_the_referrer_loses_its_query_and_a_share_token_url_is_stored_as_its_route(client):
    listing = ListingFactory(visibility="unlisted")
    client.get(
        reverse("listings:detail_unlisted", args=[listing.slug, listing.share_token]),
        HTTP_REFERER="https://search.example/?q=my+name",
    )
    (event,) = buffered()
    assert listing.share_token not in event["page_url"]
    assert event["page_url"].startswith("/") and "<" in event["page_url"]
    assert event["referrer_url"] == "https://search.example/"


# --- flush ----------------------------------------------------------------------------------


def stored_uids() -> list[str]:
    return sorted(str(uid) for uid in Event.objects.values_list("uid", flat=True))


def test_flush_writes_each_event_once_in_batches():
    user = UserFactory()
    for number in range(7):
        track(user, EventName.SEARCH, query=f"q{number}", filters={}, result_count=number)
    uids = sorted(event["uid"] for event in buffered())
    result = flush_events(batch_size=3)
    assert (result.batches, result.read, result.inserted) == (3, 7, 7)
    assert stored_uids() == uids
    assert Event.objects.filter(user=user, event_name="search").count() == 7
    assert tracking.buffered_count() == 0
    assert flush_events().read == 0


def test_a_batch_larger_than_luas_unpack_limit_moves_whole():
    lines = [
        json.dumps(tracking.build_event(None, EventName.SEARCH, {"query": str(n), "result_count": 1}))
        for n in range(9000)
    ]
    tracking._redis().rpush(cache.make_key(BUFFER_KEY), *lines)
    result = flush_events(batch_size=20_000)
    assert (result.batches, result.inserted) == (1, 9000)


def test_a_flush_that_dies_before_clearing_its_batch_records_nothing_twice(monkeypatch):
    for number in range(4):
        track(None, EventName.LISTING_VIEWED, listing=str(number), category="bikes")
    real_redis = tracking._redis()

    class DiesOnDelete:
        def __getattr__(self, name):
            return getattr(real_redis, name)

        def delete(self, *keys):
            raise redis_lib.ConnectionError("lost Redis after the commit")

    monkeypatch.setattr(tracking, "_redis", DiesOnDelete)
    with pytest.raises(redis_lib.ConnectionError):
        flush_events()
    assert Event.objects.count() == 4  # committed, but the batch is still in Redis
    assert real_redis.llen(cache.make_key(PROCESSING_KEY)) == 4
    track(None, EventName.LISTING_VIEWED, listing="late", category="bikes")

    monkeypatch.undo()
    result = flush_events()  # the retry: the leftover batch first, then the new event
    assert (result.read, result.inserted) == (5, 1)
    assert Event.objects.count() == 5
    assert tracking.buffered_count() == 0


def test_malformed_buffered_lines_are_skipped_and_the_rest_flushed(caplog):
    tracking._redis().rpush(cache.make_key(BUFFER_KEY), "not json", json.dumps({"event_name": "nope"}))
    track(None, EventName.ORDER_PAID, listing="x", category="bikes")
    with caplog.at_level(logging.WARNING, logger="analytics.tracking"):
        result = flush_events()
    assert (result.read, result.inserted, result.malformed) == (3, 1, 2)
    assert "malformed" in caplog.text


def test_an_event_of_a_member_deleted_before_the_flush_is_kept_without_the_member():
    user = UserFactory()
    track(user, EventName.FAVORITE_ADDED, listing="x", category="bikes")
    user.delete()
    assert flush_events().inserted == 1
    assert Event.objects.get().user_id is None


def test_flushed_events_land_in_their_monthly_partition():
    maintain_partitions(months_ahead=1, retention_months=13, now=timezone.now())
    track(None, EventName.SEARCH, query="lamp", filters={}, result_count=1)
    flush_events()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM analytics_event")
        assert cursor.fetchone()[0] == partition_name(timezone.now().date().replace(day=1))


def test_the_periodic_job_flushes_through_the_queue():
    from analytics.tasks import flush_analytics_events

    track(None, EventName.SEARCH, query="lamp", filters={}, result_count=0)
    flush_analytics_events.defer(timestamp=0)
    assert run_jobs() == 1
    assert Event.objects.filter(event_name="search").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_flushes_at_once_write_every_event_once():
    for number in range(300):
        track(None, EventName.LISTING_VIEWED, listing=str(number), category="bikes")
    results, errors = [], []
    barrier = threading.Barrier(2)

    def flush():
        try:
            barrier.wait()
            results.append(flush_events(batch_size=25))
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=flush) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(result.inserted for result in results) == 300
    assert Event.objects.count() == 300
    assert Event.objects.values("uid").distinct().count() == 300


# --- the views and the payments hook ----------------------------------------------------------


def test_the_pages_record_the_funnel(client, django_capture_on_commit_callbacks):
    category = CategoryFactory(slug="bikes")
    listing = ListingFactory(category=category, title="Red bicycle")
    buyer = UserFactory()
    client.force_login(buyer)

    assert client.get(listing.get_absolute_url()).status_code == 200
    assert client.post(reverse("listings:favorite", args=[listing.slug])).status_code == 302
    assert client.post(reverse("listings:unfavorite", args=[listing.slug])).status_code == 302
    response = client.post(
        reverse("messaging:new"),
        {"listing": str(listing.pk), "body": "Still there?", "client_id": uuid.uuid4()},
    )
    assert response.status_code == 302
    assert client.post(reverse("payments:checkout_start", args=[listing.slug])).status_code == 302
    assert names() == [
        "listing_viewed",
        "favorite_added",
        "favorite_removed",
        "contact_started",
        "checkout_started",
    ]
    assert all(event["properties"]["category"] == "bikes" for event in buffered())
    assert all(event["user_id"] == str(buyer.pk) for event in buffered())

    # A second message in the same conversation is not a new contact.
    client.post(
        reverse("messaging:new"), {"listing": str(listing.pk), "body": "Hello?", "client_id": uuid.uuid4()}
    )
    assert names().count("contact_started") == 1

    with django_capture_on_commit_callbacks(execute=True):
        txn = paid(category=CategoryFactory(slug="lamps"))
    paid_event = buffered()[-1]
    assert paid_event["event_name"] == "order_paid"
    assert paid_event["user_id"] is None
    assert paid_event["properties"]["transaction"] == str(txn.pk)
    assert paid_event["properties"]["category"] == "lamps"


def test_the_owner_viewing_their_listing_is_not_a_view(client):
    listing = ListingFactory()
    client.force_login(listing.seller)
    client.get(listing.get_absolute_url())
    assert names() == []


def test_search_records_the_query_filters_and_count_on_the_first_page_only(client):
    ListingFactory(title="Walnut desk")
    client.get(reverse("listings:search"), {"q": "walnut", "sort": "newest"})
    client.get(reverse("listings:search"), {"q": "zzyzx-nothing"})
    first, empty = buffered()
    assert first["properties"]["query"] == "walnut"
    assert first["properties"]["result_count"] == 1
    assert first["properties"]["filters"] == {"sort": "newest", "currency": "USD"}
    assert empty["properties"]["result_count"] == 0
    client.get(reverse("listings:search"), {"q": "walnut", "cursor": "abc"})
    assert len(buffered()) == 2


# --- staff selectors --------------------------------------------------------------------------


def test_zero_result_searches_and_the_conversion_funnel():
    for query, count in [("Zzyzx ", 0), ("zzyzx", 0), ("lamp", 0), ("desk", 4), ("", 0)]:
        track(None, EventName.SEARCH, query=query, filters={}, result_count=count)
    for name, times in [
        (EventName.LISTING_VIEWED, 5),
        (EventName.CONTACT_STARTED, 2),
        (EventName.CHECKOUT_STARTED, 1),
        (EventName.ORDER_PAID, 1),
    ]:
        for _ in range(times):
            track(None, name, listing="x", category="bikes")
    track(None, EventName.LISTING_VIEWED, listing="y", category="lamps")
    request = RequestFactory().get("/", HTTP_SEC_GPC="1")
    track(request, EventName.LISTING_VIEWED, listing="y", category="lamps")  # counted, no category
    flush_events()
    # An old search is outside the window.
    Event.objects.create(
        event_name="search",
        properties={"query": "old", "result_count": 0},
        created_at=timezone.now() - timedelta(days=40),
    )

    assert zero_result_searches() == [{"query": "zzyzx", "count": 2}, {"query": "lamp", "count": 1}]
    assert zero_result_searches(limit=1) == [{"query": "zzyzx", "count": 2}]
    assert zero_result_searches(days=60)[-1] == {"query": "old", "count": 1}
    assert conversion_funnel() == [
        {"category": "bikes", "views": 5, "contacts": 2, "checkouts": 1, "paid": 1},
        {"category": "lamps", "views": 1, "contacts": 0, "checkouts": 0, "paid": 0},
    ]
    assert Event.objects.filter(event_name="listing_viewed", properties={"gpc": True}).count() == 1
