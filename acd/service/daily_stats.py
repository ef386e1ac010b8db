"""Today's call counters per queue and per team, in Redis hashes keyed by local calendar day.

``DailyStats`` is an :class:`~acd.service.ports.EventSink`: it counts each call event once,
when the acd process that handled it publishes it, so several processes sharing one Redis
never count a call twice. One hash per day and scope, ``acd:{site}:stats:<day>:queue:<name>``
and ``...:team:<name>``, expiring a few days later. The day is the local calendar day of the
event (``routing.stats_timezone``), so a call answered just after midnight counts for the new
day.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import cast
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from redis.exceptions import RedisError

from acd.config import RoutingSettings
from acd.errors import StoreUnavailable
from acd.metrics import Metrics
from acd.store import Store
from acd.store.keys import Keys

log = logging.getLogger("acd.stats")

KEEP_SECONDS = 3 * 86_400  # today, yesterday and the day before: enough for shift reports
Increments = dict[str, dict[str, float]]  # key -> field -> amount


class Scope(StrEnum):
    """What a day's counters are about."""

    QUEUE = "queue"
    TEAM = "team"


def local_day(now: float, zone: ZoneInfo) -> str:
    """The calendar day of ``now`` (seconds since the epoch) in ``zone``, as 2026-11-29."""
    return datetime.fromtimestamp(now, zone).date().isoformat()


@dataclass(frozen=True, slots=True)
class DayCounters:
    """One day's counters for one queue or team (all zero when nothing happened).

    A team's counters are the calls its agents answered and handled; the call-arrival
    counters (offered, abandoned, ...) exist for queues only.
    """

    offered: int = 0
    answered: int = 0
    answered_within_sl: int = 0  # answered with a wait at most the queue's service level
    abandoned: int = 0
    short_abandoned: int = 0  # abandoned within ``routing.short_abandon_seconds``
    overflowed: int = 0  # left the queue for a fallback (not a mere step to the leads)
    failed: int = 0
    handled: int = 0  # answered calls that ended: talk and wrap-up are known
    wait_answered_sum: float = 0.0
    talk_sum: float = 0.0
    handle_sum: float = 0.0  # talk + the queue's wrap-up

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> DayCounters:
        """Counters from a Redis hash; unknown fields are ignored."""
        values: dict[str, float] = {}
        for f in fields(cls):
            if f.name in raw:
                number = float(raw[f.name])
                values[f.name] = int(number) if f.type == "int" else number
        return cls(**values)  # type: ignore[arg-type]


class DailyStats:
    """An event sink that keeps today's counters per queue and team; it never raises."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        metrics: Metrics,
        *,
        timezone: str = "UTC",
        short_abandon_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.prefix = keys.prefix + "stats:"
        self.metrics = metrics
        self.timezone = ZoneInfo(timezone)
        self.short_abandon_seconds = short_abandon_seconds
        self.clock = clock

    @classmethod
    def from_store(cls, store: Store, routing: RoutingSettings,
                   clock: Callable[[], float] = time.time) -> DailyStats:
        """Daily statistics kept beside ``store``'s keys."""
        return cls(store.redis, store.keys, store.metrics, timezone=routing.stats_timezone,
                   short_abandon_seconds=routing.short_abandon_seconds, clock=clock)

    def day_of(self, now: float) -> str:
        """The local calendar day of ``now`` (seconds since the epoch), as 2026-11-29."""
        return local_day(now, self.timezone)

    def today(self) -> str:
        """The local calendar day now."""
        return self.day_of(self.clock())

    def key(self, day: str, scope: Scope, name: str) -> str:
        """The hash of one day's counters for one queue or team."""
        return f"{self.prefix}{day}:{scope.value}:{name}"

    async def read(self, day: str, scope: Scope, name: str) -> DayCounters:
        """One day's counters for a queue or team; raises StoreUnavailable."""
        try:
            raw = await self.redis.hgetall(self.key(day, scope, name))
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.inc()
            raise StoreUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
        return DayCounters.from_fields(cast(dict[str, str], raw))

    async def publish(self, kind: str, data: dict[str, object]) -> None:
        """Count one event; a Redis failure is counted and logged, never raised."""
        try:
            increments = await self._increments(kind, data)
            if increments:
                await self._write(increments)
        except StoreUnavailable as exc:  # a lookup failed; the store counted it already
            log.warning("daily statistics not updated", extra={"kind": kind, "error": str(exc)})
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.inc()
            log.warning("daily statistics not updated", extra={"kind": kind, "error": str(exc)})

    async def _increments(self, kind: str, data: dict[str, object]) -> Increments:
        queue = str(data.get("queue", ""))
        if not queue:
            return {}
        day = self.today()
        counts: Increments = defaultdict(lambda: defaultdict(float))
        mine = counts[self.key(day, Scope.QUEUE, queue)]
        wait = _number(data.get("wait_seconds"))
        if kind == "call.offered":
            mine["offered"] += 1
        elif kind == "call.abandoned":
            mine["abandoned"] += 1
            if wait <= self.short_abandon_seconds:
                mine["short_abandoned"] += 1
        elif kind == "call.overflowed":
            # A step to the leads keeps the call in the queue: only a departure counts.
            if "step" not in data or data.get("to"):
                mine["overflowed"] += 1
        elif kind == "call.failed":
            mine["failed"] += 1
        elif kind == "call.answered" and data.get("escalated"):
            return {}  # answered once already, by the agent who escalated it
        elif kind in ("call.answered", "call.ended"):
            # The router puts what it knows on the event (the agent's team, the queue's
            # service level and wrap-up), so counting needs no lookup.
            team = str(data.get("team", ""))
            scopes = [mine, counts[self.key(day, Scope.TEAM, team)]] if team else [mine]
            for counters in scopes:
                if kind == "call.answered":
                    counters["answered"] += 1
                    counters["wait_answered_sum"] += wait
                    if data.get("within_service_level"):
                        counters["answered_within_sl"] += 1
                else:
                    talk = _number(data.get("talk_seconds"))
                    counters["handled"] += 1
                    counters["talk_sum"] += talk
                    counters["handle_sum"] += _number(data.get("handle_seconds", talk))
        else:
            return {}
        return counts

    async def _write(self, increments: Increments) -> None:
        """All of one event's increments in one MULTI, each hash kept a few days."""
        pipe = self.redis.pipeline(transaction=True)
        for key, amounts in increments.items():
            for field_name, amount in amounts.items():
                if field_name.endswith("_sum"):
                    pipe.hincrbyfloat(key, field_name, amount)
                else:
                    pipe.hincrby(key, field_name, int(amount))
            pipe.expire(key, KEEP_SECONDS)
        await pipe.execute()


def _number(value: object) -> float:
    """A number from an event field (0 if absent or not a number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 0.0
