"""Analytics events: ``track`` buffers in Redis, ``flush_events`` writes batches with COPY.

A page never waits on the events table: :func:`track` pushes one JSON line onto a Redis list
(one round trip) and returns; a periodic job (``analytics.flush_events``) moves them into the
partitioned ``analytics_event`` table. A Redis failure in ``track`` is logged and the event
dropped: the page is unaffected.

Exactly once: each event gets a ``uid`` (UUID) and its ``created_at`` when it happens. A flush
moves a batch atomically from the buffer to a processing list, COPYs it into a temporary
table and inserts it with ``ON CONFLICT (uid, created_at) DO NOTHING``, then deletes the
processing list. A flush that dies at any point leaves the batch in the processing list; the
next flush inserts it again and the rows already in are skipped.

Privacy: client addresses are stored truncated by default (``ANALYTICS_TRUNCATE_IP``: the last
octet of IPv4, the last 80 bits of IPv6). A request with ``Sec-GPC: 1`` (Global Privacy
Control) is only counted: the row keeps the event name, the time, and ``{"gpc": true}`` in
properties; no user, session, address, user agent, page, referrer or other property.
"""

import hashlib
import ipaddress
import json
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_redis import get_redis_connection

logger = logging.getLogger(__name__)


class EventName(StrEnum):
    LISTING_VIEWED = "listing_viewed"
    SEARCH = "search"  # properties: query, filters, result_count
    FAVORITE_ADDED = "favorite_added"
    FAVORITE_REMOVED = "favorite_removed"
    CONTACT_STARTED = "contact_started"
    CHECKOUT_STARTED = "checkout_started"
    ORDER_PAID = "order_paid"


EVENT_NAMES = frozenset(EventName)
# Redis lists (under the cache's key prefix): events waiting, and the batch being flushed.
BUFFER_KEY = "analytics-events"
PROCESSING_KEY = "analytics-events:processing"
# pg_advisory_lock key: the bytes of "track" read as an integer.
FLUSH_LOCK_KEY = int.from_bytes(b"track", "big")
USER_AGENT_MAX = 512
COLUMNS = (
    "uid",
    "created_at",
    "event_name",
    "event_category",
    "user_id",
    "session_id",
    "page_url",
    "referrer_url",
    "user_agent",
    "ip_address",
    "properties",
)
# Moves up to ARGV[1] events from the buffer's head to the processing list, atomically, unless
# the processing list still holds a batch (a flush that died): then it is flushed first.
_TAKE_BATCH = """
if redis.call('LLEN', KEYS[2]) > 0 then return redis.call('LLEN', KEYS[2]) end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return 0 end
for i = 1, #items, 1000 do  -- unpack() is limited to a few thousand values
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('LTRIM', KEYS[1], #items, -1)
return #items
"""


def _redis():
    return get_redis_connection("default")


