"""The hook seam (``marketplace/events.py``): after-commit side effects, hooks, live pushes.

And the issue's promise: when Redis fails after a write committed, the page still answers
with success and the failure is logged. Every kind of after-commit Redis work is covered
through a real page: a cache version bump (listing edit), a cache delete (payments' seller
summary, on confirming receipt), a hook subscriber doing Redis work (a ban from the admin),
and a Channels push (``send_event_on_commit``, no page sends one yet).
"""

import asyncio
import logging
import queue
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis.asyncio.client
import redis.client
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client
from django.urls import reverse
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.models import AccountStatus, AccountStatusChange
from listings.models import Listing
from marketplace.events import Hook, after_commit, send_event_on_commit
from payments.models import Transaction
from tests.factories import CategoryFactory, ListingFactory, SellerFactory, UserFactory
from tests.payments.purchase_helpers import paid

ROBUST_LOG = "django.db.backends.base"  # where Django logs a failing robust on_commit callback


class Calls:
    """A subscriber that records its calls (compared by identity, as subscribers are)."""

    def __init__(self):
        self.args: list[tuple] = []

    def __call__(self, *args):
        self.args.append(args)


def fail(*args):
    raise RuntimeError("callback failed")


# --- after_commit -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_after_commit_runs_after_the_commit_and_never_on_rollback():
    calls = Calls()
    with transaction.atomic():
        after_commit(calls, "committed")
        with transaction.atomic():
            after_commit(calls, "inner")
        assert calls.args == []  # not while the transaction is open
    assert calls.args == [("committed",), ("inner",)]

    calls.args.clear()
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        after_commit(calls, "rolled back")
        1 / 0  # noqa: B018
    with transaction.atomic():
        try:
            with transaction.atomic():
                after_commit(calls, "savepoint rolled back")
                raise ValueError
        except ValueError:
            pass
        after_commit(calls, "kept")
    assert calls.args == [("kept",)]


@pytest.mark.django_db(transaction=True)
def test_after_commit_runs_at_once_outside_a_transaction():
    calls = Calls()
    after_commit(calls, 1, 2)
    assert calls.args == [(1, 2)]


@pytest.mark.django_db(transaction=True)
def test_a_failing_callback_is_logged_and_swallowed_and_the_others_run(caplog):
    calls = Calls()
    with caplog.at_level(logging.ERROR, logger=ROBUST_LOG), transaction.atomic():
        after_commit(fail)
        after_commit(calls, "after the failure")
    assert calls.args == [("after the failure",)]
    assert "tests.marketplace.test_events.fail" in caplog.text
    assert "callback failed" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.ERROR, logger=ROBUST_LOG):
        after_commit(fail)  # at once, outside a transaction: swallowed all the same
    assert "callback failed" in caplog.text


# --- Hook ---------------------------------------------------------------------------------------


def test_a_hook_calls_every_subscriber_even_when_one_raises(caplog):
    hook = Hook("tests.something_happened")
    first, last = Calls(), Calls()
    hook.subscribe(first)
    hook.subscribe(fail)
    hook.subscribe(last)
    with caplog.at_level(logging.ERROR, logger="marketplace.events"):
        hook("news", 42)
    assert first.args == [("news", 42)]
    assert last.args == [("news", 42)]
    assert "tests.something_happened: subscriber fail failed" in caplog.text


def test_subscribing_twice_keeps_one():
    hook = Hook("tests.something_happened")
    calls = Calls()
    assert hook.subscribe(calls) is calls  # usable as a decorator
    hook.subscribe(calls)
    hook("once")
    assert calls.args == [("once",)]
    assert hook.subscribers == [calls]


# --- send_event_on_commit: a real channels-redis group --------------------------------------


def off_the_loop(fn, *args):
    """Run ``fn(*args)`` in a thread of its own and return its result.

    ``send_event`` bridges to the async channel layer with ``async_to_sync``, which refuses to
    run in a thread that has an event loop running; in this test process Playwright's sync API
    (the browser tests) leaves one in the main thread. Synchronous Django code runs in threads
    without one, as here. The thread's database connection is closed when it is done.
    """

    def run():
        try:
            return fn(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


@pytest.fixture
def listener():
    """A channel in a fresh group of the test channel layer (Redis DB 15, this run's prefix),
    received on an event loop that runs in a thread of its own for the whole test, as a server
    process's loop does: a pub/sub subscription hears only what is published while it exists,
    and each ``async_to_sync()`` call would run on a loop of its own."""
    layer = get_channel_layer()
    group = f"test-events-{uuid.uuid4().hex}"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coroutine, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)

    heard: queue.Queue = queue.Queue()

    async def listen(channel: str) -> None:
        # One receive for the whole test: cancelling the pub/sub layer's receive (a timeout)
        # unsubscribes its channel, as when a consumer leaves.
        while True:
            heard.put(await layer.receive(channel))

    def receive(timeout: float = 2.0):
        try:
            return heard.get(timeout=timeout)
        except queue.Empty:
            return None

    channel = on_loop(layer.new_channel())
    on_loop(layer.group_add(group, channel))
    listening = asyncio.run_coroutine_threadsafe(listen(channel), loop)
    yield group, receive
    on_loop(layer.group_discard(group, channel))
    listening.cancel()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.mark.django_db(transaction=True)
