"""View counts without a write per view (errata 7): each view is an HINCRBY in Redis, and a
flush (the ``flush_view_counts`` command, on the job schedule) moves the counts into
``listings_listing.view_count`` in batches, exactly once."""

import logging
import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django_redis import get_redis_connection
from redis.exceptions import RedisError, ResponseError

from analytics.tracking import event_dropped, queue_event
from listings.models import Listing

logger = logging.getLogger(__name__)

# Pending views: a Redis hash, listing id -> views since the last flush.
VIEWS_KEY = "listing-views"
# A flush renames the hash to VIEWS_KEY + ":processing:<time_ns>-<hex>" and deletes it once
# the counts are in the database; the hash also records the id of the database transaction
# that applied it, under this field.
PROCESSING_INFIX = ":processing:"
TXID_FIELD = "_txid"
# pg_advisory_lock key: the bytes of "views" read as an integer.
FLUSH_LOCK_KEY = int.from_bytes(b"views", "big")


def _redis():
    return get_redis_connection("default")


def listing_view_record(listing_id, *, event: tuple | None = None) -> None:
    """Count one view of the listing page: an HINCRBY in Redis, no database write.

    ``event``: ``(request, name, properties)`` of an analytics event sent in the same round
    trip (``analytics.tracking.queue_event``); lost (Redis down, its push refused), it is
    logged as ``track`` logs it. With Redis unavailable, or the HINCRBY refused, the view is
    added to the row at once instead (a hot-row write, only for the outage), so no view is
    lost and the page still answers. Each command's own answer decides its fate."""
    queued = False
    try:
        with _redis().pipeline(transaction=False) as pipe:
            pipe.hincrby(cache.make_key(VIEWS_KEY), str(listing_id), 1)
            if event is not None:
                request, name, properties = event
                queued = queue_event(pipe, request, name, **properties)
            answers = pipe.execute(raise_on_error=False)
    except RedisError as error:
        answers = [error] * 3
    if queued and (failed := next((a for a in answers[1:] if isinstance(a, Exception)), None)):
        event_dropped(name, failed)
    if isinstance(answers[0], Exception):
        logger.warning("view counts: Redis unavailable, view of %s written to the database", listing_id)
        Listing.objects.filter(pk=listing_id).update(view_count=F("view_count") + 1)


@dataclass
class FlushResult:
    batches: int = 0
    listings: int = 0
    views: int = 0


def _parse_counts(raw: dict) -> tuple[list[uuid.UUID], list[int]]:
    counts: dict[uuid.UUID, int] = {}
    for field, value in raw.items():
        field = field.decode() if isinstance(field, bytes) else field
        if field == TXID_FIELD:
            continue
        try:
            listing_id, views = uuid.UUID(field), int(value)
        except ValueError:
            logger.warning("view counts: skipped malformed entry %r=%r", field, value)
            continue
        if views > 0:
            counts[listing_id] = counts.get(listing_id, 0) + views
    ids = sorted(counts)  # a stable lock order against other multi-row writers
    return ids, [counts[listing_id] for listing_id in ids]


def _applying_transaction_status(raw: dict) -> str | None:
    """``pg_xact_status`` of the transaction that applied (or tried to apply) a batch: None
    for a batch nobody tried, else "committed", "aborted" or "in progress"."""
    txid = raw.get(TXID_FIELD.encode(), raw.get(TXID_FIELD))
    if txid is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_xact_status(%s::text::xid8)", [txid.decode() if isinstance(txid, bytes) else txid]
        )
        return cursor.fetchone()[0]


def _apply_batch(key: str, result: FlushResult) -> None:
    """Apply one processing hash to ``view_count`` and delete it, exactly once.

    The transaction that applies the counts writes its id into the hash before it commits.
    A hash left by a crash is therefore decided by ``pg_xact_status``: committed means its
    counts are in (only the DEL was lost), aborted means they are not. (PostgreSQL forgets
    the status of transactions older than its clog horizon, hundreds of millions of
    transactions; a batch left that long is applied again.)
    """
    redis = _redis()
    raw = redis.hgetall(key)
    status = _applying_transaction_status(raw)
    if status == "committed":
        redis.delete(key)
        return
    if status == "in progress":  # cannot happen under the flush lock; leave it be
        logger.warning("view counts: %s is still being applied", key)
        return
    ids, views = _parse_counts(raw)
    if ids:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text")
            redis.hset(key, TXID_FIELD, cursor.fetchone()[0])
            # view_count is trigger-managed for full saves: this UPDATE is its only writer.
            cursor.execute(
                f"UPDATE {Listing._meta.db_table} AS listing "  # noqa: S608 - model constant
                "SET view_count = listing.view_count + pending.views "
                "FROM unnest(%s::uuid[], %s::bigint[]) AS pending(id, views) "
                "WHERE listing.id = pending.id",
                [ids, views],
            )
    # After the commit: a crash before this line leaves the hash for the next run, which
    # finds its transaction committed and only deletes it.
    redis.delete(key)
    result.batches += 1
    result.listings += len(ids)
    result.views += sum(views)


def view_counts_pending() -> FlushResult:
    """What a flush would apply now (pending views and leftover batches), changing nothing."""
    result = FlushResult()
    redis = _redis()
    pending = cache.make_key(VIEWS_KEY)
    listings = set()
    for key in [pending, *redis.scan_iter(match=f"{pending}{PROCESSING_INFIX}*", count=1000)]:
        raw = redis.hgetall(key)
        ids, views = _parse_counts(raw)
        if ids and _applying_transaction_status(raw) != "committed":
            result.batches += 1
            listings.update(ids)
            result.views += sum(views)
    result.listings = len(listings)
    return result


def view_counts_flush() -> FlushResult:
    """Move the pending view counts from Redis into ``listings_listing.view_count``.

    Safe to run concurrently and repeatedly: flushes take a session advisory lock in turn.
    Leftover processing hashes (a crashed run) are applied first; then the pending hash is
    RENAMEd to a fresh processing key (atomic: a view counted during the flush lands in a new
    pending hash), applied with one set-based UPDATE, and deleted after the commit.
    """
    if connection.in_atomic_block:
        raise RuntimeError(
            "view_counts_flush deletes Redis data after its commit: call it outside a transaction."
        )
    result = FlushResult()
    redis = _redis()
    pending = cache.make_key(VIEWS_KEY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [FLUSH_LOCK_KEY])
    try:
        leftovers = sorted(redis.scan_iter(match=f"{pending}{PROCESSING_INFIX}*", count=1000))
        for key in leftovers:
            _apply_batch(key.decode() if isinstance(key, bytes) else key, result)
        processing = f"{pending}{PROCESSING_INFIX}{time.time_ns()}-{uuid.uuid4().hex}"
        try:
            redis.rename(pending, processing)
        except ResponseError as error:
            if "no such key" not in str(error).lower():
                raise
        else:
            _apply_batch(processing, result)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [FLUSH_LOCK_KEY])
    return result
