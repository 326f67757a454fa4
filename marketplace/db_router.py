"""Read replicas: which database a query goes to.

Everything goes to the primary (``default``) except reads made inside a view marked
replica-safe (``@replica_safe``, or ``with replica_reads(request):``): search, category and home
pages, anonymous listing pages, public profiles, sitemaps. Even there a read goes to the primary
when

- no replica is configured (``DATABASE_REPLICA_URLS`` unset: ``DATABASE_REPLICA_ALIASES`` empty),
- the session wrote recently: any POST (or other unsafe method) sets the ``replica_pin`` cookie
  for ``REPLICA_PIN_SECONDS`` (``ReplicaPinMiddleware``; the messaging page's script sets the same
  cookie after a WebSocket send), so nobody misses their own change,
- it runs inside a transaction (``atomic``: a service deciding something reads what it locks),
- every replica is down or lags more than ``REPLICA_MAX_LAG_SECONDS``. Health is probed with one
  cheap query per replica, at most every ``REPLICA_CHECK_SECONDS`` per process (kept in process
  memory, not Redis, so it works with Redis down).

A replica that fails in the middle of a page (stopped between two probes) is marked down and the
view runs again on the primary: replica-safe views only read (their one side effect, the Redis
view counter, may count that view twice).

Writes always go to the primary; migrations run only there (replicas replay them).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

PIN_COOKIE = "replica_pin"

# The replica alias chosen for the current replica-safe view (None: the primary).
_replica: contextvars.ContextVar[str | None] = contextvars.ContextVar("replica_alias", default=None)


class ReplicaState(NamedTuple):
    """One replica's health: ``lag_seconds`` is replay lag in seconds (None when unknown or down);
    ``error`` says why it is skipped ("" when ``ok``)."""

    alias: str
    ok: bool
    lag_seconds: float | None
    error: str


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICA_ALIASES", []))


# Lag of a standby: 0 when it replayed everything it received (an idle primary writes nothing,
# so "time since the last replayed commit" alone would grow forever), else the age of the last
# replayed commit. Not in recovery (a promoted or misconfigured "replica"): reported as -1.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN -1
    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
         AND NOT pg_is_wal_replay_paused() THEN 0
    ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
END
"""

_states: dict[str, tuple[float, ReplicaState]] = {}
_states_lock = threading.Lock()


def _probe(alias: str) -> ReplicaState:
    max_lag = settings.REPLICA_MAX_LAG_SECONDS
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(LAG_SQL)
            (lag,) = cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure means "skip this replica"
        _close_quietly(alias)
        return ReplicaState(alias, False, None, f"unreachable: {error}".strip()[:300])
    if lag is None:  # paused or behind before anything was replayed
        return ReplicaState(alias, False, None, "replay position unknown")
    lag = float(lag)
    if lag < 0:
        return ReplicaState(alias, False, None, "not a standby (pg_is_in_recovery() is false)")
    if lag > max_lag:
        return ReplicaState(alias, False, lag, f"lag {lag:.1f} s > REPLICA_MAX_LAG_SECONDS ({max_lag} s)")
    return ReplicaState(alias, True, lag, "")


def _close_quietly(alias: str) -> None:
    # A dead connection may fail to close; it is dropped anyway.
    with contextlib.suppress(Exception):
        connections[alias].close()


def replica_state(alias: str, *, fresh: bool = False) -> ReplicaState:
    """The replica's health, probed at most every ``REPLICA_CHECK_SECONDS`` (per process)."""
    now = time.monotonic()
    with _states_lock:
        cached = _states.get(alias)
    if not fresh and cached and now - cached[0] < settings.REPLICA_CHECK_SECONDS:
        return cached[1]
    state = _probe(alias)
    if cached and cached[1].ok != state.ok:
        logger.warning("replica %s is now %s", alias, "in use" if state.ok else f"skipped: {state.error}")
    with _states_lock:
        _states[alias] = (time.monotonic(), state)
    return state


def replica_states(*, fresh: bool = True) -> list[ReplicaState]:
    """Every configured replica's health (health check, ``db_report``): one probe query each."""
    return [replica_state(alias, fresh=fresh) for alias in replica_aliases()]


