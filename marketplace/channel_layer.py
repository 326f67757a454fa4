"""The Channels layer: channels_redis's Redis pub/sub layer, its PUBLISH commands pipelined.

channels_redis 4.3 (``RedisSingleShardConnection.publish``) sends each PUBLISH under the lock
that its SUBSCRIBE and UNSUBSCRIBE take, and waits for Redis's answer before the next one: a
server process's group sends go out one round trip at a time. Every live message is two group
sends (both participants' user groups), so one process at 200 messages/s needs 400 round trips
a second; once the event loop is busy, each round trip waits for the loop too, and the
deliveries queued for seconds while the acknowledgements (no group send) stayed fast
(bench/README.md, "Fifth session").

Here every PUBLISH asked for while the previous batch was on its way goes out in the next one,
as one pipeline (no MULTI: the commands are independent), in the order they were asked for:
the more there are, the more go per round trip. Each caller still awaits its own PUBLISH and
gets its own error. Subscriptions are channels_redis's own, unchanged.

Built on channels_redis internals (``RedisPubSubChannelLayer._layers``, ``_wrap_close``,
``RedisPubSubLoopLayer._shards``), so the version is pinned in requirements.txt.
"""

import asyncio
import collections
import contextlib

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts

# PUBLISH commands per pipeline at most: a backlog of thousands goes in several round trips
# rather than one very long write that holds the event loop.
PUBLISH_BATCH = 500


class PipelinedShardConnection(RedisSingleShardConnection):
    """One Redis of the layer (a shard) whose publishes are batched; see the module docstring."""

    def __init__(self, host, channel_layer):
        super().__init__(host, channel_layer)
        self._waiting: collections.deque = collections.deque()  # (channel, message, future)
        self._publisher: asyncio.Task | None = None

    async def publish(self, channel, message):
        """PUBLISH ``message`` (bytes) on ``channel``; returns once Redis has it. Raises the
        error of the pipeline it went in (redis.exceptions.ConnectionError when Redis is down)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((channel, message, future))
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.ensure_future(self._publish_waiting())
        await future

    async def _publish_waiting(self):
        while self._waiting:
            batch = [self._waiting.popleft() for _ in range(min(len(self._waiting), PUBLISH_BATCH))]
            try:
                self._ensure_redis()
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, message, _ in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except BaseException as error:
                _settle(batch, error)
                if isinstance(error, asyncio.CancelledError):
                    raise
            else:
                _settle(batch, None)

    async def flush(self):
        """Stop publishing (what waits fails with CancelledError), then channels_redis's own
        flush: the receiver and the connections."""
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None
        waiting, self._waiting = list(self._waiting), collections.deque()
        _settle(waiting, asyncio.CancelledError())
        await super().flush()


def _settle(batch, error: BaseException | None) -> None:
    for *_, future in batch:
        if future.done():  # its caller was cancelled meanwhile
            continue
        if isinstance(error, asyncio.CancelledError):
            future.cancel()
        elif error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class PipelinedPubSubLoopLayer(RedisPubSubLoopLayer):
    """channels_redis's per-event-loop pub/sub layer with :class:`PipelinedShardConnection` shards."""

    def __init__(self, hosts=None, *args, **kwargs):
        super().__init__(hosts, *args, **kwargs)
        self._shards = [PipelinedShardConnection(host, self) for host in decode_hosts(hosts)]


class PipelinedPubSubChannelLayer(RedisPubSubChannelLayer):
    """``CHANNEL_LAYER_BACKEND``'s default: Redis pub/sub, publishes pipelined (module docstring).
    Configured exactly as ``channels_redis.pubsub.RedisPubSubChannelLayer``."""

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = PipelinedPubSubLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer
