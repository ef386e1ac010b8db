"""The event log sink (every call and agent event onto the event stream for integrators), and
the fan-out of events to every sink, a batch's Redis writes sent in one round trip."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from acd.errors import StoreUnavailable
from acd.service.ports import EventSink
from acd.store.event_stream import EventStream
from acd.store.side_writes import SideWrites

log = logging.getLogger("acd.events")

Events = Sequence[tuple[str, Mapping[str, object]]]


@runtime_checkable
class PipelinedSink(Protocol):
    """A sink whose writes for an event join a batch of side writes (one round trip)."""

    def add_to(self, writes: SideWrites, kind: str, data: Mapping[str, object]) -> None:
        """Add the writes ``kind`` with ``data`` asks for; nothing is sent yet."""


async def record_in_one_round_trip(
    sinks: Sequence[PipelinedSink], events: Events, also: Callable[[SideWrites], None] | None = None
) -> None:
    """Every sink's writes for every event, in order, as one pipeline (with what ``also``
    adds: calls' history); a Redis failure is counted (by the store) and logged, never
    raised: a call must not wait on its records."""
    writes = SideWrites()
    if also is not None:
        also(writes)
    for kind, data in events:
        for sink in sinks:
            sink.add_to(writes, kind, data)
    try:
        await writes.send()
    except StoreUnavailable as exc:
        log.warning(
            "events not recorded", extra={"kinds": [kind for kind, _ in events], "error": str(exc)}
        )


class EventLog:
    """An :class:`EventSink` that appends to the site's :class:`EventStream`; failures never
    reach routing."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream

    async def publish(self, kind: str, data: Mapping[str, object]) -> None:
        await self.publish_batch([(kind, data)])

    async def publish_batch(self, events: Events) -> None:
        await record_in_one_round_trip([self], events)

    def add_to(self, writes: SideWrites, kind: str, data: Mapping[str, object]) -> None:
        """Add the event's entry to a batch of side writes."""
        self.stream.append_into(writes, kind, data)


class Fanout:
    """Several sinks behind one: the event log, the daily figures, whatever else wants events.

    The Redis sinks' writes of an event or a batch go in one round trip, before any other
    sink hears of it: what a listener reads back (a report, the stream) already has it.
    """

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks
        self._pipelined = [s for s in sinks if isinstance(s, PipelinedSink)]
        self._others = [s for s in sinks if not isinstance(s, PipelinedSink)]

    async def publish(self, kind: str, data: Mapping[str, object]) -> None:
        await self.publish_batch([(kind, data)])

    async def publish_batch(
        self, events: Events, also: Callable[[SideWrites], None] | None = None
    ) -> None:
        """Record ``events`` in order: one round trip for every Redis sink's writes (and what
        ``also`` adds to it), then each other sink's own ``publish_batch``."""
        if self._pipelined or also is not None:
            await record_in_one_round_trip(self._pipelined, events, also)
        for sink in self._others:
            await sink.publish_batch(events)
