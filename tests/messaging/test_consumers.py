"""The messaging WebSocket (``messaging/consumers.py``) through the whole ASGI stack.

Each test drives ``marketplace.asgi.application`` (Origin check, session authentication,
routing) with ``WebsocketCommunicator``. The coroutines run under ``async_to_sync`` from the
test's thread, so the consumer's database calls run on the test's own connection; the tests
are transactional because the broadcast happens after commit. The channel layer is the test
one (Redis DB 15, this run's prefix), made fresh for each test (it binds to an event loop).
"""

import json
import threading
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from marketplace.asgi import application
from messaging import consumers
from messaging.models import Message
from messaging.services import conversation_open, message_send, user_group
from payments import hooks as payments_hooks
from payments.models import Transaction
from tests.channels import fresh_channel_layer as new_channel_layer
from tests.factories import ListingFactory, SellerFactory, TransactionFactory, UserFactory

ORIGIN = b"http://127.0.0.1"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    with new_channel_layer():
        yield


@pytest.fixture(autouse=True)
def socket_threads_closed():
    yield
    close_socket_threads()


def close_socket_threads() -> None:
    """The consumer's database threads: their connections closed and the pool gone (the test
    database is dropped at the end of the run)."""
    pool, consumers._pool = consumers._pool, None
    if pool is not None:
        workers = pool._max_workers
        barrier = threading.Barrier(workers)

        def close():  # one per thread: the barrier holds each thread until all have one
            barrier.wait(timeout=10)
            connections.close_all()

        for future in [pool.submit(close) for _ in range(workers)]:
            future.result()
        pool.shutdown(wait=True)


