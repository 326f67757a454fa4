"""The search engine's index kept in step with PostgreSQL, the source of truth (issue 18).

- The outbox, ``listings_search_outbox`` (listings migration 0017): a trigger on
  ``listings_listing`` writes one row (a listing id) per insert, delete, or update of a column
  the index or the searchable rule reads, in the same transaction as the change. A rollback
  writes nothing; a commit never loses a change, whatever wrote it.
- :func:`search_outbox_apply` (the job ``listings.search_sync``, every
  ``SEARCH_SYNC_INTERVAL_SECONDS`` while the engine is on): the oldest rows, their listings'
  documents (``engine.documents_for``) replacing whatever the index held for those ids, one
  tantivy commit, then those rows deleted. At least once and idempotent.
- :func:`search_reindex` (``manage.py search_reindex``): a fresh index from one snapshot, built
  beside the live one and swapped in atomically; the outbox rows the snapshot covers dropped.
- :func:`search_outbox_prune` (the job ``listings.search_outbox_prune``): with the engine off,
  nothing consumes the outbox; rows older than ``SEARCH_OUTBOX_KEEP_HOURS`` go (all of them
  when no index exists at all).

One writer at a time, across processes: every function here that writes the index or deletes
outbox rows holds the advisory lock ``SYNC_LOCK_KEY``. Applies and prunes try it for their
transaction (PgBouncer-safe, released at commit or rollback) and call a held lock "busy, the
next run goes on"; a reindex waits for it (``REINDEX_LOCK_WAIT_SECONDS``) and holds it for
its session, from before its snapshot to after the swap, so no apply can consume a change
the snapshot missed and then lose it in the swap. tantivy's own writer lock backs this up:
a writer refused by it is "busy" too, never a crash.

The live index path (``engine.index_path()``) is a symbolic link to a versioned directory
beside it (``<name>.<UTC time>``): a reindex writes a new version and replaces the link in one
``rename``. A reader opened before keeps its version (tantivy resolves the link when it
opens); one opened after reads the new one. The previous version is kept for such readers,
older ones are removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from listings.search import engine

logger = logging.getLogger(__name__)

# Advisory lock key: the bytes of "srchsync" read as an integer (fits a bigint).
SYNC_LOCK_KEY = int.from_bytes(b"srchsync", "big")
# tantivy's writer: the apply's batches are small; a reindex writes a million documents, in
# one thread so that they make as few segments as its memory allows
# (SEARCH_ENGINE_REINDEX_MEMORY_MB: with 2 threads and 256 MB, 1M listings made 6 segments,
# and matching a set of 1,155 ids took 20 ms against 9-12 ms in one).
APPLY_WRITER_HEAP = 50_000_000
REINDEX_WRITER_THREADS = 1
REINDEX_CHUNK = 5_000
REINDEX_LOCK_WAIT_SECONDS = 120
VERSION_FORMAT = "%Y%m%dT%H%M%S%f"


class SearchIndexBusy(Exception):
    """Another process writes the index (the advisory lock or tantivy's writer lock is held):
    try again later."""


def _try_sync_lock() -> bool:
    """Take the sync lock for the current transaction if it is free."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SYNC_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _writer(index, *, heap: int, threads: int):
    try:
        return index.writer(heap, threads)
    except ValueError as error:  # tantivy: "Failed to acquire Lockfile: LockBusy"
        if "LockBusy" in str(error):
            raise SearchIndexBusy(str(error)) from error
        raise


def _release(writer) -> None:
    """Drop tantivy's writer lock now (``wait_merging_threads`` consumes the writer), not when
    the garbage collector gets to it: a traceback holding the frame would keep it locked."""
    try:
        writer.wait_merging_threads()
    except Exception:  # already consumed, or a merge failed: the lock is gone either way
        logger.exception("search sync: releasing the index writer")


@contextmanager
def _committing_writer(index, *, heap: int, threads: int):
    """An index writer (``SearchIndexBusy`` when another holds it) whose work is committed when
    the block ends, rolled back when it raises, and whose lock is released either way."""
    writer = _writer(index, heap=heap, threads=threads)
    try:
        yield writer
        writer.commit()
    except BaseException:
        writer.rollback()
        raise
    finally:
        _release(writer)


# --- Apply -------------------------------------------------------------------------------


def _outbox_batch(batch: int) -> tuple[list[int], list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, listing_id FROM listings_search_outbox ORDER BY id LIMIT %s", [batch])
        rows = cursor.fetchall()
    row_ids = [row_id for row_id, _ in rows]
    listing_ids = list(dict.fromkeys(str(listing_id) for _, listing_id in rows))
    return row_ids, listing_ids


def _delete_applied(row_ids: list[int]) -> None:
    # Exactly the rows taken: a row with a smaller id whose transaction committed after the
    # batch was read (ids are handed out at insert, not at commit) stays for the next batch.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM listings_search_outbox WHERE id = ANY(%s)", [row_ids])


class SearchIndexMissing(Exception):
    """No readable index at ``engine.index_path()``: run ``search_reindex``."""


def _apply_batch(batch: int) -> int:
    """One batch in one transaction holding the sync lock; how many outbox rows it applied
    (0: the outbox is empty). Raises ``SearchIndexBusy``, ``SearchIndexMissing``."""
    with transaction.atomic():
        if not _try_sync_lock():
            raise SearchIndexBusy("another process applies the outbox or reindexes")
        row_ids, listing_ids = _outbox_batch(batch)
        if not row_ids:
            return 0
        # Opened under the lock: an index opened before a reindex swapped versions would be
        # the old version (tantivy resolves the link), and its changes lost.
        index = engine.open_index()
        if index is None:
            raise SearchIndexMissing(f"no readable index at {engine.index_path()}")
        documents = engine.documents_for(listing_ids)
        with _committing_writer(index, heap=APPLY_WRITER_HEAP, threads=1) as writer:
            for listing_id in listing_ids:
                writer.delete_documents_by_term("id", listing_id)
                document = documents.get(listing_id)
                if document is not None:
                    writer.add_document(document)
        # Committed to the index: a crash from here on leaves the rows, and the next run
        # applies the same listings again (harmless: delete then add).
        _delete_applied(row_ids)
        return len(row_ids)


def search_outbox_apply(*, batch: int | None = None, max_seconds: float | None = None) -> int:
    """Apply the outbox to the engine's index, oldest rows first, ``batch`` rows
    (``SEARCH_SYNC_BATCH``) per tantivy commit, until it is empty or ``max_seconds``
    (``SEARCH_SYNC_MAX_SECONDS``) have passed; returns how many outbox rows were applied.

    Each batch: its listings' documents from PostgreSQL (``engine.documents_for``: a listing
    no longer searchable has none), every one of those ids deleted from the index by its
    ``id`` term and the documents added, in one writer and one commit; then exactly those
    rows deleted, in the transaction that read them. At least once: rows whose index commit
    did not happen stay; rows whose delete did not happen are applied again, to the same end.

    Locks: each batch's transaction holds the advisory lock ``SYNC_LOCK_KEY`` and tantivy's
    writer lock. When either is held elsewhere (another apply, a reindex), it stops and
    returns what it applied so far: the next run goes on. The index is opened in each
    batch's locked section (after a reindex's swap, the new version). Does nothing (0, no
    index opened) with the engine off; leaves the rows when the index is missing or
    unreadable (logged: run ``search_reindex``).
    """
    if not settings.SEARCH_ENGINE:
        return 0
    batch = batch or settings.SEARCH_SYNC_BATCH
    max_seconds = settings.SEARCH_SYNC_MAX_SECONDS if max_seconds is None else max_seconds
    applied = 0
    deadline = time.monotonic() + max_seconds
    while True:
        try:
            done = _apply_batch(batch)
        except SearchIndexBusy as busy:
            logger.info("search sync: index busy (%s); the next run goes on", busy)
            break
        except SearchIndexMissing as missing:
            logger.warning("search sync: %s; run `manage.py search_reindex`", missing)
            break
        applied += done
        if done < batch or time.monotonic() >= deadline:
            break
    return applied


# --- Prune -------------------------------------------------------------------------------


def search_outbox_prune() -> int:
    """With the engine off, delete outbox rows older than ``SEARCH_OUTBOX_KEEP_HOURS`` (every
    row when no index exists: nothing could ever apply them, a reindex starts from scratch);
    returns how many. Kept rows let an index built with ``search_reindex --force`` catch up
    when the engine is turned on within that time. With the engine on it deletes nothing:
    the apply consumes the outbox. Skips (0) while the sync lock is held."""
    if settings.SEARCH_ENGINE:
        return 0
    with transaction.atomic():
        if not _try_sync_lock():
            return 0
        with connection.cursor() as cursor:
            if os.path.lexists(engine.index_path()):
                cutoff = timezone.now() - timedelta(hours=settings.SEARCH_OUTBOX_KEEP_HOURS)
                cursor.execute("DELETE FROM listings_search_outbox WHERE created_at < %s", [cutoff])
            else:
                cursor.execute("DELETE FROM listings_search_outbox")
            return cursor.rowcount


# --- Reindex -----------------------------------------------------------------------------


@dataclass
class ReindexResult:
    documents: int
    outbox_dropped: int
    seconds: float
    path: Path


def _new_version_dir(live: Path) -> Path:
    stamp = datetime.now(UTC).strftime(VERSION_FORMAT)
    version = live.with_name(f"{live.name}.{stamp}")
    version.mkdir(parents=True)
    return version


def _swap_in(live: Path, version: Path) -> Path | None:
    """Point ``live`` at ``version`` in one rename; returns the version it pointed at before."""
    previous: Path | None = None
    if live.is_symlink():
        previous = live.parent / os.readlink(live)
    elif live.exists():
        # An index written in place (not by a reindex): keep it aside as a version. The only
        # moment readers find no index (and answer from PostgreSQL), once.
        previous = live.with_name(f"{live.name}.{datetime.now(UTC).strftime(VERSION_FORMAT)}-aside")
        live.rename(previous)
    link = live.with_name(f"{live.name}.swap")
    link.unlink(missing_ok=True)
    link.symlink_to(version.name)  # relative: the data directory may move
    os.replace(link, live)
    return previous


def _remove_old_versions(live: Path, keep: set[Path]) -> None:
    keep = {path.resolve() for path in keep}
    for path in live.parent.glob(f"{live.name}.*"):
        if path.is_dir() and not path.is_symlink() and path.resolve() not in keep:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def _sync_session_lock(wait_seconds: float) -> Iterator[None]:
    """Hold the sync lock for the session, waiting up to ``wait_seconds`` (then
    ``SearchIndexBusy``). Session-level because it must be held BEFORE the reindex's
    REPEATABLE READ snapshot is taken (a transaction's snapshot is its first statement's, so
    a lock taken inside it would come after it): an apply committed between the two would
    have consumed outbox rows that the snapshot does not cover."""
    deadline = time.monotonic() + wait_seconds
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [SYNC_LOCK_KEY])
            if cursor.fetchone()[0]:
                break
            if time.monotonic() >= deadline:
                raise SearchIndexBusy(
                    f"the index stayed busy for {wait_seconds:.0f} s (an apply or a reindex)"
                )
            time.sleep(0.2)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK_KEY])


