"""Each day's call counters per queue and per team: one Redis hash per local calendar day and
scope, ``acd:{site}:stats:<day>:queue:<name>`` and ``...:team:<name>``, kept a few days."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import NamedTuple, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from acd.metrics import Metrics
from acd.store.keys import Keys
from acd.store.round_trips import round_trip
from acd.store.side_writes import SideWrites

KEEP_SECONDS = 3 * 86_400  # today, yesterday and the day before: enough for shift reports


class Scope(StrEnum):
    """What a day's counters are about."""

    QUEUE = "queue"
    TEAM = "team"


class DayScope(NamedTuple):
    """One day's counters of one queue or team: which hash."""

    day: str  # the local calendar day, as 2026-11-29
    scope: Scope
    name: str


Increments = Mapping[DayScope, Mapping[str, float]]  # counters -> field -> amount


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


_FRACTIONAL = frozenset(f.name for f in fields(DayCounters) if f.type == "float")


class DailyFigures:
    """The daily counters of one site; every failure raises StoreUnavailable."""

    def __init__(self, redis: Redis, keys: Keys, metrics: Metrics) -> None:
        self.redis = redis
        self.keys = keys
        self.metrics = metrics

    async def read(self, counters: DayScope) -> DayCounters:
        """One day's counters of a queue or team."""
        raw = await round_trip(self.metrics, self.redis.hgetall(self._key(counters)))
        return DayCounters.from_fields(cast(dict[str, str], raw))

    def add_into(self, writes: SideWrites, increments: Increments) -> None:
        """Add the increments to a batch of side writes."""
        self._queue_increments(writes.pipeline(self.redis, self.metrics), increments)

    def _key(self, counters: DayScope) -> str:
        return self.keys.daily_figures(counters.day, counters.scope.value, counters.name)

    def _queue_increments(self, pipe: Pipeline, increments: Increments) -> None:
        for counters, amounts in increments.items():
            key = self._key(counters)
            for field_name, amount in amounts.items():
                if field_name in _FRACTIONAL:
                    pipe.hincrbyfloat(key, field_name, amount)
                else:
                    pipe.hincrby(key, field_name, int(amount))
            pipe.expire(key, KEEP_SECONDS)