def mark_down(alias: str, error: str) -> None:
    """Skip the replica until the next probe (``REPLICA_CHECK_SECONDS``)."""
    logger.warning("replica %s failed during a page, skipped: %s", alias, error)
    _close_quietly(alias)
    with _states_lock:
        _states[alias] = (time.monotonic(), ReplicaState(alias, False, None, f"failed: {error}"[:300]))


def forget_states() -> None:
    """Drop the cached probes (tests, after starting or stopping a replica)."""
    with _states_lock:
        _states.clear()


def healthy_replica() -> str | None:
    """A replica fit for reads now (a random one among the healthy), or None: use the primary."""
    aliases = replica_aliases()
    random.shuffle(aliases)
    for alias in aliases:
        if replica_state(alias).ok:
            return alias
    return None


def is_pinned(request) -> bool:
    """True while the session's read-your-writes window (``replica_pin`` cookie) is open."""
    try:
        return float(request.COOKIES.get(PIN_COOKIE, "0")) > time.time()
    except ValueError:
        return False


@contextmanager
def replica_reads(request=None):
    """Reads in this block may go to a healthy replica (unless the request's session is pinned,
    or a transaction is open when a query runs). Yields the chosen alias, or None (primary)."""
    if request is not None:
        # The user (and the session) load from the primary before any replica read: a banned
        # or just-changed account must never be read stale.
        _ = getattr(request, "user", None) and request.user.is_authenticated
    if _replica.get() is not None or (request is not None and is_pinned(request)):
        yield _replica.get()
        return
    alias = healthy_replica()
    token = _replica.set(alias)
    try:
        yield alias
    finally:
        _replica.reset(token)


def replica_safe(view: Callable | None = None, *, anonymous_only: bool = False):
    """Mark a read-only view replica-safe. ``anonymous_only``: members read the primary (pages
    that show a member their own drafts, favorites or capabilities).

    If the chosen replica fails mid-page, it is marked down and the view runs again on the
    primary, so a replica going away never turns a page into an error."""

    def decorate(view_func):
        @functools.wraps(view_func)
        def wrapper(request, *args, **kwargs):
            if not replica_aliases() or (anonymous_only and request.user.is_authenticated):
                return view_func(request, *args, **kwargs)
            with replica_reads(request) as alias:
                if alias is None:
                    return view_func(request, *args, **kwargs)
                try:
                    return view_func(request, *args, **kwargs)
                except (OperationalError, InterfaceError) as error:
                    mark_down(alias, str(error).strip())
            return view_func(request, *args, **kwargs)

        wrapper.replica_safe = True
        return wrapper

    return decorate(view) if view is not None else decorate


class ReplicaRouter:
    """``DATABASE_ROUTERS`` entry: replica-safe reads to the replica chosen for the view."""

    def db_for_read(self, model, **hints):
        alias = _replica.get()
        if alias is None or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return alias

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one logical database: replicas are copies of the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db not in replica_aliases()


class ReplicaPinMiddleware:
    """Read-your-writes: a response to any unsafe request (POST, ...) sets the ``replica_pin``
    cookie, valid ``REPLICA_PIN_SECONDS``; while it is valid, replica-safe views read the
    primary. Nothing is set when no replica is configured."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") and replica_aliases():
            pin_response(response)
        return response


def pin_response(response) -> None:
    seconds = settings.REPLICA_PIN_SECONDS
    response.set_cookie(
        PIN_COOKIE,
        f"{time.time() + seconds:.0f}",
        max_age=seconds,
        httponly=False,  # the messaging script sets it too, after a WebSocket send
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def replica_pin_context(request) -> dict:
    """Template context: ``replica_pin_seconds`` when replicas are configured (else 0), so the
    messaging script pins the browser after a WebSocket send."""
    return {"replica_pin_seconds": settings.REPLICA_PIN_SECONDS if replica_aliases() else 0}


@contextmanager
def primary_reads():
    """Reads in this block go to the primary, even inside a replica-safe view: for what is
    written to a shared cache under a version a writer just bumped (the home page's lists, the
    category tree), so a lagging replica never files old rows under the new version. Cache
    misses are rare, so this costs the primary little."""
    token = _replica.set(None)
    try:
        yield
    finally:
        _replica.reset(token)


def on_primary(function: Callable, *args, **kwargs):
    """``function(*args, **kwargs)`` with its reads on the primary (see ``primary_reads``)."""
    with primary_reads():
        return function(*args, **kwargs)