def search_reindex(
    *,
    chunk: int = REINDEX_CHUNK,
    lock_wait_seconds: float = REINDEX_LOCK_WAIT_SECONDS,
    progress: Callable[[int], None] | None = None,
) -> ReindexResult:
    """Build the index from scratch and swap it in; returns the counts. Works whether the
    engine is on or not (the command refuses "off" without ``--force``).

    Holds the sync lock (session-level, waiting up to ``lock_wait_seconds``, then
    ``SearchIndexBusy``): applies are refused meanwhile, the outbox grows, and the apply
    catches up after the swap. Then one REPEATABLE READ transaction: ``public_listings()``
    rows (``engine.DOCUMENT_FIELDS``) streamed through a server-side cursor, ``chunk`` at a
    time, as ``engine.document(row)`` into a new version directory, committed; the version
    checked (its document count), the live link swapped to it, and the outbox rows the
    snapshot sees deleted (rows committed after it started stay, for the apply). If the
    database commit fails after the swap, those rows are applied again: harmless. Inside a
    caller's transaction (tests) that transaction is the snapshot. ``progress(n)`` is called
    with each chunk's document count.
    """
    from listings.selectors import public_listings

    started = time.monotonic()
    live = engine.index_path()
    live.parent.mkdir(parents=True, exist_ok=True)
    outermost = not connection.in_atomic_block
    with _sync_session_lock(lock_wait_seconds), transaction.atomic():
        if outermost:  # else a caller's transaction (a test's) is under way: it is the snapshot
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        version = _new_version_dir(live)
        try:
            rows = public_listings().order_by().values(*engine.DOCUMENT_FIELDS)
            documents = _build(version, rows, chunk, progress)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM listings_search_outbox")  # the rows this snapshot sees
            dropped = cursor.rowcount
        previous = _swap_in(live, version)
    _remove_old_versions(live, {version} | ({previous} if previous else set()))
    seconds = time.monotonic() - started
    return ReindexResult(documents=documents, outbox_dropped=dropped, seconds=seconds, path=version)