def test_send_event_on_commit_delivers_after_commit(listener):
    group, receive = listener

    def commit_with_an_event():
        with transaction.atomic():
            send_event_on_commit(group, {"type": "listing.changed", "id": "l1"})
            return receive(0.2)  # nothing while the transaction is open

    assert off_the_loop(commit_with_an_event) is None
    assert receive() == {"type": "listing.changed", "id": "l1"}


@pytest.mark.django_db(transaction=True)
def test_send_event_on_commit_sends_nothing_on_rollback(listener):
    group, receive = listener

    def roll_back_then_send_outside():
        with pytest.raises(ValueError), transaction.atomic():
            send_event_on_commit(group, {"type": "listing.changed", "id": "l1"})
            raise ValueError
        send_event_on_commit(group, {"type": "listing.changed", "id": "l2"})  # outside: at once

    off_the_loop(roll_back_then_send_outside)
    assert receive() == {"type": "listing.changed", "id": "l2"}
    assert receive(0.2) is None


# --- Redis down after commit: the write stands, the page answers success, the log says why ------


class RedisDown:
    """Every Redis command (sync or async, single or pipelined) raises ``ConnectionError``
    while commit hooks run, as if the server went away right after the database commit.
    Everything before (sessions, rate limits, page caches) and after works normally."""

    def __init__(self):
        self.on = False
        self.refused: list[str] = []

    def refuse(self, what) -> None:
        if self.on:
            self.refused.append(str(what))
            raise RedisConnectionError("Error 111 connecting to redis. Connection refused. (test)")


@pytest.fixture
def redis_down_after_commit(monkeypatch) -> RedisDown:
    down = RedisDown()

    def sync(original):
        def wrapper(self, *args, **kwargs):
            down.refuse(args[0] if args else "pipeline")
            return original(self, *args, **kwargs)

        return wrapper

    def asynchronous(original):
        async def wrapper(self, *args, **kwargs):
            down.refuse(args[0] if args else "pipeline")
            return await original(self, *args, **kwargs)

        return wrapper

    for cls, method, wrap in (
        (redis.client.Redis, "execute_command", sync),
        (redis.client.Pipeline, "execute", sync),
        (redis.asyncio.client.Redis, "execute_command", asynchronous),
        (redis.asyncio.client.Pipeline, "execute", asynchronous),
    ):
        monkeypatch.setattr(cls, method, wrap(getattr(cls, method)))

    run_hooks = BaseDatabaseWrapper.run_and_clear_commit_hooks

    def run_hooks_with_redis_down(self):
        down.on = True
        try:
            run_hooks(self)
        finally:
            down.on = False

    monkeypatch.setattr(BaseDatabaseWrapper, "run_and_clear_commit_hooks", run_hooks_with_redis_down)
    return down


