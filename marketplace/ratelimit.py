"""Fixed-window rate limits counted in the Redis cache (no extra dependency).

A limit allows ``limit`` events per identity in each window of ``window`` seconds; windows
are aligned on the epoch, so a counter key names its window and expires with it. A burst
straddling a window boundary may reach twice the limit: the usual price of fixed windows,
acceptable for abuse throttling. Identities are hashed, so no email address sits in Redis.

With Redis down every limit fails open: nothing is counted, nothing is refused, and each
uncounted event is logged (logger ``marketplace.ratelimit``). Per limit, the reason:

- log-in failures (per address, per account): refusing every log-in would lock every member
  out for the outage; guessing stays slow (Argon2, ~0.1 s a try) and an outage is short.
- sign-ups, account emails (password reset, verification): refusing would stop new members
  and locked-out members; an abuser cannot make Redis go down to pick the moment.
- checkout starts: the database still caps open checkouts per buyer
  (CHECKOUT_MAX_OPEN_PER_BUYER) and one live transaction per listing.
- messages, spam reports and blocks, review flags, new listings: refusing would turn an
  infrastructure fault into members' errors; staff tools clean up abuse afterwards.
"""

import contextlib
import hashlib
import ipaddress
import logging
import time
from dataclasses import dataclass

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def _now() -> float:
    return time.time()


def _redis_client():
    """The django-redis client behind ``cache`` (writes), or None for another cache backend.
    django-redis stores integers unpickled, so an INCR'd key reads back through ``cache.get``."""
    get_client = getattr(getattr(cache, "client", None), "get_client", None)
    return get_client(write=True) if get_client is not None else None


@dataclass(frozen=True)
class RateLimit:
    scope: str
    limit: int
    window: int  # seconds

    def _key(self, identity: str, now: float) -> str:
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        return f"ratelimit:{self.scope}:{digest}:{int(now // self.window)}"

    def retry_after(self) -> int:
        """Seconds until the current window ends."""
        now = _now()
        return max(1, int(self.window - now % self.window))

    def count(self, identity: str) -> int:
        return cache.get(self._key(identity, _now()), 0)

    def exceeded(self, identity: str) -> bool:
        """True once ``limit`` events were counted in this window: the next one is refused."""
        return self.count(identity) >= self.limit

    def hit(self, identity: str) -> int:
        """Count one event; return the window's count so far.

        One Redis round trip (INCR and EXPIRE in one MULTI) where the cache is django-redis:
        a message send counts itself, and the add-then-incr of the cache API took three."""
        key = self._key(identity, _now())
        client = _redis_client()
        if client is not None:
            redis_key = cache.client.make_key(key)
            try:
                with client.pipeline(transaction=True) as pipe:
                    pipe.incr(redis_key)
                    pipe.expire(redis_key, self.window + 1)
                    count, _ = pipe.execute()
            except RedisError:
                logger.warning("rate limit %s: event not counted, Redis unavailable", self.scope)
                return 0
            return int(count)
        cache.add(key, 0, timeout=self.window + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=self.window + 1)
            return 1
        if count is None:  # Redis unavailable (the cache ignores its errors): fail open
            logger.warning("rate limit %s: event not counted, Redis unavailable", self.scope)
            return 0
        return count

    def uncount(self, identity: str) -> None:
        """Take back one event counted by ``hit`` in this window (it turned out not to be one:
        a retry of a stored message). A window that ended meanwhile is left alone."""
        key = self._key(identity, _now())
        with contextlib.suppress(ValueError):  # the window's key expired: nothing to take back
            cache.decr(key)

    def reset(self, identity: str) -> None:
        cache.delete(self._key(identity, _now()))


def client_ip(request) -> str:
    """The client's address, from REMOTE_ADDR only (headers such as X-Forwarded-For are
    forgeable). Behind a proxy the server must set REMOTE_ADDR to the real client. An IPv6
    client usually holds a whole /64, so it counts as one identity."""
    raw = request.META.get("REMOTE_ADDR", "") or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
