"""The channel layer in tests: a fresh one per test (each is bound to the event loops it ran
on), and its connections closed after."""

import contextlib

from asgiref.sync import async_to_sync
from channels.layers import channel_layers


def close_channel_layer(layer) -> None:
    """Close what ``layer`` holds open. The list-based RedisChannelLayer keeps a pool per event
    loop until told; the pub/sub layer's connections close with their event loop
    (channels_redis wraps ``loop.close``), so there is nothing left to do for it."""
    from channels_redis.core import RedisChannelLayer

    if isinstance(layer, RedisChannelLayer):
        async_to_sync(layer.close_pools)()


@contextlib.contextmanager
def fresh_channel_layer():
    """A new default channel layer for the block, closed afterwards."""
    channel_layers.backends.pop("default", None)
    try:
        yield
    finally:
        layer = channel_layers.backends.pop("default", None)
        if layer is not None:
            close_channel_layer(layer)
