"""Today's call counters per queue and per team: which figures each business event bumps.

``DailyStats`` is an :class:`~acd.service.ports.EventSink`: it counts each call event once,
when the acd process that handled it publishes it, so several processes sharing one Redis
never count a call twice. The counters live in :class:`~acd.store.daily_figures.DailyFigures`.
The day is the local calendar day of the event (``routing.stats_timezone``), so a call
answered just after midnight counts for the new day.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from acd.domain.event_kinds import EventKind
from acd.service.event_log import record_in_one_round_trip
from acd.service.routing_settings import RoutingSettings
from acd.store import Store
from acd.store.daily_figures import DailyFigures, DayCounters, DayScope, Increments, Scope
from acd.store.side_writes import SideWrites

# The counters' types come with the sink, for the reports that read them through it.
__all__ = ["DailyStats", "DayCounters", "Scope", "local_day"]


def local_day(now: float, zone: ZoneInfo) -> str:
    """The calendar day of ``now`` (seconds since the epoch) in ``zone``, as 2026-11-29."""
    return datetime.fromtimestamp(now, zone).date().isoformat()


class DailyStats:
    """An event sink that keeps today's counters per queue and team; it never raises."""

    def __init__(
        self,
        figures: DailyFigures,
        *,
        timezone: str = "UTC",
        short_abandon_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.figures = figures
        self.timezone = ZoneInfo(timezone)
        self.short_abandon_seconds = short_abandon_seconds
        self.clock = clock

    @classmethod
    def from_store(
        cls, store: Store, routing: RoutingSettings, clock: Callable[[], float] = time.time
    ) -> DailyStats:
        """Daily statistics kept beside ``store``'s keys."""
        return cls(
            DailyFigures(store.redis, store.keys, store.metrics),
            timezone=routing.stats_timezone,
            short_abandon_seconds=routing.short_abandon_seconds,
            clock=clock,
        )

    def day_of(self, now: float) -> str:
        """The local calendar day of ``now`` (seconds since the epoch), as 2026-11-29."""
        return local_day(now, self.timezone)

    def today(self) -> str:
        """The local calendar day now."""
        return self.day_of(self.clock())

    async def read(self, day: str, scope: Scope, name: str) -> DayCounters:
        """One day's counters for a queue or team; raises StoreUnavailable."""
        return await self.figures.read(DayScope(day, scope, name))

    async def publish(self, kind: str, data: Mapping[str, object]) -> None:
        """Count one event; a Redis failure is counted and logged, never raised."""
        await self.publish_batch([(kind, data)])

    async def publish_batch(self, events: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Count several events in one round trip; never raises."""
        await record_in_one_round_trip([self], events)

    def add_to(self, writes: SideWrites, kind: str, data: Mapping[str, object]) -> None:
        """Add what the event counts to a batch of side writes."""
        increments = self.increments(kind, data)
        if increments:
            self.figures.add_into(writes, increments)

    def increments(self, kind: str, data: Mapping[str, object]) -> Increments:
        """Which of today's counters the event bumps, and by how much."""
        queue = str(data.get("queue", ""))
        if not queue:
            return {}
        day = self.today()
        counts: dict[DayScope, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        mine = counts[DayScope(day, Scope.QUEUE, queue)]
        wait = _number(data.get("wait_seconds"))
        if kind == EventKind.CALL_OFFERED:
            mine["offered"] += 1
        elif kind == EventKind.CALL_ABANDONED:
            mine["abandoned"] += 1
            if wait <= self.short_abandon_seconds:
                mine["short_abandoned"] += 1
        elif kind == EventKind.CALL_OVERFLOWED:
            # A step to the leads keeps the call in the queue: only a departure counts.
            if "step" not in data or data.get("to"):
                mine["overflowed"] += 1
        elif kind == EventKind.CALL_FAILED:
            mine["failed"] += 1
        elif kind == EventKind.CALL_ANSWERED and data.get("escalated"):
            return {}  # answered once already, by the agent who escalated it
        elif kind in (EventKind.CALL_ANSWERED, EventKind.CALL_ENDED):
            # The router puts what it knows on the event (the agent's team, the queue's
            # service level and wrap-up), so counting needs no lookup.
            team = str(data.get("team", ""))
            scopes = [mine, counts[DayScope(day, Scope.TEAM, team)]] if team else [mine]
            for counters in scopes:
                _count_conversation(counters, kind, data, wait)
        else:
            return {}
        return counts


def _number(value: object) -> float:
    """A number from an event field (0 if absent or not a number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 0.0


def _count_conversation(
    counters: dict[str, float], kind: str, data: Mapping[str, object], wait: float
) -> None:
    """An answered call's wait, or a finished conversation's talk and handle time."""
    if kind == EventKind.CALL_ANSWERED:
        counters["answered"] += 1
        counters["wait_answered_sum"] += wait
        if data.get("within_service_level"):
            counters["answered_within_sl"] += 1
        return
    talk = _number(data.get("talk_seconds"))
    counters["handled"] += 1
    counters["talk_sum"] += talk
    counters["handle_sum"] += _number(data.get("handle_seconds", talk))
