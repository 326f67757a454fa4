"""Live messaging over WebSockets (Channels).

Two routes, one consumer:

- ``ws/messages/<conversation_id>/``: the conversation page. Sends messages, catches up from
  the database, receives the conversation's new messages (as that viewer sees them: masking
  differs per viewer) and read receipts, and the viewer's unread count for the header badge.
- ``ws/messages/``: every other page of a signed-in member: the header badge and the inbox,
  live.

The socket authenticates by the session (``AuthMiddlewareStack``), the handshake's Origin is
checked by ``AllowedHostsOriginValidator`` (``marketplace/asgi.py``), and a conversation
socket is accepted only for someone the page itself would show the conversation to
(``access_conversation``). Writing goes through ``message_send`` (validation, the per-sender
rate limit, idempotency per client id); the broadcast is the service's own after-commit
group send, so a message is always persisted before anyone hears of it. Nothing is lost: the
client asks for everything after the last message it showed on every (re)connect
(``catch_up``), answered from the database.

Frames from the client (JSON):
  ``{"type": "send", "client_id": "<uuid>", "body": "..."}``
  ``{"type": "catch_up", "after": "<message id>" | null}``
  ``{"type": "read"}`` (the viewer saw the conversation's messages)
Frames to the client:
  ``{"type": "message", "message": {...}}`` (a new message of this conversation)
  ``{"type": "ack", "client_id": ..., "message": {...}, "created": bool}``
  ``{"type": "catch_up", "messages": [...], "more": bool}``
  ``{"type": "seen", "reader_id": ..., "read_at": ...}`` (the other party read: "Seen")
  ``{"type": "inbox", "conversation_id": ..., "unread": n}`` (another conversation moved)
  ``{"type": "unread", "unread": n}``
  ``{"type": "notifications", "count": n}`` (the header's unread-notifications badge)
  ``{"type": "error", "code": ..., "message": ..., "client_id": ...}``
"""

import asyncio
import contextlib
import json
import logging
import uuid
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.http import Http404

from marketplace.errors import ErrorCode, ServiceError
from messaging.services import clean_message_body, user_group

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's): the client does not retry these.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_SERVICE_RESTART = 1012  # the client reconnects (and catches up)
RECENT_IDS = 256  # message ids forwarded lately (acknowledged, caught up or pushed): sent once


_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per process, made on first use
    if _pool is None:
        _pool = ThreadPoolExecutor(
            max_workers=settings.MESSAGE_SOCKET_DB_THREADS, thread_name_prefix="messaging-socket"
        )
    return _pool


def off_the_event_loop(method):
    """Run a database method in the sockets' own thread pool (``MESSAGE_SOCKET_DB_THREADS``
    threads), not Channels' default single thread shared by every socket of the process: one
    slow query or group send no longer holds up every other socket. Each thread keeps its own
    connection (``DB_CONN_MAX_AGE``); each method is self-contained (no transaction spans two
    calls)."""

    async def call(self, *args):
        return await DatabaseSyncToAsync(method, thread_sensitive=False, executor=_executor())(self, *args)

    call.__name__ = method.__name__
    return call