@pytest.fixture
def pair():
    buyer, seller = UserFactory(first_name="Bea"), SellerFactory(first_name="Sam")
    conversation, _ = conversation_open(buyer=buyer, seller=seller)
    return buyer, seller, conversation


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def socket(user, conversation=None, *, origin=ORIGIN) -> WebsocketCommunicator:
    path = f"/ws/messages/{conversation.pk}/" if conversation is not None else "/ws/messages/"
    headers = [(b"host", b"127.0.0.1")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
    return WebsocketCommunicator(application, path, headers=headers)


async def frames(communicator, timeout=0.3) -> list[dict]:
    """Every frame that arrives until none comes for ``timeout`` seconds."""
    received = []
    # receive_nothing, not a receive_from timeout: that one cancels the application.
    while not await communicator.receive_nothing(timeout=timeout):
        received.append(json.loads(await communicator.receive_from()))
    return received


async def first(communicator, kind, timeout=3.0) -> dict:
    while True:
        frame = json.loads(await communicator.receive_from(timeout=timeout))
        if frame["type"] == kind:
            return frame


def say(conversation, sender, body) -> Message:
    return message_send(conversation=conversation, sender=sender, body=body, client_id=uuid.uuid4())[0]


def run(coroutine_function, *args):
    return async_to_sync(coroutine_function)(*args)


async def send(communicator, body, client_id=None) -> str:
    client_id = str(client_id or uuid.uuid4())
    await communicator.send_to(text_data=json.dumps({"type": "send", "client_id": client_id, "body": body}))
    return client_id


def test_a_participant_receives_the_others_message_live_and_once(pair):
    buyer, seller, conversation = pair

    async def scenario():
        buyer_ws, seller_ws = await socket(buyer, conversation), await socket(seller, conversation)
        seller_elsewhere = await socket(seller)  # another page of the seller's: badge and inbox
        for ws in (buyer_ws, seller_ws, seller_elsewhere):
            connected, _ = await ws.connect()
            assert connected
        client_id = await send(buyer_ws, "  Is the desk still available?  ")
        ack = await first(buyer_ws, "ack")
        assert (ack["client_id"], ack["created"]) == (client_id, True)
        assert ack["message"]["body"] == "Is the desk still available?"
        received = await frames(seller_ws)
        elsewhere = await frames(seller_elsewhere)
        echoed = await frames(buyer_ws)
        for ws in (buyer_ws, seller_ws, seller_elsewhere):
            await ws.disconnect()
        return ack, received, elsewhere, echoed

    ack, received, elsewhere, echoed = run(scenario)
    message = Message.objects.get()
    # The seller's user group carries it once to each of the seller's sockets.
    assert [frame["type"] for frame in received] == ["message"]
    payload = received[0]["message"]
    assert payload["id"] == str(message.pk) == ack["message"]["id"]
    assert payload["client_id"] == str(message.client_id)
    assert payload["sender_id"] == str(buyer.pk)
    assert payload["body"] == "Is the desk still available?"
    assert payload["mine"] is False and ack["message"]["mine"] is True
    assert payload["sender_name"] == buyer.display_name
    assert echoed == []  # the sender has it from the ack; its group copy is not sent again
    assert elsewhere == [{"type": "inbox", "conversation_id": str(conversation.pk), "unread": 1}]


def test_reading_shows_seen_to_the_sender_and_drops_the_readers_badge(pair):
    buyer, seller, conversation = pair
    message_send(conversation=conversation, sender=buyer, body="Hello", client_id=uuid.uuid4())

    async def scenario():
        buyer_ws, seller_ws = await socket(buyer, conversation), await socket(seller, conversation)
        await buyer_ws.connect()
        await seller_ws.connect()
        await seller_ws.send_json_to({"type": "read"})
        seen = await first(buyer_ws, "seen")
        unread = await first(seller_ws, "unread")
        await buyer_ws.disconnect()
        await seller_ws.disconnect()
        return seen, unread

    seen, unread = run(scenario)
    assert seen["reader_id"] == str(seller.pk)
    assert unread == {"type": "unread", "unread": 0}
    assert Message.objects.get().read_at is not None


def test_anonymous_and_strangers_are_refused(pair):
    _buyer, _seller, conversation = pair
    stranger = UserFactory()

    async def attempt(user, path):
        headers = [(b"host", b"127.0.0.1"), (b"origin", ORIGIN)]
        if user is not None:
            headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
        ws = WebsocketCommunicator(application, path, headers=headers)
        result = await ws.connect()
        await ws.disconnect()
        return result

    async def scenario():
        return {
            "anonymous, conversation": await attempt(None, f"/ws/messages/{conversation.pk}/"),
            "anonymous, user socket": await attempt(None, "/ws/messages/"),
            "stranger, conversation": await attempt(stranger, f"/ws/messages/{conversation.pk}/"),
            # A stranger is answered exactly as for a conversation that does not exist.
            "stranger, unknown conversation": await attempt(stranger, f"/ws/messages/{uuid.uuid4()}/"),
        }

    assert run(scenario) == {
        "anonymous, conversation": (False, 4401),
        "anonymous, user socket": (False, 4401),
        "stranger, conversation": (False, 4404),
        "stranger, unknown conversation": (False, 4404),
    }


def test_staff_may_read_a_conversation_but_not_write_in_it(pair):
    buyer, _seller, conversation = pair
    staff = UserFactory(is_staff=True)

    async def scenario():
        staff_ws, buyer_ws = await socket(staff, conversation), await socket(buyer, conversation)
        assert (await staff_ws.connect())[0]
        await buyer_ws.connect()
        await send(buyer_ws, "Hi")
        live = await first(staff_ws, "message")
        client_id = await send(staff_ws, "Staff here")
        error = await first(staff_ws, "error")
        await staff_ws.disconnect()
        await buyer_ws.disconnect()
        return live, client_id, error

    live, client_id, error = run(scenario)
    assert live["message"]["body"] == "Hi"
    assert (error["code"], error["client_id"]) == ("not_found", client_id)
    assert list(Message.objects.values_list("message", flat=True)) == ["Hi"]


def test_a_staff_reader_hears_only_the_conversation_they_read(pair):
    """Staff sockets listen on the participants' user groups: the participants' other
    conversations and their notification badges are not forwarded to staff."""
    buyer, seller, conversation = pair
    staff = UserFactory(is_staff=True)
    other_seller = SellerFactory()
    elsewhere, _ = conversation_open(buyer=buyer, seller=other_seller)

    async def scenario():
        staff_ws = await socket(staff, conversation)
        assert (await staff_ws.connect())[0]
        await sync_to_async(say)(elsewhere, buyer, "About something else")
        await get_channel_layer().group_send(user_group(buyer.pk), {"type": "notification.count", "count": 4})
        await sync_to_async(say)(conversation, seller, "Here")
        heard = await frames(staff_ws, timeout=0.5)
        await staff_ws.disconnect()
        return heard

    heard = run(scenario)
    assert [(frame["type"], frame["message"]["body"]) for frame in heard] == [("message", "Here")]


@pytest.mark.parametrize(
    "origin", [b"http://evil.example", b"http://127.0.0.1.evil.example", b"null", None], ids=str
)
def test_a_wrong_or_missing_origin_is_refused_at_the_handshake(pair, origin):
    buyer, _seller, conversation = pair

    async def scenario():
        ws = await socket(buyer, conversation, origin=origin)
        result = await ws.connect()
        await ws.disconnect()
        return result

    connected, _code = run(scenario)
    assert connected is False


def test_the_sites_own_origins_are_accepted(pair):
    buyer, _seller, conversation = pair

    async def scenario():
        results = []
        for origin in (b"http://127.0.0.1", b"http://localhost:8000", b"https://127.0.0.1:8443"):
            ws = await socket(buyer, conversation, origin=origin)
            results.append((await ws.connect())[0])
            await ws.disconnect()
        return results

    assert run(scenario) == [True, True, True]


@pytest.mark.parametrize(
    ("frame", "code", "says"),
    [
        ({"type": "send", "body": ""}, "invalid", "Write a message first."),
        ({"type": "send", "body": " \n\t "}, "invalid", "Write a message first."),
        ({"type": "send", "body": None}, "invalid", "body must be text."),
        ({"type": "send", "body": 42}, "invalid", "body must be text."),
        ({"type": "send", "body": "x" * 4001}, "invalid", "at most 4,000 characters"),
        ({"type": "send", "body": "Hi", "client_id": "not-a-uuid"}, "invalid", "client_id must be a UUID."),
        ({"type": "send", "body": "Hi", "client_id": None}, "invalid", "client_id must be a UUID."),
        ({"type": "teleport"}, "invalid", "Unknown frame type 'teleport'."),
        ({"type": "catch_up", "after": "nope"}, "invalid", "after must be a message id."),
        ("not json", "invalid", "Each frame must be a JSON object."),
        ([1, 2], "invalid", "Each frame must be a JSON object."),
    ],
    ids=lambda value: str(value)[:30],
)
def test_bad_frames_get_a_clear_error_frame_and_store_nothing(pair, settings, frame, code, says):
    settings.MESSAGE_MAX_CHARS = 4000
    buyer, _seller, conversation = pair
    if isinstance(frame, dict) and frame.get("type") == "send" and "client_id" not in frame:
        frame = {**frame, "client_id": str(uuid.uuid4())}

    async def scenario():
        ws = await socket(buyer, conversation)
        await ws.connect()
        await ws.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))
        error = await first(ws, "error")
        await ws.send_to(text_data=json.dumps({"type": "send", "client_id": str(uuid.uuid4()), "body": "ok"}))
        ack = await first(ws, "ack")  # the socket stays usable
        await ws.disconnect()
        return error, ack

    error, ack = run(scenario)
    assert error["code"] == code
    assert says in error["message"]
    assert ack["message"]["body"] == "ok"
    assert list(Message.objects.values_list("message", flat=True)) == ["ok"]