def truncate_ip(address: str | None) -> str | None:
    """``203.0.113.57`` -> ``203.0.113.0``; IPv6 keeps its first 48 bits. None for junk."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if not settings.ANALYTICS_TRUNCATE_IP:
        return str(ip)
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def _without_query(url: str) -> str:
    """A referrer without its query and fragment (they carry other sites' search terms, tokens)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))[:2000]


def _page_url(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    # A URL that carries a secret (an unlisted listing's share token) is stored as its route.
    if match is not None and any("token" in name for name in match.kwargs):
        return "/" + match.route
    return request.path[:2000]


def _session_id(request: HttpRequest) -> str | None:
    """A stable pseudonym of the session cookie (never the key itself: it logs one in)."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if not key:
        return None
    return str(uuid.UUID(bytes=hashlib.sha256(f"{settings.SECRET_KEY}:{key}".encode()).digest()[:16]))


def global_privacy_control(request: HttpRequest) -> bool:
    return request.headers.get("Sec-GPC", "").strip() == "1"


def build_event(request_or_user, name: str, properties: dict) -> dict:
    """The buffered form of one event (a JSON-ready dict with ``COLUMNS``' keys)."""
    event = {
        "uid": str(uuid.uuid4()),
        "created_at": timezone.now().isoformat(),
        "event_name": str(name),
        "event_category": "",
        "user_id": None,
        "session_id": None,
        "page_url": "",
        "referrer_url": "",
        "user_agent": "",
        "ip_address": None,
        "properties": properties,
    }
    if isinstance(request_or_user, HttpRequest):
        request = request_or_user
        if global_privacy_control(request):
            event["properties"] = {"gpc": True}
            return event
        user = getattr(request, "user", None)
        event.update(
            session_id=_session_id(request),
            page_url=_page_url(request),
            referrer_url=_without_query(request.headers.get("Referer", "")),
            user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
            ip_address=truncate_ip(request.META.get("REMOTE_ADDR")),
        )
    else:
        user = request_or_user
    if user is not None and getattr(user, "is_authenticated", False):
        event["user_id"] = str(user.pk)
    return event


def track(request_or_user, name: str, **properties) -> None:
    """Record the event ``name`` (one of :class:`EventName`) for a request, a user, or nobody.

    ``request_or_user``: an ``HttpRequest`` (its user, a pseudonym of its session, the page
    path, the referrer without query, the user agent and the truncated client address are
    kept; with ``Sec-GPC: 1`` none of them, see the module docstring), a user, or None.
    ``properties``: JSON-serialisable keyword arguments (UUIDs, decimals and dates become
    strings), stored in the ``properties`` JSONB column.

    Never raises: an unknown name, properties that are not JSON, or a Redis error are logged
    (logger ``analytics.tracking``) and the event is dropped. One Redis round trip; no
    database access (beyond loading ``request.user`` if nothing did yet). Takes no lock.
    """
    try:
        with _redis().pipeline(transaction=False) as pipe:
            if queue_event(pipe, request_or_user, name, **properties):
                pipe.execute()
    except Exception as error:  # noqa: BLE001 - analytics must never break a page
        event_dropped(name, error)


def event_dropped(name: str, error: Exception) -> None:
    """Log an event lost to ``error`` (Redis down, properties that are not JSON)."""
    # One line, no traceback: with Redis down this is logged on every page view.
    logger.warning("analytics: event %r dropped: %r", str(name), error)


def queue_event(pipe, request_or_user, name: str, **properties) -> bool:
    """Add the event's commands (RPUSH to the buffer, LTRIM to its bound) to ``pipe``, a Redis
    pipeline the caller executes with its own commands: one round trip for both (the listing
    page counts its view this way). Arguments and what is kept as for ``track``.

    False, the event dropped and logged, when the name is unknown or the properties are not
    JSON; never raises. The caller's ``execute`` may raise ``RedisError``: the event is then
    lost, as ``track`` loses it, and the caller says so with ``event_dropped``."""
    try:
        if name not in EVENT_NAMES:
            logger.error("analytics: unknown event name %r dropped", str(name))
            return False
        line = json.dumps(build_event(request_or_user, name, properties), cls=DjangoJSONEncoder)
    except Exception as error:  # noqa: BLE001 - analytics must never break a page
        event_dropped(name, error)
        return False
    pipe.rpush(cache.make_key(BUFFER_KEY), line)
    # Bounded: with the flush job down, the oldest events go first.
    pipe.ltrim(cache.make_key(BUFFER_KEY), -settings.ANALYTICS_BUFFER_MAX, -1)
    return True


def buffered_count() -> int:
    """Events waiting in Redis (the buffer and a batch being flushed)."""
    redis = _redis()
    return redis.llen(cache.make_key(BUFFER_KEY)) + redis.llen(cache.make_key(PROCESSING_KEY))


@dataclass
class FlushResult:
    batches: int = 0
    read: int = 0  # events taken from Redis (malformed lines included)
    inserted: int = 0  # rows new to the events table
    malformed: int = 0
    skipped: bool = False  # another flush held the lock


def _row(line: bytes | str) -> tuple | None:
    try:
        event = json.loads(line)
        if event["event_name"] not in EVENT_NAMES:
            raise ValueError(event["event_name"])
        row = tuple(event.get(column) for column in COLUMNS)
        uuid.UUID(event["uid"])
        return row[:-1] + (json.dumps(event.get("properties") or {}),)
    except (ValueError, KeyError, TypeError):
        logger.warning("analytics: malformed buffered event skipped: %r", line[:200])
        return None


def _insert(rows: list[tuple]) -> int:
    """COPY the rows into a temporary table, then insert the ones not yet in (one transaction)."""
    columns = ", ".join(COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        # The events table's own types (a LIKE would copy id's NOT NULL, which COPY lacks).
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS analytics_event_incoming ("
            "uid uuid NOT NULL, created_at timestamptz NOT NULL, event_name varchar(100) NOT NULL, "
            "event_category varchar(50) NOT NULL, user_id uuid, session_id uuid, page_url text NOT NULL, "
            "referrer_url text NOT NULL, user_agent text NOT NULL, ip_address inet, properties jsonb NOT NULL"
            ") ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE analytics_event_incoming")
        with cursor.copy(f"COPY analytics_event_incoming ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # A member deleted since the event was tracked: the event stays, without the user.
        selected = ", ".join(
            "account.id" if column == "user_id" else f"incoming.{column}" for column in COLUMNS
        )
        cursor.execute(
            f"INSERT INTO analytics_event ({columns}) "  # noqa: S608 - constant column names
            f"SELECT DISTINCT ON (incoming.uid, incoming.created_at) {selected} "
            "FROM analytics_event_incoming incoming "
            "LEFT JOIN accounts_user account ON account.id = incoming.user_id "
            "ON CONFLICT (uid, created_at) DO NOTHING"
        )
        return cursor.rowcount


def flush_events(*, batch_size: int | None = None, max_batches: int | None = None) -> FlushResult:
    """Move buffered events into ``analytics_event``, ``batch_size`` a transaction.

    Safe to run twice at once (a session-level ``pg_try_advisory_lock``: the second run
    returns ``skipped``) and to retry after any failure: an event is inserted once (its
    ``(uid, created_at)`` is unique). Stops when the buffer is empty or after ``max_batches``.
    Raises what Redis or PostgreSQL raise (the job retries); the batch stays in Redis.
    Run it outside a transaction (the job does): each batch commits before it leaves Redis.
    """
    batch_size = batch_size or settings.ANALYTICS_FLUSH_BATCH
    result = FlushResult()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [FLUSH_LOCK_KEY])
        if not cursor.fetchone()[0]:
            result.skipped = True
            return result
    try:
        redis = _redis()
        take = redis.register_script(_TAKE_BATCH)
        buffer, processing = cache.make_key(BUFFER_KEY), cache.make_key(PROCESSING_KEY)
        while max_batches is None or result.batches < max_batches:
            if not take(keys=[buffer, processing], args=[batch_size]):
                break
            lines = redis.lrange(processing, 0, -1)
            rows = [row for row in map(_row, lines) if row is not None]
            result.malformed += len(lines) - len(rows)
            if rows:
                result.inserted += _insert(rows)
            redis.delete(processing)  # only once the rows are committed
            result.batches += 1
            result.read += len(lines)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [FLUSH_LOCK_KEY])
    return result
