"""The worker: one queue of telephony events, commands and ticks, handled one at a time, so
one process never races itself (Lua scripts make several processes safe against each other).

It knows its handlers by the type of item they take; the handlers do not know it. While
Redis is down it holds telephony events, in order, and retries them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from acd.errors import StoreUnavailable
from acd.metrics import Metrics

log = logging.getLogger("acd.router")


@dataclass(frozen=True, slots=True)
class Tick:
    """Housekeeping: whatever deadline has come."""


@dataclass(slots=True, eq=False)
class Command:
    """Work submitted by the API, run in the worker; its result comes back on ``done``."""

    run: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(frozen=True, slots=True)
class Stop:
    """The worker's last item."""


@dataclass(frozen=True, slots=True)
class Flush:
    """Time to write the side writes gathered since the last flush."""


Handler = Callable[[Any, float], Awaitable[None]]


class Worker:
    """See the module docstring. ``handlers`` maps an item type to what handles it (with the
    monotonic time it was received); ``flush`` runs whenever the queue runs dry (side writes),
    and ``flush_due`` says when it must run anyway."""

    def __init__(
        self,
        handlers: dict[type, Handler],
        metrics: Metrics,
        flush: Callable[[], Awaitable[None]],
        flush_due: Callable[[], bool],
        flush_delay: float = 0.0,
        limit: int = 10_000,
    ) -> None:
        self._handlers = handlers
        self._metrics = metrics
        self._flush = flush
        self._flush_due = flush_due
        # How long side writes may gather once the worker has nothing else to do (0: written
        # at once): under load many calls' writes then share one round trip.
        self._flush_delay = flush_delay
        self._work: asyncio.Queue[tuple[object, float]] = asyncio.Queue()
        self.handled = 0  # items done; tests wait on them through `idle()`
        self._idle = asyncio.Event()
        self._flush_timer: asyncio.TimerHandle | None = None
        self.pending_writes: Callable[[], int] = lambda: 0
        # True while a telephony event waits for Redis: commands are refused at once (the
        # API answers 503) instead of queueing behind it for as long as Redis is away.
        self.holding = False
        self._commands: set[Command] = set()
        # Backpressure: past ``limit`` waiting items ``on_backlog(True)`` asks the source of
        # events to stop reading (AMI: Asterisk's events wait in the socket, none is
        # dropped), and ``on_backlog(False)`` at half of it to read again.
        self._limit = limit
        self._backlogged = False
        self.on_backlog: Callable[[bool], None] = lambda _full: None
        metrics.worker_queue_depth.set_function(self._work.qsize)

    def submit(self, work: object) -> None:
        """Queue an event or command; called from the AMI callback, never blocks."""
        self._idle.clear()
        self._work.put_nowait((work, time.perf_counter()))
        depth = self._work.qsize()
        if depth >= self._limit and not self._backlogged:
            self._backlogged = True
            self._metrics.ami_reads_paused.inc()
            log.warning("router behind, AMI reads paused", extra={"pending": depth})
            self.on_backlog(True)

    async def call(self, run: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``run`` inside the worker, in order with events, and return its result."""
        if self.holding:
            raise StoreUnavailable("redis unavailable: telephony events are held until it is back")
        command = Command(run)
        self._commands.add(command)
        self.submit(command)
        try:
            return await command.done
        finally:
            self._commands.discard(command)

    def stop(self) -> None:
        """Ask the worker to finish after the items already queued."""
        self._work.put_nowait((Stop(), time.perf_counter()))

    def pending(self) -> int:
        """Items waiting for the worker."""
        return self._work.qsize()

    async def idle(self) -> None:
        """Wait until every submitted item has been handled (and its side writes written)."""
        await self._idle.wait()

    async def run(self) -> None:
        """One item at a time; an item's failure is logged, never fatal."""
        while True:
            await self._between_items()
            work, received = await self._work.get()
            if self._backlogged and self._work.qsize() <= self._limit // 2:
                self._backlogged = False
                log.info("router caught up, AMI reads resumed")
                self.on_backlog(False)
            if isinstance(work, Stop):
                if self._flush_timer is not None:
                    self._flush_timer.cancel()
                await self._flush_quietly()
                return
            if isinstance(work, Flush):
                self._flush_timer = None
                await self._flush_quietly()
                continue
            if not isinstance(work, Command | Tick):
                self._metrics.event_age_seconds.observe(time.perf_counter() - received)
            try:
                await self._handle_until_stored(work, received)
            except Exception as exc:
                if not isinstance(exc, StoreUnavailable):
                    self._metrics.ami_bad_events.labels("handler_error").inc()
                    log.exception("failed to handle %s", type(work).__name__)
                if isinstance(work, Command) and not work.done.done():
                    work.done.set_exception(exc)
            finally:
                self.handled += 1

    async def _between_items(self) -> None:
        """Side writes: written when many have gathered, or once the queue runs dry (at once,
        or after the flush delay); idle only when nothing is left to write."""
        if self._flush_due():
            await self._flush_quietly()
        if not self._work.empty():
            return
        if self.pending_writes() and not self._flush_delay:
            await self._flush_quietly()
        if self.pending_writes():
            self._schedule_flush()
        elif self._flush_timer is None and self._work.empty():
            self._idle.set()

    def _schedule_flush(self) -> None:
        if self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(
                self._flush_delay, self._work.put_nowait, (Flush(), 0.0)
            )

    async def _flush_quietly(self) -> None:
        try:
            await self._flush()
        except StoreUnavailable as exc:
            log.warning("side writes lost: redis unavailable", extra={"error": str(exc)})
        except Exception:
            log.exception("side writes failed")

    async def _handle_until_stored(self, work: object, received: float) -> None:
        """Handle ``work``; while Redis is down, retry telephony events with backoff.

        Events are facts from Asterisk: dropping one would lose a call, so the worker holds
        them, in order, until Redis is back. Commands fail at once (the API answers 503) and
        ticks are simply skipped.
        """
        delay = 0.05
        while True:
            try:
                await self._handle(work, received)
                self.holding = False
                return
            except StoreUnavailable as exc:
                if isinstance(work, Command | Tick):
                    raise
                log.error(
                    "redis unavailable, holding the event",
                    extra={"event": type(work).__name__, "error": str(exc), "retry_in": delay},
                )
                self._hold(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _hold(self, exc: StoreUnavailable) -> None:
        """Start holding: the commands already queued fail now rather than wait."""
        self.holding = True
        for command in self._commands:
            if not command.done.done():
                command.done.set_exception(StoreUnavailable(str(exc)))

    async def _handle(self, work: object, received: float) -> None:
        if isinstance(work, Command):
            if work.done.done():
                return  # refused while Redis was away: its caller has had its answer
            result = await work.run()
            # What a command recorded is written before its caller hears back: an API
            # client reads its own writes (the call's history, the stream).
            await self._flush_quietly()
            if not work.done.done():
                work.done.set_result(result)
            return
        handler = self._handlers.get(type(work))
        if handler is not None:
            await handler(work, received)
