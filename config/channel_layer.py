"""Skylark's Channels layer: the Channels layer specification (groups and flush extensions) on
Redis pub/sub, one Redis server, and the live feed's needs built in: what waits for a consumer is
handed over at once, each message is decoded once per process, and a break in the subscription
tells every local consumer.

Why pub/sub: a group_send to 1000 dashboards is one PUBLISH; each daphne process subscribes once
per group that its consumers joined and fans the message out to them in memory
(docs/benchmarks.md, "alert latency").

Channels: new_channel() names a channel of this process, "specific.<process>!<local>". Nothing
is subscribed per channel: the process listens on one Redis channel of its own, and send() to one
of its channels publishes there with the local name beside the message (the specification's
process-specific channels). Group memberships live in the process of their channel; they go
when the channel's receive() is cancelled (its consumer ended), so `group_expiry` never comes
into play.

What pub/sub costs: Redis keeps nothing for a subscriber that is not connected. When the
subscription connection breaks (Redis restarted or unreachable), whatever was published
meanwhile never arrives. The layer then puts INTERRUPTED into the queue of every local channel
and forgets its subscriptions; the live-feed consumer closes its socket with code 4012 on it and
the dashboards reconnect and resume from the last alert they saw, as after any other outage.
A consumer that falls `capacity` messages behind is told the same way, rather than losing
messages silently.

Handing over what waits: the reader takes every message Redis has sent so far, not one per turn
of the event loop, and receive() returns the messages queued for a channel as one BATCH_TYPE
message ({"type": "layer.batch", "messages": [...]}, in order). A consumer then dispatches once
for many events instead of once each: with 100 dashboards and 500 alerts/s that is 50,000
dispatches a second, more than one process can make. At a quiet rate every message comes alone.

Sync code (Celery workers, views) publishes with group_send_blocking(): PUBLISHes pipelined on a
kept connection, where async_to_sync(group_send) would start an event loop and a connection per
call (0.06 ms against 3.4 ms measured).
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import msgpack
import redis
import redis.asyncio
from channels.layers import BaseChannelLayer
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from detection.logfmt import kv

logger = logging.getLogger("skylark.realtime")

INTERRUPTED = {"type": "skylark.interrupted"}
BATCH_TYPE = "layer.batch"
# The most messages one receive() returns; the rest wait for the next.
MAX_BATCH = 200
# The most messages the reader takes off its connection before it lets the consumers run.
MAX_READ_AT_ONCE = 1000


def encode(message: dict) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def decode(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


@dataclass
class _Subscriber:
    """The layer's state in one event loop: its connections, channels and group memberships.
    A group is subscribed to exactly while it has members here."""

    client: redis.asyncio.Redis  # publishes
    listener: redis.asyncio.Redis  # subscribes
    channels: dict[str, asyncio.Queue[dict]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    pubsub: PubSub | None = None
    reader: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RedisPubSubLayer(BaseChannelLayer):
    """Channels and groups over Redis pub/sub; see the module docstring."""

    extensions = ["groups", "flush"]

    def __init__(
        self,
        hosts: list[str] | None = None,
        prefix: str = "asgi",
        capacity: int = 1000,
        group_expiry: int = 86400,
    ) -> None:
        """hosts: the one Redis URL (a list, as channels_redis spells it, so its settings carry
        over); prefix: put before every Redis channel name, so two installations on one Redis
        server stay apart; capacity: the most messages waiting for one channel."""
        super().__init__(capacity=capacity)
        if not hosts or len(hosts) != 1:
            raise ImproperlyConfigured("the channel layer takes exactly one Redis URL in hosts")
        self.url = hosts[0]
        self.prefix = prefix
        self.group_expiry = group_expiry
        self.process_name = f"specific.{uuid.uuid4().hex}!"
        self._subscribers: dict[asyncio.AbstractEventLoop, _Subscriber] = {}

    # -- Redis channel names: the one place they are made ---------------------------------
    def group_key(self, group: str) -> str:
        return f"{self.prefix}:group:{group}"

    def process_key(self) -> str:
        return f"{self.prefix}:process:{self.process_name}"

    # -- the specification ----------------------------------------------------------------
    async def new_channel(self, prefix: str = "specific") -> str:
        subscriber = self._subscriber()
        async with subscriber.lock:
            await self._listening(subscriber)
            name = f"{self.process_name}{uuid.uuid4().hex}"
            subscriber.channels[name] = asyncio.Queue()
        return name

    async def send(self, channel: str, message: dict) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        process = self.non_local_name(channel)
        data = encode({"channel": channel, "message": message})
        await self._subscriber().client.publish(f"{self.prefix}:process:{process}", data)

    async def receive(self, channel: str) -> dict:
        """The next message for `channel`; if more are already queued, up to MAX_BATCH of them
        in order, as one BATCH_TYPE message. Cancelled, the channel is forgotten."""
        subscriber = self._subscriber()
        queue = subscriber.channels.get(channel)
        if queue is None:  # a name new_channel() made is valid: checked only when unknown
            self.require_valid_channel_name(channel)
            raise ValueError(f"channel {channel!r} was not made by this layer in this process")
        try:
            message = await queue.get()
        except asyncio.CancelledError:
            await self._forget(subscriber, channel)
            raise
        if queue.empty():
            return message
        messages = [message]
        while len(messages) < MAX_BATCH and not queue.empty():
            messages.append(queue.get_nowait())
        return {"type": BATCH_TYPE, "messages": messages}

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        subscriber = self._subscriber()
        async with subscriber.lock:
            pubsub = await self._listening(subscriber)
            if group not in subscriber.groups:
                await pubsub.subscribe(self.group_key(group))
                subscriber.groups[group] = set()
            subscriber.groups[group].add(channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        subscriber = self._subscriber()
        async with subscriber.lock:
            await self._leave(subscriber, group, channel)

    async def group_send(self, group: str, message: dict) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        await self._subscriber().client.publish(self.group_key(group), encode(message))

    async def flush(self) -> None:
        """Forget every channel and group of this process (Redis keeps nothing to flush)."""
        await self.close()

    async def close(self) -> None:
        subscriber = self._subscribers.pop(asyncio.get_running_loop(), None)
        if subscriber is None:
            return
        reader, pubsub = subscriber.reader, subscriber.pubsub
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        for connection in (pubsub, subscriber.listener, subscriber.client):
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.aclose()

    # -- for sync code --------------------------------------------------------------------
    def group_send_blocking(self, groups: Iterable[str], message: dict) -> None:
        """group_send() to each of `groups`, for sync code: the message encoded once and all
        its PUBLISHes in one round trip."""
        data = encode(message)
        pipeline = self._blocking_client.pipeline(transaction=False)
        for group in groups:
            self.require_valid_group_name(group)
            pipeline.publish(self.group_key(group), data)
        pipeline.execute()

    @cached_property
    def _blocking_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=3, socket_connect_timeout=3)

    # -- subscriptions and the reader -----------------------------------------------------
    def _subscriber(self) -> _Subscriber:
        """This event loop's state (tests run many loops in turn; daphne runs one)."""
        loop = asyncio.get_running_loop()
        subscriber = self._subscribers.get(loop)
        if subscriber is None:
            for closed in [other for other in self._subscribers if other.is_closed()]:
                del self._subscribers[closed]
            subscriber = _Subscriber(
                client=redis.asyncio.Redis.from_url(self.url),
                # No retries: redis-py would reconnect and subscribe again by itself, and what
                # was published meanwhile would be lost without a word.
                listener=redis.asyncio.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0)),
            )
            self._subscribers[loop] = subscriber
        return subscriber

    async def _listening(self, subscriber: _Subscriber) -> PubSub:
        """The subscription connection, made (with the process's own channel subscribed and a
        reader running) if there is none. Called holding the lock."""
        if subscriber.pubsub is None:
            pubsub = subscriber.listener.pubsub()
            try:
                await pubsub.subscribe(self.process_key())
            except Exception:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            subscriber.pubsub = pubsub
            subscriber.reader = asyncio.create_task(self._read(subscriber, pubsub))
        return subscriber.pubsub

    async def _leave(self, subscriber: _Subscriber, group: str, channel: str) -> None:
        """Take `channel` out of `group`, unsubscribing when it was the last member here.
        Called holding the lock."""
        members = subscriber.groups.get(group)
        if members is None:
            return
        members.discard(channel)
        if not members:
            del subscriber.groups[group]
            if subscriber.pubsub is not None:
                await subscriber.pubsub.unsubscribe(self.group_key(group))

    async def _forget(self, subscriber: _Subscriber, channel: str) -> None:
        subscriber.channels.pop(channel, None)
        async with subscriber.lock:
            for group in [g for g, members in subscriber.groups.items() if channel in members]:
                with contextlib.suppress(Exception):  # Redis gone: nothing to unsubscribe from
                    await self._leave(subscriber, group, channel)

    async def _read(self, subscriber: _Subscriber, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                # Whatever else has arrived is queued now, so each consumer finds it all at its
                # next receive() (one batch) rather than one message per loop turn.
                for _ in range(MAX_READ_AT_ONCE):
                    if message is None:
                        break
                    self._deliver(subscriber, message["channel"].decode(), message["data"])
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
        except Exception as exc:
            logger.warning(kv(event="layer_interrupted", error=exc))
            await self._interrupt(subscriber, pubsub)

    def _deliver(self, subscriber: _Subscriber, key: str, data: bytes) -> None:
        """Queue a message for the local channels it is addressed to, decoded once: the queues
        share the one decoded dict, and consumers only read it."""
        decoded = decode(data)
        if key == self.process_key():
            targets, message = [decoded["channel"]], decoded["message"]
        else:
            group = key.removeprefix(f"{self.prefix}:group:")
            targets, message = list(subscriber.groups.get(group, ())), decoded
        for channel in targets:
            queue = subscriber.channels.get(channel)
            if queue is None:
                continue
            if queue.qsize() >= self.capacity:
                # The consumer is not keeping up: rather than lose messages without a word, it
                # hears that it lost some, and resumes.
                logger.warning(kv(event="channel_over_capacity", capacity=self.capacity))
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(INTERRUPTED)
                continue
            queue.put_nowait(message)

    async def _interrupt(self, subscriber: _Subscriber, pubsub: PubSub) -> None:
        """The subscription broke: tell every local channel, and forget the connection and
        every membership. The consumers told close; those that connect next subscribe afresh
        on a new connection (or fail while Redis is away, and their clients retry)."""
        async with subscriber.lock:
            for queue in subscriber.channels.values():
                queue.put_nowait(INTERRUPTED)
            subscriber.groups.clear()
            if subscriber.pubsub is pubsub:
                subscriber.pubsub, subscriber.reader = None, None
        with contextlib.suppress(Exception):
            await pubsub.aclose()
