"""Health checks: liveness (the process answers) and readiness (what the site needs answers).

:func:`readiness` checks each part and times it: the database (``SELECT 1``), each configured
read replica (its lag, through ``marketplace.db_router``), Redis (``PING``), the channel
layer (a message sent to a fresh channel and received back), the job worker (its heartbeat
and the count of failed jobs, ``marketplace.jobs``) and, with real Stripe keys only
(``STRIPE_MODE=live``), Stripe's API host (a TLS request, no key sent).

A part is ``ok``, ``degraded`` (works, but needs someone: failed jobs), ``down`` or ``skipped``
(not configured). The overall status is ``down`` when a part named in ``HEALTH_REQUIRED`` is
down (``/readyz`` answers 503, ``manage.py healthcheck`` exits 1), ``degraded`` when any
other part is down or degraded (200, exit 0), else ``ok``. Each check is bounded by
``HEALTH_TIMEOUT_SECONDS``. Nothing here writes to the database or takes a lock.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection, transaction

from marketplace.db_router import replica_aliases, replica_state
from marketplace.jobs import failed_job_count, worker_heartbeat_age

OK, DEGRADED, DOWN, SKIPPED = "ok", "degraded", "down", "skipped"
PART_KINDS = ("database", "replica", "redis", "channel_layer", "jobs", "stripe")


@dataclass
class Part:
    name: str  # "database", "replica:<alias>", "redis", "channel_layer", "jobs", "stripe"
    status: str
    latency_ms: float
    required: bool
    detail: str = ""

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0]


@dataclass
class Readiness:
    status: str
    parts: list[Part]

    def as_dict(self, *, details: bool = True) -> dict:
        """``{"status": ..., "parts": {name: {"status", "latency_ms", "required"[, "detail"]}}}``.
        Without ``details`` (the public endpoint) a failure's detail is its error's class only."""
        parts = {}
        for part in self.parts:
            entry = asdict(part)
            entry.pop("name")
            if not details:
                entry["detail"] = entry["detail"].split(":", 1)[0]
            parts[part.name] = entry
        return {"status": self.status, "parts": parts}


class Degraded(Exception):
    """Raised by a check whose part works but needs attention."""


class Down(Exception):
    """Raised by a check that found its part not working (the message says how)."""


def _timeout() -> float:
    return settings.HEALTH_TIMEOUT_SECONDS


def _run(name: str, check: Callable[[], str | None]) -> Part:
    kind = name.split(":", 1)[0]
    required = kind in settings.HEALTH_REQUIRED
    started = time.perf_counter()
    try:
        detail = check() or ""
        status = OK
    except Degraded as warning:
        status, detail = DEGRADED, str(warning)
    except Down as failure:
        status, detail = DOWN, str(failure)
    except Exception as error:  # noqa: BLE001 - any failure means "down", and says why
        status, detail = DOWN, f"{type(error).__name__}: {error}".strip()[:300]
    latency = round((time.perf_counter() - started) * 1000, 1)
    return Part(name, status, latency, required, detail)


# --- the checks -------------------------------------------------------------------------------


def check_database() -> str | None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = %s", [int(_timeout() * 1000)])
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return None


def _check_replica(alias: str) -> Callable[[], str | None]:
    def check() -> str | None:
        state = replica_state(alias, fresh=True)
        if not state.ok:
            raise Down(state.error)
        return f"lag {state.lag_seconds:.1f} s"

    return check


def check_redis() -> str | None:
    import redis

    client = redis.Redis.from_url(
        settings.CACHES["default"]["LOCATION"], socket_timeout=_timeout(), socket_connect_timeout=_timeout()
    )
    try:
        if not client.ping():
            raise Down("PING did not answer PONG")
    finally:
        client.close()
    return None


def check_channel_layer() -> str | None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise Down("no channel layer configured")

    async def round_trip() -> None:
        channel = await layer.new_channel("health.")
        await layer.send(channel, {"type": "health.ping"})
        message = await layer.receive(channel)
        if message.get("type") != "health.ping":
            raise Down(f"unexpected message {message!r}")

    async def bounded() -> None:
        await asyncio.wait_for(round_trip(), _timeout())

    async_to_sync(bounded)()
    return None


def check_jobs() -> str | None:
    age = worker_heartbeat_age()
    if age is None:
        raise Down("no job worker registered")
    if age > settings.HEALTH_WORKER_MAX_AGE_SECONDS:
        raise Down(f"last worker heartbeat {age:.0f} s ago")
    failed = failed_job_count()
    if failed > settings.HEALTH_FAILED_JOBS_MAX:
        raise Degraded(f"{failed} failed jobs (heartbeat {age:.0f} s ago)")
    return f"heartbeat {age:.0f} s ago, {failed} failed jobs"


def check_stripe() -> str | None:
    # Reachability of the API host: an unauthenticated request answers 401, which is fine.
    request = urllib.request.Request(f"{settings.STRIPE_API_BASE.rstrip('/')}/v1/", method="GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=_timeout()):  # noqa: S310 - a settings URL
            pass
    except urllib.error.HTTPError as answer:
        if answer.code >= 500:
            raise
    return None


def readiness() -> Readiness:
    """Check every part (see the module docstring); never raises."""
    parts = [_run("database", check_database)]
    parts += [_run(f"replica:{alias}", _check_replica(alias)) for alias in replica_aliases()]
    parts += [
        _run("redis", check_redis),
        _run("channel_layer", check_channel_layer),
        _run("jobs", check_jobs),
    ]
    if settings.STRIPE_MODE == "live":
        parts.append(_run("stripe", check_stripe))
    else:
        parts.append(Part("stripe", SKIPPED, 0.0, False, "local mode (no real Stripe keys)"))
    if any(part.status == DOWN and part.required for part in parts):
        status = DOWN
    elif any(part.status in (DOWN, DEGRADED) for part in parts):
        status = DEGRADED
    else:
        status = OK
    return Readiness(status, parts)
