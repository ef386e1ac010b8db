"""Business events recorded in batches: the event stream's entries and the day's figures of a
whole batch reach Redis in one round trip, in order, and reports read after it include it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from redis.asyncio import ConnectionPool, Redis, UnixDomainSocketConnection

from acd.domain.event_kinds import EventKind
from acd.metrics import Metrics
from acd.service.daily_stats import DailyStats, DayCounters, Scope
from acd.service.event_log import EventLog, Fanout
from acd.store.daily_figures import DailyFigures
from acd.store.event_stream import EventStream
from acd.store.keys import Keys
from tests.support import RecordingSink


class CountingConnection(UnixDomainSocketConnection):
    """A real connection that counts what it sends: a pipeline goes out in one send."""

    sends = 0

    async def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
        CountingConnection.sends += 1
        await super().send_packed_command(*args, **kwargs)


@pytest.fixture
async def counted_redis(redis_url: str) -> AsyncIterator[Redis]:
    # Built by hand: from_url would pick the connection class from the URL's scheme.
    pool = ConnectionPool(
        connection_class=CountingConnection,
        decode_responses=True,
        path=redis_url.removeprefix("unix://"),
    )
    client = Redis(connection_pool=pool)
    await client.ping()  # the connection's own set-up is not the batch's
    yield client
    await client.aclose()


async def round_trips_of(publishing: Awaitable[None]) -> int:
    before = CountingConnection.sends
    await publishing
    return CountingConnection.sends - before


BATCH: list[tuple[str, dict[str, object]]] = [
    (EventKind.CALL_OFFERED, {"call": "c1", "queue": "продажи", "caller_name": "Иван"}),
    (EventKind.CALL_OFFERED, {"call": "c2", "queue": "продажи"}),
    (
        EventKind.CALL_ANSWERED,
        {
            "call": "c1",
            "queue": "продажи",
            "agent": "1001",
            "team": "north",
            "wait_seconds": 4.5,
            "within_service_level": True,
        },
    ),
    (EventKind.AGENT_STATE, {"agent": "1001", "state": "busy"}),
    (EventKind.CALL_ABANDONED, {"call": "c2", "queue": "продажи", "wait_seconds": 30.0}),
]


def sinks(redis: Redis, site: str, metrics: Metrics) -> tuple[EventStream, DailyStats]:
    keys = Keys(site)
    return (
        EventStream(redis, keys, metrics),
        DailyStats(DailyFigures(redis, keys, metrics), timezone="Europe/Moscow"),
    )


async def test_a_batch_of_call_events_is_one_round_trip_and_the_queue_report_includes_it(
    counted_redis: Redis, site: str
) -> None:
    metrics = Metrics()
    stream, stats = sinks(counted_redis, site, metrics)
    listener = RecordingSink()
    fanout = Fanout(EventLog(stream), stats, listener)

    assert await round_trips_of(fanout.publish_batch(BATCH)) == 1

    today = stats.today()
    assert await stats.read(today, Scope.QUEUE, "продажи") == DayCounters(
        offered=2, answered=1, answered_within_sl=1, abandoned=1, wait_answered_sum=4.5
    )
    assert (await stats.read(today, Scope.TEAM, "north")).answered == 1
    _, recorded = await stream.read("0-0")
    assert [(e.kind, e.data) for e in recorded] == BATCH  # in the batch's order
    assert listener.events == BATCH
    assert metrics.registry.get_sample_value("acd_redis_errors_total") == 0


async def test_one_event_is_one_round_trip_for_the_stream_and_the_figures(
    counted_redis: Redis, site: str
) -> None:
    stream, stats = sinks(counted_redis, site, Metrics())
    fanout = Fanout(EventLog(stream), stats)
    offered = {"call": "c1", "queue": "sales"}
    assert await round_trips_of(fanout.publish(EventKind.CALL_OFFERED, offered)) == 1
    assert (await stats.read(stats.today(), Scope.QUEUE, "sales")).offered == 1
    assert await stream.last_id() != "0-0"


async def test_a_batch_while_redis_is_down_still_reaches_the_other_sinks_and_is_counted(
    site: str,
) -> None:
    # A real client pointed at a port nothing listens on: every command fails at once.
    down = Redis.from_url(
        "redis://127.0.0.1:1/0", decode_responses=True, socket_connect_timeout=0.5
    )
    metrics = Metrics()
    stream, stats = sinks(down, site, metrics)
    listener = RecordingSink()
    try:
        await Fanout(EventLog(stream), stats, listener).publish_batch(BATCH)
    finally:
        await down.aclose()
    assert listener.events == BATCH
    assert metrics.registry.get_sample_value("acd_redis_errors_total") == 1  # one round trip