@pytest.fixture
def quiet_sessions(settings):
    """Sessions in signed cookies, so a test client's login is independent of Redis."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"


@pytest.mark.django_db(transaction=True)
def test_a_listing_edit_succeeds_when_the_page_cache_bump_fails(
    caplog, redis_down_after_commit, quiet_sessions
):
    seller = SellerFactory()
    category = CategoryFactory(attribute_schema=[])
    listing = ListingFactory(seller=seller, category=category, title="Old title", attributes={})
    client = Client()
    client.force_login(seller)
    data = {
        "title": "New title",
        "category": str(category.pk),
        "rendered_for": str(category.pk),
        "description": listing.description,
        "price": "45.99",
        "currency": "USD",
        "pricing_type": "fixed",
        "location_country": "US",
        "location_city": "Austin",
        "location_lat": "30.2672",
        "location_lng": "-97.7431",
        "visibility": "public",
        "meta_title": "",
        "meta_description": "",
    }

    with caplog.at_level(logging.ERROR, logger=ROBUST_LOG):
        response = client.post(reverse("sell:listing_edit", args=[listing.pk]), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == reverse("sell:listing_edit", args=[listing.pk])
    assert Listing.objects.get(pk=listing.pk).title == "New title"
    assert redis_down_after_commit.refused  # the bump did reach Redis, and failed
    assert "listings.services._bump_version" in caplog.text
    assert "Connection refused" in caplog.text
    # Redis is back: the next page works and shows the new title.
    assert "New title" in client.get(reverse("listings:detail", args=[listing.slug])).content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_ban_succeeds_when_the_listing_subscriber_cannot_reach_redis(
    caplog, redis_down_after_commit, quiet_sessions
):
    staff = UserFactory(is_staff=True, is_superuser=True)
    seller = SellerFactory()
    client = Client()
    client.force_login(staff)

    with caplog.at_level(logging.ERROR):
        response = client.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "ban_users", "_selected_action": [str(seller.pk)], "apply": "yes", "reason": "Fraud."},
        )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_user_changelist")
    seller.refresh_from_db()
    assert seller.account_status == AccountStatus.BANNED
    assert AccountStatusChange.objects.filter(user=seller, reason="Fraud.").exists()
    assert redis_down_after_commit.refused
    assert "listings.services._bump_version" in caplog.text
    assert "Connection refused" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_confirming_receipt_succeeds_when_the_sales_summary_delete_fails(
    caplog, redis_down_after_commit, quiet_sessions, ledger_db
):
    txn = paid(price_cents=12_345)
    client = Client()
    client.force_login(txn.buyer)

    with caplog.at_level(logging.ERROR, logger=ROBUST_LOG):
        response = client.post(reverse("payments:order_confirm_receipt", args=[txn.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("payments:order", args=[txn.pk])
    assert Transaction.objects.get(pk=txn.pk).metadata.get("receipt_confirmed_at")
    assert "DEL" in redis_down_after_commit.refused  # the seller summary's cache.delete
    assert "Connection refused" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_live_push_lost_to_redis_is_logged_and_the_write_stands(caplog, redis_down_after_commit):
    def write_and_push():
        with transaction.atomic():
            user = UserFactory()
            send_event_on_commit(f"user-{user.pk}", {"type": "notification.new"})
        return user

    with caplog.at_level(logging.ERROR, logger=ROBUST_LOG):
        user = off_the_loop(write_and_push)
    assert redis_down_after_commit.refused
    assert "marketplace.events.send_event" in caplog.text
    assert "Connection refused" in caplog.text
    assert type(user).objects.filter(pk=user.pk).exists()


# --- send_events from a thread a server's loop handed work to: handed back, not waited for ------


class _SlowLayer:
    """A channel layer whose group sends wait until released (or fail, when told to)."""

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.sent: list[tuple[str, dict]] = []
        self.release: asyncio.Event | None = None

    async def group_send(self, group, payload):
        await self.release.wait()
        if self.fail:
            raise RedisConnectionError("Redis went away")
        self.sent.append((group, payload))


def test_send_events_from_a_loops_worker_thread_returns_before_the_sends(monkeypatch):
    """A messaging socket's database thread does not wait for Redis: the sends run on the
    server's loop after the thread's call returned."""
    from asgiref.sync import sync_to_async

    from marketplace import events

    layer = _SlowLayer()
    monkeypatch.setattr("channels.layers.get_channel_layer", lambda *a: layer)

    async def scenario():
        layer.release = asyncio.Event()
        send = sync_to_async(events.send_events, thread_sensitive=False)
        # Waiting for the sends here would never end: they wait for the release below.
        await asyncio.wait_for(send(["user-a", "user-b"], {"type": "x"}), timeout=5)
        returned_before = list(layer.sent)
        layer.release.set()
        for _ in range(50):
            if len(layer.sent) == 2:
                break
            await asyncio.sleep(0.01)
        return returned_before, list(layer.sent)

    returned_before, sent = asyncio.run(scenario())
    assert returned_before == []
    assert sorted(group for group, _ in sent) == ["user-a", "user-b"]


def test_a_failed_send_handed_to_the_loop_is_logged(monkeypatch, caplog):
    from asgiref.sync import sync_to_async

    from marketplace import events

    layer = _SlowLayer(fail=True)
    monkeypatch.setattr("channels.layers.get_channel_layer", lambda *a: layer)

    async def scenario():
        layer.release = asyncio.Event()
        layer.release.set()
        await sync_to_async(events.send_events, thread_sensitive=False)(["user-a"], {"type": "message.new"})
        await asyncio.sleep(0.1)

    with caplog.at_level(logging.ERROR, logger="marketplace.events"):
        asyncio.run(scenario())
    [record] = [r for r in caplog.records if r.name == "marketplace.events"]
    assert "message.new" in record.getMessage() and "user-a" in record.getMessage()
    assert "Redis went away" in record.exc_text