def _build(version: Path, rows_query, chunk: int, progress) -> int:
    """Write every row of ``rows_query`` (``public_listings().values(*DOCUMENT_FIELDS)``) as
    ``engine.document(row)`` into a new index at ``version``; how many. One sequential
    stream: the same documents as ``documents_for`` gives, without a lookup by id per chunk."""
    import tantivy

    index = tantivy.Index(engine.build_schema(), path=str(version))
    engine.register_tokenizers(index)
    written = 0
    heap = settings.SEARCH_ENGINE_REINDEX_MEMORY_MB * 1_000_000
    with _committing_writer(index, heap=heap, threads=REINDEX_WRITER_THREADS) as writer:
        sql, params = rows_query.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"DECLARE search_reindex_rows NO SCROLL CURSOR FOR {sql}", params)
            while True:
                cursor.execute("FETCH %s FROM search_reindex_rows", [chunk])
                rows = cursor.fetchall()
                if not rows:
                    break
                columns = [column.name for column in cursor.description]
                for row in rows:
                    writer.add_document(engine.document(dict(zip(columns, row, strict=True))))
                written += len(rows)
                if progress is not None:
                    progress(len(rows))
            cursor.execute("CLOSE search_reindex_rows")
    check = tantivy.Index.open(str(version))
    engine.register_tokenizers(check)
    found = check.searcher().num_docs
    if found != written:
        raise RuntimeError(f"the new index holds {found} documents, {written} were written")
    return written


# --- Status ------------------------------------------------------------------------------


@dataclass
class SyncStatus:
    engine: str
    path: Path
    version: Path | None
    documents: int | None  # None: no readable index
    backlog: int
    oldest_age_seconds: float | None


def search_sync_status() -> SyncStatus:
    """The index's document count (opening it read-only), the outbox's size and the age of
    its oldest row: what ops watch (a growing backlog: the worker is down or failing)."""
    live = engine.index_path()
    index = engine.open_index()
    documents = index.searcher().num_docs if index is not None else None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), min(created_at) FROM listings_search_outbox")
        backlog, oldest = cursor.fetchone()
    age = (timezone.now() - oldest).total_seconds() if oldest is not None else None
    version = live.resolve() if live.exists() else None
    return SyncStatus(
        engine=settings.SEARCH_ENGINE or "off",
        path=live,
        version=version,
        documents=documents,
        backlog=backlog,
        oldest_age_seconds=age,
    )