def test_the_user_socket_refuses_conversation_frames_clearly(pair):
    buyer, _seller, _conversation = pair

    async def scenario():
        ws = await socket(buyer)
        assert (await ws.connect())[0]
        await send(ws, "Hi")
        error = await first(ws, "error")
        await ws.disconnect()
        return error

    assert run(scenario)["message"] == "Open a conversation to send or read messages."
    assert not Message.objects.exists()


def test_the_rate_limit_per_sender_holds_with_a_clear_error_frame(pair, settings):
    settings.MESSAGE_RATE_PER_MINUTE = 3
    buyer, seller, conversation = pair
    other_conversation, _ = conversation_open(buyer=buyer, seller=SellerFactory())

    async def scenario():
        ws, other_ws, seller_ws = (
            await socket(buyer, conversation),
            await socket(buyer, other_conversation),
            await socket(seller, conversation),
        )
        for each in (ws, other_ws, seller_ws):
            await each.connect()
        acks = []
        for n in range(3):
            await send(ws, f"message {n}")
            acks.append(await first(ws, "ack"))
        refused_id = await send(ws, "one too many")
        error = await first(ws, "error")
        await send(other_ws, "another conversation, same sender")  # the limit is per sender
        other_error = await first(other_ws, "error")
        await send(seller_ws, "the other party is not limited")
        seller_ack = await first(seller_ws, "ack")
        for each in (ws, other_ws, seller_ws):
            await each.disconnect()
        return acks, refused_id, error, other_error, seller_ack

    acks, refused_id, error, other_error, seller_ack = run(scenario)
    assert [ack["created"] for ack in acks] == [True, True, True]
    assert (error["code"], error["client_id"]) == ("rate_limited", refused_id)
    assert "up to 3 messages a minute" in error["message"]
    assert other_error["code"] == "rate_limited"
    assert seller_ack["created"] is True
    assert Message.objects.filter(sender=buyer).count() == 3


