"""One reader of the event stream per process, fanned out in memory to every SSE client.

Each client used to hold a blocking XREAD of its own: 300 wallboards held 101 Redis
connections. Now one task follows the stream while anyone listens and hands every batch to
each subscriber's bounded queue; a client catches up from its ``Last-Event-ID`` with short
non-blocking reads, then takes the shared batches, dropping those it already sent. A client
too slow to keep up is ended with a ``retry:`` rather than buffered without bound: it
reconnects with ``Last-Event-ID`` and catches up from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from acd.errors import AcdError, StoreUnavailable
from acd.store.event_stream import EventStream, StreamEvent

log = logging.getLogger("acd.api")

BACKLOG = 256  # batches a subscriber may have waiting before it is told to reconnect
DEFAULT_MAX_CLIENTS = 500


class TooManyClients(AcdError):
    """Every event stream slot is taken (``http.max_event_clients``)."""


class Lagged(AcdError):
    """The client fell more than :data:`BACKLOG` batches behind the shared reader."""


Item = list[StreamEvent] | StoreUnavailable | Lagged


def stream_position(entry_id: str) -> tuple[int, int]:
    """A stream id (``1700000000000-3``) as a pair that sorts as Redis orders entries."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Subscription:
    """One client's place on the shared feed: the batches read since it subscribed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(BACKLOG + 1)

    def offer(self, item: Item) -> bool:
        """Queue ``item``; False (and a :class:`Lagged` queued instead) once it is full."""
        if self.queue.qsize() < BACKLOG:
            self.queue.put_nowait(item)
            return True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(Lagged("too far behind the event stream"))
        return False

    async def next_batch(self) -> list[StreamEvent]:
        """The next batch (empty: nothing came for a while); raises what ended the feed."""
        item = await self.queue.get()
        if isinstance(item, Exception):
            raise item
        return item


class EventFeed:
    """The process's one follower of the event stream, running while it has subscribers."""

    def __init__(self, stream: EventStream, max_clients: int = DEFAULT_MAX_CLIENTS) -> None:
        self.stream = stream
        self.max_clients = max_clients
        self._subscribers: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    async def subscribe(self) -> Subscription:
        """A place on the feed, which gets every event appended from now on.

        Raises :class:`TooManyClients` when full, StoreUnavailable if the reader could not
        start.
        """
        if len(self._subscribers) >= self.max_clients:
            raise TooManyClients(f"at most {self.max_clients} event streams at once")
        async with self._starting:
            if self._task is None or self._task.done():
                # The reader's starting point is read before anyone is registered, so every
                # event after it reaches every subscriber.
                after = await self.stream.last_id()
                self._task = asyncio.create_task(self._follow(after), name="event-feed")
            subscription = Subscription()
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Leave the feed; the reader stops with its last subscriber."""
        self._subscribers.discard(subscription)
        if not self._subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def stop(self) -> None:
        """Stop the reader (at the application's clean-up)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, after: str) -> None:
        try:
            while True:
                after, events = await self.stream.read(after, self.stream.block_ms)
                self._hand_out(events)
        except StoreUnavailable as exc:
            # Every client ends with a retry hint and comes back with Last-Event-ID.
            log.warning("event feed stopped: redis unavailable", extra={"error": str(exc)})
            self._hand_out(exc)
            self._subscribers.clear()

    def _hand_out(self, item: Item) -> None:
        for subscription in list(self._subscribers):
            if not subscription.offer(item):
                self._subscribers.discard(subscription)
