"""Teams and their leads, and today's queue and team figures: over HTTP and in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from acd.errors import ConfigError
from acd.metrics import Metrics
from acd.service.daily_stats import DailyStats, DayCounters, Scope
from acd.service.reports import abandon_rate, service_level
from acd.sim import Simulator
from acd.store.daily_figures import DailyFigures
from acd.store.keys import Keys
from tests.conftest import MakeAcd
from tests.support import contact_centre, log_in
from tests.test_api import TOKENS, Client, http_settings

QUEUES = [
    {"name": "sales", "teams": ["north"], "service_level_seconds": 20, "wrap_up_seconds": 0},
    {"name": "поддержка", "teams": ["north", "الدعم"]},
]
AGENTS = [
    {"id": "1001", "name": "Anna", "dial": "PJSIP/1001", "team": "north", "queues": {"sales": 1}},
    {"id": "1002", "name": "Bram", "dial": "PJSIP/1002", "team": "north", "queues": {"sales": 1}},
    {"id": "1101", "name": "Ольга", "dial": "PJSIP/1101", "team": "north", "role": "lead"},
    {"id": "1201", "name": "سمير", "dial": "PJSIP/1201", "team": "north", "role": "supervisor"},
]


@pytest.fixture
async def api(sim: Simulator, make_acd: MakeAcd) -> AsyncIterator[tuple[Client, Any]]:
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    sim.add_phone("1002", answer_after=0.5, talk_for=1.0)
    app, sink = await make_acd(http=http_settings(), queues=QUEUES, agents=AGENTS)
    async with aiohttp.ClientSession() as session:
        yield Client(session, f"http://127.0.0.1:{app.http_port}", sink), app


async def get(client: Client, path: str) -> Any:
    status, body = await client.request("GET", path, token=TOKENS["viewer"])
    assert status == 200, body
    return body


async def test_supervisor_sees_todays_answered_abandoned_and_service_level_of_a_queue(
    api: tuple[Client, Any], sim: Simulator
) -> None:
    client, app = api
    # Nobody is logged in: the first caller waits, is seen waiting, then hangs up.
    caller = await sim.place_call(queue="sales", caller_name="Fatima", patience=None)
    await client.sink.wait_for("call.offered", call=caller.uniqueid)
    stats = await get(client, "/api/v1/queues/sales/stats")
    assert (stats["waiting"], stats["offered"]) == (1, 1)
    assert stats["oldest_wait_seconds"] >= 0
    # Offered and not (yet) answered within the threshold: 0 %, as Prometheus computes it.
    assert stats["agents"]["logged_out"] == 2 and stats["service_level"] == 0.0
    caller.hang_up()
    await client.sink.wait_for("call.abandoned", call=caller.uniqueid)

    await log_in(app, "1001", "1002")
    assert (await get(client, "/api/v1/queues/sales/stats"))["agents"]["ready"] == 2
    calls = [
        await sim.place_call(queue="sales", caller_name=name, patience=60)
        for name in ("Иван Петров", "محمد")
    ]
    for call in calls:
        await client.sink.wait_for("call.ended", call=call.uniqueid)

    stats = await get(client, "/api/v1/queues/sales/stats")
    counted = {
        k: stats[k]
        for k in (
            "offered",
            "answered",
            "answered_within_sl",
            "abandoned",
            "short_abandoned",
            "overflowed",
            "failed",
            "handled",
            "waiting",
        )
    }
    assert counted == {
        "offered": 3,
        "answered": 2,
        "answered_within_sl": 2,
        "abandoned": 1,
        "short_abandoned": 1,
        "overflowed": 0,
        "failed": 0,
        "handled": 2,
        "waiting": 0,
    }
    assert stats["service_level"] == round(2 / 3, 4)
    assert stats["abandon_rate"] == round(1 / 3, 4)
    assert stats["asa_seconds"] > 0 and stats["aht_seconds"] > 0
    assert stats["service_level_seconds"] == 20
    assert stats["day"] == datetime.now(UTC).date().isoformat()

    team = await get(client, "/api/v1/teams/north/stats")
    assert (team["answered"], team["handled"]) == (2, 2)
    assert team["asa_seconds"] > 0 and team["aht_seconds"] > 0
    assert team["leads"] == ["1101"] and team["supervisors"] == ["1201"]
    assert sum(team["agents"].values()) == 4


async def test_teams_are_listed_with_their_leads_members_and_queues(
    api: tuple[Client, Any],
) -> None:
    client, _ = api
    body = await get(client, "/api/v1/teams")
    assert body["teams"] == [
        {
            "name": "north",
            "leads": ["1101"],
            "supervisors": ["1201"],
            "members": ["1001", "1002", "1101", "1201"],
            "queues": ["sales", "поддержка"],
        },
        {"name": "الدعم", "leads": [], "supervisors": [], "members": [], "queues": ["поддержка"]},
    ]
    team = await get(client, "/api/v1/teams/الدعم")
    assert team["queues"] == ["поддержка"]
    stats = await get(client, "/api/v1/teams/الدعم/stats")
    assert (stats["answered"], stats["aht_seconds"]) == (0, None)


async def test_one_queue_shows_its_configuration_and_waiting_calls(api: tuple[Client, Any]) -> None:
    client, _ = api
    queue = await get(client, "/api/v1/queues/поддержка")
    assert (queue["name"], queue["teams"], queue["waiting"]) == ("поддержка", ["north", "الدعم"], 0)
    stats = await get(client, "/api/v1/queues/поддержка/stats")
    assert (stats["queue"], stats["offered"], stats["asa_seconds"]) == ("поддержка", 0, None)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/teams/nobody",
        "/api/v1/teams/nobody/stats",
        "/api/v1/queues/nowhere",
        "/api/v1/queues/nowhere/stats",
    ],
)
async def test_unknown_team_or_queue_is_a_404(api: tuple[Client, Any], path: str) -> None:
    client, _ = api
    status, body = await client.request("GET", path, token=TOKENS["viewer"])
    assert status == 404 and "not found" in body["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/teams",
        "/api/v1/teams/north",
        "/api/v1/teams/north/stats",
        "/api/v1/queues/sales",
        "/api/v1/queues/sales/stats",
    ],
)
async def test_reports_need_a_token_with_the_viewer_role(
    api: tuple[Client, Any], path: str
) -> None:
    client, _ = api
    assert (await client.request("GET", path))[0] == 401
    assert (await client.request("GET", path, token=TOKENS["agent"]))[0] == 403
    assert (await client.request("GET", path, token=TOKENS["supervisor"]))[0] == 200


# --- DailyStats against a real Redis -----------------------------------------------------------


def moscow_stats(
    redis: Redis, site: str, clock: list[float], metrics: Metrics | None = None
) -> DailyStats:
    return DailyStats(
        DailyFigures(redis, Keys(site), metrics or Metrics()),
        timezone="Europe/Moscow",
        short_abandon_seconds=5,
        clock=lambda: clock[0],
    )


async def test_daily_counters_per_queue_and_team_start_again_at_local_midnight(
    redis: Redis, site: str
) -> None:
    # 20:59 UTC is 23:59 in Moscow: the last minute of 29 November there.
    clock = [datetime(2026, 11, 29, 20, 59, tzinfo=UTC).timestamp()]
    stats = moscow_stats(redis, site, clock)
    q, team = "поддержка", "الدعم"  # the queue's service level is 30 s, its wrap-up 10 s
    events: list[tuple[str, dict[str, object]]] = [
        ("call.offered", {"call": "c1", "queue": q, "priority": 0, "caller_name": "Иван"}),
        ("call.offered", {"call": "c2", "queue": q}),
        ("call.offered", {"call": "c3", "queue": q}),
        ("call.offered", {"call": "c4", "queue": q}),
        (
            "call.answered",
            {
                "call": "c1",
                "agent": "2001",
                "queue": q,
                "team": team,
                "wait_seconds": 12.5,
                "within_service_level": True,
            },
        ),
        (
            "call.answered",
            {
                "call": "c2",
                "agent": "2001",
                "queue": q,
                "team": team,
                "wait_seconds": 40.0,
                "within_service_level": False,
            },
        ),
        (
            "call.answered",
            {
                "call": "c2",
                "agent": "2002",
                "queue": q,
                "team": team,
                "wait_seconds": 90.0,
                "escalated": True,
            },
        ),  # counted already
        (
            "call.ended",
            {
                "call": "c1",
                "agent": "2001",
                "queue": q,
                "team": team,
                "talk_seconds": 100.0,
                "handle_seconds": 110.0,
            },
        ),
        ("call.abandoned", {"call": "c3", "queue": q, "wait_seconds": 3.0, "detail": ""}),
        (
            "call.overflowed",
            {"call": "c4", "queue": q, "step": "2-leads", "reason": "wait", "to": ""},
        ),
        (
            "call.overflowed",
            {"call": "c4", "queue": q, "step": "3-fallback", "reason": "wait", "to": "voicemail"},
        ),
        ("agent.state", {"agent": "2001", "state": "ready"}),
    ]
    for kind, data in events:
        await stats.publish(kind, data)

    counters = await stats.read("2026-11-29", Scope.QUEUE, q)
    assert counters == DayCounters(
        offered=4,
        answered=2,
        answered_within_sl=1,
        abandoned=1,
        short_abandoned=1,
        overflowed=1,
        handled=1,
        wait_answered_sum=52.5,
        talk_sum=100.0,
        handle_sum=110.0,
    )
    assert service_level(counters) == 0.25 and abandon_rate(counters) == 0.25
    by_team = await stats.read("2026-11-29", Scope.TEAM, team)
    assert (by_team.answered, by_team.answered_within_sl, by_team.handled, by_team.handle_sum) == (
        2,
        1,
        1,
        110.0,
    )

    clock[0] += 120  # 00:01 in Moscow, still 29 November in UTC
    await stats.publish(
        "call.ended",
        {
            "call": "c2",
            "agent": "2001",
            "queue": q,
            "team": team,
            "talk_seconds": 50.0,
            "handle_seconds": 60.0,
        },
    )
    assert stats.today() == "2026-11-30"
    assert (await stats.read("2026-11-29", Scope.QUEUE, q)).handled == 1
    assert await stats.read("2026-11-30", Scope.QUEUE, q) == DayCounters(
        handled=1, talk_sum=50.0, handle_sum=60.0
    )

    key = f"acd:{{{site}}}:stats:2026-11-30:queue:поддержка"
    assert await redis.hget(key, "handled") == "1"
    assert 0 < await redis.ttl(key) <= 3 * 86_400
    team_key = f"acd:{{{site}}}:stats:2026-11-30:team:الدعم"
    assert await redis.exists(team_key) == 1


async def test_redis_down_never_stops_a_call_and_is_counted(site: str) -> None:
    # A real client pointed at a port nothing listens on: every command fails at once.
    down = Redis.from_url(
        "redis://127.0.0.1:1/0", decode_responses=True, socket_connect_timeout=0.5
    )
    metrics = Metrics()
    stats = moscow_stats(down, site, [0.0], metrics)
    try:
        await stats.publish("call.offered", {"call": "c1", "queue": "поддержка"})
    finally:
        await down.aclose()
    assert metrics.registry.get_sample_value("acd_redis_errors_total") == 1


def test_counters_read_back_from_a_hash_keep_whole_numbers_whole() -> None:
    counters = DayCounters.from_fields(
        {"answered": "3", "wait_answered_sum": "7.25", "something_new": "1"}
    )
    assert counters.answered == 3 and isinstance(counters.answered, int)
    assert counters.wait_answered_sum == 7.25
    assert service_level(DayCounters()) is None


def test_an_unknown_stats_time_zone_stops_acd_naming_the_setting() -> None:
    settings = contact_centre(
        "redis://127.0.0.1:6379/0", 5038, site="x", routing={"stats_timezone": "Asia/Riyadh"}
    )
    assert settings.routing.stats_timezone == "Asia/Riyadh"
    with pytest.raises(ConfigError, match=r"routing\.stats_timezone: unknown time zone"):
        contact_centre(
            "redis://127.0.0.1:6379/0",
            5038,
            site="x",
            routing={"stats_timezone": "Mars/Olympus_Mons"},
        )