def test_a_retried_client_id_is_stored_once_and_delivered_once(pair):
    buyer, seller, conversation = pair
    client_id = uuid.uuid4()

    async def scenario():
        buyer_ws, seller_ws = await socket(buyer, conversation), await socket(seller, conversation)
        await buyer_ws.connect()
        await seller_ws.connect()
        await send(buyer_ws, "Can you ship it?", client_id)
        first_ack = await first(buyer_ws, "ack")
        await buyer_ws.disconnect()
        # The page reconnects and sends what it had in flight again, with the same id.
        again = await socket(buyer, conversation)
        await again.connect()
        await send(again, "Can you ship it?", client_id)
        second_ack = await first(again, "ack")
        received = await frames(seller_ws)
        await again.disconnect()
        await seller_ws.disconnect()
        return first_ack, second_ack, received

    first_ack, second_ack, received = run(scenario)
    assert (first_ack["created"], second_ack["created"]) == (True, False)
    assert first_ack["message"]["id"] == second_ack["message"]["id"]
    assert Message.objects.filter(client_id=client_id).count() == 1
    assert [frame["message"]["id"] for frame in received if frame["type"] == "message"] == [
        first_ack["message"]["id"]
    ]


def test_catch_up_after_a_reconnect_returns_the_missed_messages_once(pair):
    buyer, seller, conversation = pair
    seen = say(conversation, buyer, "before")

    async def scenario():
        seller_ws = await socket(seller, conversation)
        await seller_ws.connect()
        await seller_ws.disconnect()  # the seller's connection drops

        # Meanwhile the buyer writes (by form, or from another socket).
        def write():
            return [str(say(conversation, buyer, f"missed {n}").pk) for n in range(3)]

        missed = await sync_to_async(write)()
        back = await socket(seller, conversation)
        await back.connect()
        await back.send_json_to({"type": "catch_up", "after": str(seen.pk)})
        caught = await first(back, "catch_up")
        # A message sent right after the catch-up arrives live, and a repeated catch-up (the
        # page reconnecting again) is answered from the database again: the page dedupes by id.
        buyer_ws = await socket(buyer, conversation)
        await buyer_ws.connect()
        await send(buyer_ws, "live")
        live = await first(back, "message")
        await back.send_json_to({"type": "catch_up", "after": missed[-1]})
        again = await first(back, "catch_up")
        rest = await frames(back)
        await back.disconnect()
        await buyer_ws.disconnect()
        return missed, caught, live, again, rest

    missed, caught, live, again, rest = run(scenario)
    ids = [payload["id"] for payload in caught["messages"]]
    # Oldest first, each once. The answer re-sends a few seconds before the anchor (a message
    # committed late can carry an earlier time: messaging.selectors.CATCH_UP_OVERLAP): only what
    # the page had already, which it drops by id.
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in missed] == missed
    assert set(ids) - set(missed) <= {str(seen.pk)}
    assert [p["body"] for p in caught["messages"] if p["id"] in missed] == [
        "missed 0",
        "missed 1",
        "missed 2",
    ]
    assert caught["more"] is False
    assert live["message"]["body"] == "live"
    assert [payload["body"] for payload in again["messages"]][-1] == "live"
    assert rest == []  # nothing else, in particular no second copy of the live message
    shown = ids + [live["message"]["id"]]
    shown += [payload["id"] for payload in again["messages"] if payload["id"] not in shown]
    stored = Message.objects.values_list("pk", flat=True)
    assert sorted(shown) == sorted(str(pk) for pk in stored)


