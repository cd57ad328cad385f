"""The Channels layer: channels_redis's pub/sub layer, which tells local consumers when it lost
messages.

Why pub/sub: with channels_redis's default (list-based) layer a group_send to 1000 dashboards
is 1000 Redis writes, and daphne pops the 1000 copies back one round trip each; the pub/sub
layer publishes once per group and each daphne process fans the message out to its consumers in
memory (docs/benchmarks.md, "alert latency").

What it costs: Redis pub/sub keeps nothing for a subscriber that is not connected. When a
process's subscription connection breaks (Redis restarted or unreachable), whatever was
published meanwhile never arrives, and channels_redis only logs the error and reconnects.
This layer then puts a `skylark.interrupted` message into the queue of every consumer of the
process; the live-feed consumer closes its socket with code 4012 on it, and the
dashboards reconnect and resume from the last alert they saw, as after any other outage.

It subclasses channels_redis 4.3's pub/sub classes and uses some of their private helpers, so
channels-redis stays pinned (pyproject.toml); an upgrade must re-run tests/realtime.

Under load it hands a consumer everything waiting for it at once: the receiver reads every
message Redis has sent so far, not one per turn of the event loop, and receive() returns the
messages queued for a consumer as one BATCH message ({"type": "layer.batch", "messages": [...]},
in order). A consumer then dispatches once for many events (the live feed sends them in one
WebSocket frame) instead of once each: with 100 dashboards and 500 alerts/s that is 50,000
dispatches a second, more than one process can make. At a quiet rate nothing waits and every
message comes alone, as before.

Sync code (Celery workers, views) publishes with group_send_blocking(): PUBLISHes pipelined on a
kept connection, where async_to_sync(group_send) would start an event loop and a connection per
call (0.06 ms against 3.4 ms measured).
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from functools import cached_property

import redis
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _close_redis, _consistent_hash, _wrap_close, decode_hosts

from detection.logfmt import kv

logger = logging.getLogger("skylark.realtime")

INTERRUPTED = {"type": "skylark.interrupted"}
BATCH_TYPE = "layer.batch"
# The most messages one receive() returns; the rest wait for the next.
MAX_BATCH = 200
# The most messages the receiver reads off its connection before it lets the consumers run.
MAX_READ_AT_ONCE = 1000


class _Shard(RedisSingleShardConnection):
    async def _do_receiving(self) -> None:
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=0.1
                    )
                    self._receive_message(message)
                    # Whatever else has arrived is queued now, so each consumer finds it all at
                    # its next receive() (one batch) rather than one message per loop turn.
                    for _ in range(MAX_READ_AT_ONCE):
                        if message is None or not self._pubsub.subscribed:
                            break
                        message = await self._pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=0.0
                        )
                        self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as exc:
                logger.warning(kv(event="layer_interrupted", error=exc))
                self._tell_consumers()
                await self._start_over()
                return

    def _receive_message(self, message: dict | None) -> None:
        """Queue `message` for the consumers it is addressed to (its channel, or its group's
        channels), decoded once here: channels_redis queues the raw bytes and decodes them again
        in every consumer's receive(), 100 decodes of one alert for 100 dashboards. The queues
        share the one decoded dict; consumers only read it."""
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        channels = self.channel_layer.channels
        if name in channels:
            targets = [name]
        else:
            targets = [c for c in self.channel_layer.groups.get(name, ()) if c in channels]
        if targets:
            decoded = self.channel_layer.channel_layer.deserialize(message["data"])
            for channel in targets:
                channels[channel].put_nowait(decoded)

    def _tell_consumers(self) -> None:
        for queue in self.channel_layer.channels.values():
            queue.put_nowait(INTERRUPTED)

    async def _start_over(self) -> None:
        """Forget the connection and every subscription: the consumers told above close, and
        those that connect next subscribe afresh on a new connection (or fail while Redis is
        away, and their clients retry)."""
        async with self._lock:
            client, self._redis, self._pubsub = self._redis, None, None
            self._subscribed_to = set()
            self._receive_task = None
        if client is not None:
            with contextlib.suppress(Exception):
                await _close_redis(client)


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, hosts=None, **kwargs) -> None:
        super().__init__(*args, hosts=hosts, **kwargs)
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]

    async def receive(self, channel: str) -> dict:
        """The next message for `channel`; if more are already queued, up to MAX_BATCH of them
        in order, as one BATCH_TYPE message."""
        message = await super().receive(channel)
        queue = self.channels.get(channel)
        if queue is None or queue.empty():
            return message
        messages = [message]
        while len(messages) < MAX_BATCH and not queue.empty():
            messages.append(queue.get_nowait())
        return {"type": BATCH_TYPE, "messages": messages}


class PubSubChannelLayer(RedisPubSubChannelLayer):
    """RedisPubSubChannelLayer whose consumers hear of every break in its subscriptions."""

    def deserialize(self, message: bytes | dict) -> dict:
        """The queues already hold decoded messages (_Shard._receive_message), which
        channels_redis's receive() passes through here."""
        return message if isinstance(message, dict) else super().deserialize(message)

    def group_send_blocking(self, groups: Iterable[str], message: dict) -> None:
        """group_send() to each of `groups`, for sync code: the same channels and encoding as the
        layer's own, the message encoded once and all its PUBLISHes in one round trip per shard."""
        prefix = self._kwargs.get("prefix", "asgi")
        data = self.serialize(message)
        clients = self._blocking_clients
        pipelines: dict[int, redis.client.Pipeline] = {}
        for group in groups:
            channel = f"{prefix}__group__{group}"
            index = _consistent_hash(channel, len(clients))
            if index not in pipelines:
                pipelines[index] = clients[index].pipeline(transaction=False)
            pipelines[index].publish(channel, data)
        for pipeline in pipelines.values():
            pipeline.execute()

    @cached_property
    def _blocking_clients(self) -> list[redis.Redis]:
        return [
            redis.Redis.from_url(host["address"], socket_timeout=3, socket_connect_timeout=3)
            for host in decode_hosts(self._kwargs.get("hosts"))
        ]

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer
