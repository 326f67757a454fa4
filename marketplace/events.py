"""The hook seam: what happened, announced once the change is committed.

A lower layer (accounts, listings, payments) never imports a higher one (reviews, messaging,
notifications). It announces each domain event through one :class:`Hook` of its own, declared
in its ``hooks.py`` (``payments.hooks.order_paid``) and called by its services through
:func:`after_commit`. A higher app subscribes from its ``AppConfig.ready()``::

    from payments import hooks

    @hooks.order_completed.subscribe
    def request_reviews(transaction): ...

Live pushes to browsers go through :func:`send_event_on_commit`, the one way to reach the
Channels layer.

Every side effect that must not undo or fail a committed write (an email, a cache bump, a
channel-layer send, deleting replaced files) runs here: after commit, so nobody hears of a
change that was rolled back, and robustly, so a failing Redis or mail server is logged and the
request that made the change still answers with success. Anything that must be retried later
belongs on the job queue instead.
"""

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import transaction

logger = logging.getLogger(__name__)


class Hook:
    """One domain event: a name, a docstring, and the functions subscribed to it.

    Calling the hook calls each subscriber in the order they subscribed, each isolated: one
    that raises is logged (logger ``marketplace.events``) and the others still run. Services
    call a hook through :func:`after_commit`, never inside their transaction.
    """

    def __init__(self, name: str, doc: str = ""):
        self.name = name
        self.__doc__ = doc
        self.__qualname__ = self.__name__ = name
        self.subscribers: list[Callable[..., Any]] = []

    def subscribe(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Add ``fn`` (a decorator). Subscribing the same function twice keeps one."""
        if fn not in self.subscribers:
            self.subscribers.append(fn)
        return fn

    def __call__(self, *args: Any) -> None:
        for subscriber in list(self.subscribers):
            try:
                subscriber(*args)
            except Exception:
                logger.exception(
                    "%s: subscriber %s failed", self.name, getattr(subscriber, "__qualname__", subscriber)
                )

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self.subscribers)} subscriber(s)>"


def after_commit(fn: Callable[..., Any], *args: Any, using: str | None = None) -> None:
    """Run ``fn(*args)`` once the current database transaction commits (now, if none is open).

    An exception raised by ``fn`` is logged (logger ``django.db.backends.base``, with the
    function's qualified name) and swallowed: the write it follows stands.

    A named function is scheduled, not a ``functools.partial`` or a lambda: Django logs a
    failing robust callback by its ``__qualname__``, which a partial lacks (the logging itself
    would then raise), and a lambda's would name nothing useful.
    """

    def run() -> None:
        fn(*args)

    run.__qualname__ = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    transaction.on_commit(run, using=using, robust=True)


def send_event(group: str, payload: dict) -> None:
    """Send ``payload`` (a dict with a ``type`` naming the consumer's handler) to ``group`` now.

    Raises whatever the channel layer raises; call :func:`send_event_on_commit` from services.
    """
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:  # no CHANNEL_LAYERS configured: nobody can be listening
        return
    async_to_sync(layer.group_send)(group, payload)


def send_events(groups: Sequence[str], payload: dict) -> None:
    """Send ``payload`` to every group of ``groups``: the group sends run concurrently, in one
    trip to the event loop (a message reaches both participants: sequential ``send_event``
    calls cost a trip and a round of Redis commands each).

    Called from a thread that a server's event loop handed work to (a messaging socket's
    database call), the sends are handed back to that loop and this returns at once: the
    thread (and the socket's acknowledgement) does not wait for Redis, and a failure is logged
    there (logger ``marketplace.events``). Anywhere else (a request thread without a loop, a
    job, a command) it waits, and raises the first error of the channel layer after every
    send was tried.
    """
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        results = await asyncio.gather(
            *(layer.group_send(group, payload) for group in groups), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    loop = _server_loop()
    if loop is None:
        async_to_sync(send_all)()
        return

    async def send_all_logged() -> None:
        try:
            await send_all()
        except Exception:
            logger.exception("live push of %s to %s failed", payload.get("type"), ", ".join(groups))

    def start() -> None:
        task = loop.create_task(send_all_logged())
        _pushes.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_pushes.discard)

    loop.call_soon_threadsafe(start)


_pushes: set = set()


def _server_loop():
    """The running event loop that handed this thread its work (asgiref's ``SyncToAsync``
    records it), or None outside a server's loop."""
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    if loop is None or getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return None  # on the loop itself: not a thread it handed work to
    return loop if loop.is_running() and not loop.is_closed() else None


def send_events_on_commit(groups: Sequence[str], payload: dict) -> None:
    """:func:`send_event_on_commit` for several groups: one after-commit callback, one
    :func:`send_events`."""
    after_commit(send_events, tuple(groups), payload)


def send_event_on_commit(group: str, payload: dict) -> None:
    """Push ``payload`` to the Channels ``group`` once the transaction commits, robustly.

    Group names are ASCII alphanumerics, hyphens, underscores or periods, under 100 characters
    (Channels' rule). A channel layer that is down loses the live push, never the write: the
    reader catches up from the database on its next (re)connect.
    """
    after_commit(send_event, group, payload)