def test_catch_up_without_an_anchor_returns_the_newest_messages(pair):
    buyer, seller, conversation = pair
    stored = [str(say(conversation, buyer, f"m{n}").pk) for n in range(3)]

    async def scenario():
        ws = await socket(seller, conversation)
        await ws.connect()
        await ws.send_json_to({"type": "catch_up", "after": None})
        caught = await first(ws, "catch_up")
        await ws.disconnect()
        return caught

    assert [payload["id"] for payload in run(scenario)["messages"]] == stored


def test_a_restarted_channel_layer_redis_closes_the_sockets_so_that_pages_resubscribe(pair, settings):
    """A Redis restarted without its data forgets every group: the process's sockets would stay
    open and deaf. The watcher sees the epoch it stored gone and closes them with 1012 (the
    page reconnects and catches up); a Redis that kept its data closes nothing."""
    settings.MESSAGE_SOCKET_WATCH_SECONDS = 0.2
    buyer, seller, conversation = pair

    async def scenario():
        buyer_ws, seller_ws = await socket(buyer, conversation), await socket(seller, conversation)
        await buyer_ws.connect()
        await seller_ws.connect()
        kept = await buyer_ws.receive_nothing(timeout=0.6)  # same epoch: nothing happens
        watch = consumers.redis_watch  # the consumers' own (one per process)
        await watch.client().delete(watch.key())  # "restart"
        closed = [await ws.receive_output(timeout=3) for ws in (buyer_ws, seller_ws)]
        return kept, closed

    kept, closed = run(scenario)
    assert kept is True
    assert closed == [{"type": "websocket.close", "code": 1012}] * 2


def test_sockets_are_closed_once_an_unreachable_channel_layer_redis_answers_again(
    pair, settings, monkeypatch
):
    """Pub/sub keeps nothing for a subscriber that was cut off: after an epoch check that
    failed (Redis down or out of reach), the sockets are closed as soon as Redis answers again,
    so that the pages reconnect and catch up what was published meanwhile."""
    settings.MESSAGE_SOCKET_WATCH_SECONDS = 0.2
    buyer, seller, conversation = pair
    watch = consumers.redis_watch
    real_read = consumers.RedisWatch._read_epoch
    down = {"checks": 0}

    async def read_epoch(self):
        if down["checks"] < 2:
            down["checks"] += 1
            raise ConnectionError("Redis is down")
        return await real_read(self)

    async def scenario():
        buyer_ws = await socket(buyer, conversation)
        await buyer_ws.connect()
        kept = await buyer_ws.receive_nothing(timeout=0.3)
        monkeypatch.setattr(consumers.RedisWatch, "_read_epoch", read_epoch)
        closed = await buyer_ws.receive_output(timeout=3)
        return kept, closed, watch.missed

    kept, closed, missed_after = run(scenario)
    assert kept is True
    assert down["checks"] == 2  # closed only after the checks that failed, once one succeeded
    assert closed == {"type": "websocket.close", "code": 1012}
    assert missed_after is False


def test_a_purchase_while_the_conversation_is_open_unmasks_the_next_message_live(pair):
    """The socket asks once whether the two have traded and keeps the answer; the payment's
    ``order_paid`` hook tells the open sockets, so the next message arrives unmasked."""
    buyer, seller, conversation = pair
    details = "Write to sam.seller@example.com"

    async def scenario():
        buyer_ws = await socket(buyer, conversation)
        await buyer_ws.connect()
        await sync_to_async(say)(conversation, seller, details)
        before = await first(buyer_ws, "message")
        listing = await sync_to_async(ListingFactory)(seller=seller)
        order = await sync_to_async(TransactionFactory)(
            buyer=buyer, listing=listing, status=Transaction.Status.PROCESSING
        )
        await sync_to_async(payments_hooks.order_paid)(order)  # as the payment service fires it
        await sync_to_async(say)(conversation, seller, details)
        after = await first(buyer_ws, "message")
        await buyer_ws.disconnect()
        return before, after

    before, after = run(scenario)
    assert "sam.seller@example.com" not in before["message"]["body"]
    assert after["message"]["body"] == details
