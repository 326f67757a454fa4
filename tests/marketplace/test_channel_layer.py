"""The channel layer's pipelined publishes (``marketplace.channel_layer``), on the real Redis."""

import asyncio
import uuid

import redis.asyncio
from django.conf import settings
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError

from marketplace.channel_layer import PipelinedPubSubChannelLayer


def new_layer(hosts=None, prefix=None) -> PipelinedPubSubChannelLayer:
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    return PipelinedPubSubChannelLayer(
        hosts=hosts or config["hosts"], prefix=prefix or f"test-{uuid.uuid4().hex[:8]}"
    )


def run(coroutine_function):
    """On a loop of its own, closed afterwards (channels_redis flushes the layer when its loop closes)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine_function())
    finally:
        loop.close()


async def joined(sender, receiver, group: str) -> str:
    """A channel of ``receiver`` in ``group`` once Redis counts its subscription (Redis confirms
    a SUBSCRIBE on the subscriber's own connection, after the call returned). Not by a timed
    receive: channels_redis drops a channel whose receive was cancelled."""
    channel = await receiver.new_channel()
    await receiver.group_add(group, channel)
    name = receiver._get_layer()._get_group_channel_name(group)
    client = redis.asyncio.Redis.from_url(settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0])
    try:
        for _ in range(100):
            [(_, subscribers)] = await client.pubsub_numsub(name)
            if subscribers:
                return channel
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()
    raise AssertionError("never subscribed")


def test_the_default_layer_is_the_pipelined_one():
    from channels.layers import get_channel_layer

    assert isinstance(get_channel_layer(), PipelinedPubSubChannelLayer)


def test_concurrent_group_sends_arrive_all_in_order_in_few_round_trips(monkeypatch):
    executes = []
    original = Pipeline.execute

    async def counted(self, *args, **kwargs):
        executes.append(len(self.command_stack))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counted)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    sender, receiver = new_layer(prefix=prefix), new_layer(prefix=prefix)  # two server processes

    async def scenario():
        channel = await joined(sender, receiver, "room")
        executes.clear()
        await asyncio.gather(*(sender.group_send("room", {"type": "n", "n": n}) for n in range(200)))
        return [(await asyncio.wait_for(receiver.receive(channel), 5))["n"] for _ in range(200)]

    assert run(scenario) == list(range(200))
    assert sum(executes) == 200  # every PUBLISH went through a pipeline
    assert len(executes) <= 3  # the first alone, then the 199 that waited meanwhile


def test_each_caller_gets_the_error_when_redis_is_unreachable():
    layer = new_layer(hosts=["redis://127.0.0.1:1/0"])  # nothing listens on port 1

    async def scenario():
        results = await asyncio.gather(
            *(layer.group_send("room", {"type": "n"}) for _ in range(5)), return_exceptions=True
        )
        later = None
        try:
            await layer.group_send("room", {"type": "n"})
        except RedisConnectionError as error:
            later = error
        return results, later

    results, later = run(scenario)
    assert all(isinstance(result, RedisConnectionError) for result in results)
    assert later is not None  # the next send tries again, and fails again: nothing hangs


def test_flush_fails_what_waits_and_the_layer_works_afterwards():
    layer = new_layer()

    async def scenario():
        await joined(layer, layer, "room")
        waiting = [asyncio.ensure_future(layer.group_send("room", {"type": "n"})) for _ in range(3)]
        await asyncio.sleep(0)  # they are queued, the first batch on its way
        await layer.flush()
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        channel = await joined(layer, layer, "room")
        await layer.group_send("room", {"type": "after"})
        return outcomes, (await asyncio.wait_for(layer.receive(channel), 5))["type"]

    outcomes, after = run(scenario)
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
    assert after == "after"