class RedisWatch:
    """One watcher per server process (per event loop): notices that the channel layer's Redis
    restarted or was out of reach, and closes the process's sockets with 1012 ("service
    restart"). A pub/sub subscription delivers nothing published while it was down, and a Redis
    restarted without its data forgot every group; the pages reconnect, join their groups again
    and catch up from the database: nothing is lost.

    How: a random epoch stored in Redis (SET NX), read again at every connect and every
    ``MESSAGE_SOCKET_WATCH_SECONDS`` on a connection of the watcher's own; a different value
    means a new Redis, and a read that failed means the subscriptions may have missed messages:
    the sockets that joined before it are closed once Redis answers again."""

    KEY = "messaging:epoch"

    def __init__(self):
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.task: asyncio.Task | None = None
        self.epoch: bytes | None = None
        self.missed = False
        self._redis = None

    @staticmethod
    def watched() -> bool:
        """Whether the channel layer lives in Redis (channels_redis's layers and ours built on them)."""
        from channels.layers import get_channel_layer
        from channels_redis.core import RedisChannelLayer
        from channels_redis.pubsub import RedisPubSubChannelLayer

        return isinstance(get_channel_layer(), RedisChannelLayer | RedisPubSubChannelLayer)

    def key(self) -> str:
        return f"{settings.CHANNEL_LAYERS['default']['CONFIG'].get('prefix', 'asgi')}:{self.KEY}"

    def client(self):
        """The watcher's Redis client (the channel layer's first host), made in this loop."""
        if self._redis is None:
            from channels_redis.utils import create_pool, decode_hosts
            from redis import asyncio as aioredis

            host = decode_hosts(settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"])[0]
            self._redis = aioredis.Redis(connection_pool=create_pool(host))
        return self._redis

    async def _read_epoch(self) -> bytes | None:
        client = self.client()
        await client.set(self.key(), uuid.uuid4().hex, nx=True)
        return await client.get(self.key())

    async def join(self, consumer) -> None:
        if not self.watched():  # an in-memory layer: no Redis to watch
            return
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.epoch, self.missed, self._redis = None, False, None
            self.sockets = weakref.WeakSet()
            self.task = loop.create_task(self._watch())
        # Checked at every connect too: a Redis restarted since the last check is noticed here
        # first, and the sockets joined before it are closed, not this new one.
        epoch = await self._read_epoch()
        if (self.epoch is not None and epoch != self.epoch) or self.missed:
            await self._restarted(epoch)
        self.epoch = epoch
        self.sockets.add(consumer)

    async def _restarted(self, epoch) -> None:
        logger.warning("channel layer Redis restarted or was unreachable: closing this process's sockets")
        self.epoch, self.missed = epoch, False
        for consumer in list(self.sockets):
            self.sockets.discard(consumer)
            with contextlib.suppress(Exception):
                await consumer.close(code=CLOSE_SERVICE_RESTART)

    def leave(self, consumer) -> None:
        self.sockets.discard(consumer)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(settings.MESSAGE_SOCKET_WATCH_SECONDS)
            if not self.sockets:
                continue
            try:
                epoch = await self._read_epoch()
            except Exception:
                # Down: what was published meanwhile never reached these sockets. Closed (to
                # catch up) once Redis answers again; a socket that reconnects sooner is
                # refused by its own subscribe until then.
                logger.warning("channel layer Redis did not answer the epoch check", exc_info=True)
                self.missed = True
                continue
            if epoch != self.epoch or self.missed:
                await self._restarted(epoch)


redis_watch = RedisWatch()


class MessagesConsumer(AsyncWebsocketConsumer):
    conversation = None
    staff_reader = False

    async def dispatch(self, message):
        """Channels' dispatch without its ``aclose_old_connections()`` before every frame and
        event: that is a hop to the process's one sync thread, shared by every socket, to close
        that thread's database connections, which this consumer never uses (its database work
        runs in its own pool, ``off_the_event_loop``, whose calls close their own). At 200
        messages a second each delivery queued behind the others there."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        conversation_id = self.scope["url_route"]["kwargs"].get("conversation_id")
        if conversation_id is not None:
            self.conversation = await self._access(conversation_id)
            if self.conversation is None:
                await self.close(code=CLOSE_NOT_FOUND)
                return
        # A participant's user group carries every message and read receipt of each of their
        # conversations (the service sends to both participants' groups): one copy per socket.
        # Staff reading a conversation they are no party to listen on both participants' groups
        # and keep only this conversation's events (a conversation group of its own would cost
        # every message a third publish, for the rare staff reader).
        self.groups_joined = [user_group(user.pk)]
        self.staff_reader = self.conversation is not None and user.pk not in (
            self.conversation.buyer_id,
            self.conversation.seller_id,
        )
        if self.staff_reader:
            self.groups_joined = [
                user_group(self.conversation.buyer_id),
                user_group(self.conversation.seller_id),
            ]
        await redis_watch.join(self)  # before joining the groups: see RedisWatch.join
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.recent: OrderedDict[str, None] = OrderedDict()
        self.sending: set[str] = set()  # client ids of this socket's sends not yet acknowledged
        await self.accept()

    async def disconnect(self, code):
        redis_watch.leave(self)
        for group in getattr(self, "groups_joined", ()):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # a Redis that went away: its groups went with it
                logger.warning("group_discard %s failed", group, exc_info=True)

    # --- frames from the client -----------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = json.loads(text_data) if text_data is not None else None
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            await self._error(ErrorCode.INVALID, "Each frame must be a JSON object.")
            return
        kind = frame.get("type")
        if self.conversation is None:
            await self._error(ErrorCode.INVALID, "Open a conversation to send or read messages.")
        elif kind == "send":
            await self._send_message(frame)
        elif kind == "catch_up":
            await self._catch_up(frame)
        elif kind == "read":
            await self._read()
        else:
            await self._error(ErrorCode.INVALID, f"Unknown frame type {kind!r}.")

    async def _send_message(self, frame):
        raw_client_id = frame.get("client_id")
        try:
            client_id = uuid.UUID(str(raw_client_id))
        except ValueError:
            await self._error(ErrorCode.INVALID, "client_id must be a UUID.", client_id=raw_client_id)
            return
        body = frame.get("body")
        if not isinstance(body, str):
            await self._error(ErrorCode.INVALID, "body must be text.", client_id=str(client_id))
            return
        try:  # the service's own rule (blank, MESSAGE_MAX_CHARS), checked before the database
            clean_message_body(body)
        except ServiceError as error:
            await self._error(error.code, error.message, client_id=str(client_id))
            return
        # The live push of this message may reach this socket (its member's user group) before
        # the acknowledgement is sent: the ack carries it, the push is dropped (message_new).
        self.sending.add(str(client_id))
        try:
            payload, created = await self._store(body, client_id)
        except ServiceError as error:
            await self._error(error.code, error.message, client_id=str(client_id))
            return
        finally:
            self.sending.discard(str(client_id))
        self._remember(payload["id"])
        await self._send({"type": "ack", "client_id": str(client_id), "message": payload, "created": created})

    async def _catch_up(self, frame):
        after = frame.get("after") or None
        if after is not None:
            try:
                after = uuid.UUID(str(after))
            except ValueError:
                await self._error(ErrorCode.INVALID, "after must be a message id.")
                return
        payloads, more = await self._messages_after(after)
        for payload in payloads:
            self._remember(payload["id"])
        await self._send({"type": "catch_up", "messages": payloads, "more": more})

    async def _read(self):
        # The service announces the read after commit (conversation.read, below).
        await self._mark_read()

    # --- group events (sent after commit by the services) ---------------------------------

    async def message_new(self, event):
        message = event.get("message") or {}
        message_id = str(message.get("id", ""))
        conversation_id = str(message.get("conversation_id", ""))
        if self.conversation is not None and conversation_id == str(self.conversation.pk):
            if message_id in self.recent or str(message.get("client_id")) in self.sending:
                return  # already shown (acknowledged or caught up), or being acknowledged now
            self._remember(message_id)
            await self._send({"type": "message", "message": await self._payload(message)})
        elif self.staff_reader:  # another conversation of the members staff are reading
            return
        elif str(message.get("sender_id")) != str(self.user.pk):
            if message_id in self.recent:
                return
            self._remember(message_id)
            await self._send(
                {"type": "inbox", "conversation_id": conversation_id, "unread": await self._unread()}
            )

    async def conversation_read(self, event):
        """The conversation's or the viewer's own read: "Seen" for the other side, the badge
        for the reader (every socket of theirs)."""
        if str(event.get("reader_id")) == str(self.user.pk):
            await self._send({"type": "unread", "unread": await self._unread()})
        elif self.staff_reader and str(event.get("conversation_id")) != str(self.conversation.pk):
            return
        elif self.conversation is not None and str(event.get("conversation_id")) == str(self.conversation.pk):
            await self._send(
                {"type": "seen", "reader_id": event["reader_id"], "read_at": event.get("read_at")}
            )

    async def notification_count(self, event):
        """``notifications.badge`` pushes the member's unread-notifications count (after commit)
        on their user group: every page's socket updates the header badge (not a staff
        reader's socket, which hears the participants' groups)."""
        if self.staff_reader:
            return
        await self._send({"type": "notifications", "count": int(event.get("count") or 0)})

    # --- helpers ----------------------------------------------------------------------------

    def _remember(self, message_id):
        self.recent[str(message_id)] = None
        self.recent.move_to_end(str(message_id))
        while len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)

    async def _send(self, frame):
        await self.send(text_data=json.dumps(frame, default=str))

    async def _error(self, code, message, *, client_id=None):
        await self._send({"type": "error", "code": str(code), "message": message, "client_id": client_id})

    @off_the_event_loop
    def _access(self, conversation_id):
        from messaging.selectors import access_conversation

        try:
            conversation = access_conversation(self.user, conversation_id)
        except Http404:
            return None
        # Whether the two have traded, asked here on the connect's own thread and kept (see
        # contact_shared below): asked at the first delivery instead, a thousand sockets opened
        # at once each cost one more trip to the pool.
        self._contact_shared_of(conversation)
        return conversation

    def _viewer_payload(self, message) -> dict:
        from messaging.selectors import display_name, message_payload

        message.conversation = self.conversation  # masking asks the pair, cached on it
        payload = message_payload(message, self.user)
        conversation = self.conversation
        sender = (
            conversation.buyer
            if str(message.sender_id) == str(conversation.buyer_id)
            else conversation.seller
        )
        payload["sender_name"] = display_name(sender)
        return payload

    @off_the_event_loop
    def _store(self, body, client_id):
        from messaging.services import message_send

        message, created = message_send(
            conversation=self.conversation, sender=self.user, body=body, client_id=client_id
        )
        return self._viewer_payload(message), created

    @off_the_event_loop
    def _messages_after(self, after):
        from messaging.selectors import CATCH_UP_LIMIT, messages_after

        messages = messages_after(conversation=self.conversation, viewer=self.user, after_id=after)
        return [self._viewer_payload(message) for message in messages], len(messages) >= CATCH_UP_LIMIT

    async def contact_shared(self, event):
        """The two members traded (``messaging.subscribers.announce_contact_shared``): nothing
        is masked between them from now on."""
        conversation = self.conversation
        if conversation is not None and {str(event.get("buyer_id")), str(event.get("seller_id"))} == {
            str(conversation.buyer_id),
            str(conversation.seller_id),
        }:
            conversation._contact_shared = True

    async def _payload(self, data):
        """The event's message as this viewer sees it (masking differs per viewer). The event
        carries the message, and the pair's "have traded" answer is asked once per socket (in a
        thread) and kept on the conversation until a ``contact.shared`` event: a delivery needs
        no query and no thread."""
        from messaging.selectors import message_from_event

        if self._masks() and getattr(self.conversation, "_contact_shared", None) is None:
            await self._warm_contact_shared()
        try:
            return self._viewer_payload(message_from_event(data))
        except SynchronousOnlyOperation:  # the payload needed the database after all
            return await self._payload_in_thread(data)

    @off_the_event_loop
    def _warm_contact_shared(self):
        self._contact_shared_of(self.conversation)

    def _masks(self) -> bool:
        """Whether this viewer can see masked messages at all (``messaging.masking``)."""
        return settings.MESSAGE_MASK_CONTACT_DETAILS and not self.user.is_staff

    def _contact_shared_of(self, conversation) -> None:
        from messaging.masking import contact_shared

        if conversation is not None and self._masks():
            contact_shared(conversation)  # the pair's answer, cached on the conversation

    @off_the_event_loop
    def _payload_in_thread(self, data):
        from messaging.selectors import message_from_event

        return self._viewer_payload(message_from_event(data))

    @off_the_event_loop
    def _mark_read(self):
        from messaging.services import conversation_mark_read

        if self.user.pk in (self.conversation.buyer_id, self.conversation.seller_id):
            conversation_mark_read(conversation=self.conversation, reader=self.user)

    @off_the_event_loop
    def _unread(self):
        from messaging.selectors import unread_count

        return unread_count(self.user)
