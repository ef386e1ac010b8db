"""Honest call figures through the HTTP API, end to end through the simulator: a wait that
stops growing once the call is answered or ends, the listing and its state filter, position
in line and estimated wait, and a moved call's skills."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from acd.api.auth import token_hash
from acd.app import AcdApp
from acd.sim import Simulator
from tests.conftest import TIME_SCALE, MakeAcd, acd_factory
from tests.pbx.tiers import SimulatedPbx
from tests.support import RecordingSink, log_in

TOKEN = "sup-figures"
AGENTS: list[dict[str, Any]] = [
    {
        "id": "1001",
        "name": "Олег",
        "dial": "PJSIP/1001",
        "queues": {"sales": 1},
        "skills": {"lang:ru": 5},
    },
    {
        "id": "1002",
        "name": "فاطمة",
        "dial": "PJSIP/1002",
        "queues": {"billing": 1},
        "skills": {"billing": 1, "vip": 2},
    },
]
QUEUES: list[dict[str, Any]] = [
    {"name": "sales", "skills": {"lang:ru": 5}, "wrap_up_seconds": 0},
    {"name": "billing", "skills": {"billing": 3}, "wrap_up_seconds": 0},
]


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str, sink: RecordingSink) -> None:
        self.session, self.base, self.sink = session, base, sink

    async def get(self, path: str) -> tuple[int, Any]:
        return await self.request("GET", path)

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with self.session.request(method, self.base + path, headers=headers, **kw) as r:
            return r.status, await r.json()


@pytest.fixture
async def api(sim: Simulator, make_acd: MakeAcd) -> AsyncIterator[tuple[Api, Any]]:
    sim.add_phone("1001", answer_after=0.5, talk_for=3600)
    sim.add_phone("1002", answer_after=0.5, talk_for=3600)
    tokens = [{"name": "sup", "role": "supervisor", "sha256": token_hash(TOKEN)}]
    app, sink = await make_acd(agents=AGENTS, queues=QUEUES, http={"tokens": tokens})
    async with aiohttp.ClientSession() as session:
        yield Api(session, f"http://127.0.0.1:{app.http_port}", sink), app


async def _time_passes(sim: Simulator, api: Api) -> None:
    """Let real time pass, deterministically: a caller nobody serves gives up (100 ms)."""
    call = await sim.place_call(queue="billing", skills="nobody=9", patience=5)
    await api.sink.wait_for("call.abandoned", call=call.uniqueid)


async def test_wait_stops_growing_once_the_call_is_answered_or_abandoned(
    sim: Simulator, api: tuple[Api, Any]
) -> None:
    client, app = api
    await log_in(app, "1001")
    talking = await sim.place_call(queue="sales", skills="lang:ru=5", patience=None)
    assert await talking.answered(timeout=10) == "1001"
    answered = await client.sink.wait_for("call.answered", call=talking.uniqueid)
    gone = await sim.place_call(queue="billing", skills="nobody=9", patience=2)
    abandoned = await client.sink.wait_for("call.abandoned", call=gone.uniqueid)
    await _time_passes(sim, client)
    status, body = await client.get(f"/api/v1/calls/{talking.uniqueid}")
    assert status == 200, body
    assert body["wait_seconds"] == answered["wait_seconds"]
    assert body["answered_at"] == pytest.approx(body["arrived_at"] + body["wait_seconds"], abs=1e-3)
    status, body = await client.get(f"/api/v1/calls/{gone.uniqueid}")
    assert status == 200, body
    assert (body["status"], body["wait_seconds"]) == ("ended", abandoned["wait_seconds"])
    assert body["answered_at"] is None and body["ended_at"] > body["arrived_at"]
    status, listing = await client.get("/api/v1/calls?state=connected")
    assert [c["wait_seconds"] for c in listing["calls"]] == [answered["wait_seconds"]]


async def test_calls_list_waiting_calls_unless_a_state_is_asked_for(
    sim: Simulator, api: tuple[Api, Any]
) -> None:
    client, app = api
    await log_in(app, "1001")
    talking = await sim.place_call(queue="sales", skills="lang:ru=5", patience=None)
    assert await talking.answered(timeout=10) == "1001"
    waiting = [await sim.place_call(queue="sales", patience=None) for _ in range(2)]
    for call in waiting:
        await client.sink.wait_for("call.offered", call=call.uniqueid)
    ids = [c.uniqueid for c in waiting]

    status, body = await client.get("/api/v1/calls")
    assert status == 200, body
    assert [c["id"] for c in body["calls"]] == ids  # in line order, the connected call not
    assert [c["position"] for c in body["calls"]] == [1, 2]
    status, body = await client.get("/api/v1/calls?queue=sales")
    assert [c["id"] for c in body["calls"]] == ids
    status, body = await client.get("/api/v1/calls?state=connected")
    assert [(c["id"], c["status"]) for c in body["calls"]] == [(talking.uniqueid, "connected")]
    assert "position" not in body["calls"][0]
    status, body = await client.get("/api/v1/calls?state=waiting,connected&queue=sales")
    assert [c["id"] for c in body["calls"]] == [*ids, talking.uniqueid]
    status, body = await client.get("/api/v1/calls?queue=billing&state=connected")
    assert (status, body["calls"]) == (200, [])
    for bad in ("ended", "talking", "waiting,", ""):
        status, body = await client.get(f"/api/v1/calls?state={bad}")
        assert (status, body["field"]) == (400, "state"), (bad, body)


async def test_waiting_calls_show_position_and_a_wait_estimated_from_recent_answers(
    sim: Simulator, api: tuple[Api, Any]
) -> None:
    client, app = api
    sim.phone("1001").talk_for = 1.0
    await log_in(app, "1001")
    status, body = await client.get("/api/v1/calls")
    for _ in range(3):  # three answers: the queue's pace is known
        call = await sim.place_call(queue="sales", skills="lang:ru=5", patience=None)
        assert await call.answered(timeout=10) == "1001"
        await client.sink.wait_for("call.ended", call=call.uniqueid)
    status, body = await client.request(
        "POST", "/api/v1/agents/1001/state", json={"state": "paused", "reason": "lunch"}
    )
    assert status == 200, body
    waiting = [await sim.place_call(queue="sales", patience=None) for _ in range(2)]
    for call in waiting:
        await client.sink.wait_for("call.offered", call=call.uniqueid)
    status, body = await client.get("/api/v1/calls?queue=sales")
    assert [c["position"] for c in body["calls"]] == [1, 2]
    first, second = (c["estimated_wait_seconds"] for c in body["calls"])
    # Three answers within the first minute of watching: 3 a minute, 20 s a place in line.
    assert 15 <= first <= 21 and abs(second - 2 * first) <= 1, (first, second)
    status, one = await client.get(f"/api/v1/calls/{waiting[1].uniqueid}")
    assert (one["position"], one["estimated_wait_seconds"]) == (2, second)


async def test_a_waiting_call_shows_no_estimate_before_its_queue_has_answered_calls(
    sim: Simulator, api: tuple[Api, Any]
) -> None:
    client, _app = api
    call = await sim.place_call(queue="billing", patience=None)
    await client.sink.wait_for("call.offered", call=call.uniqueid)
    status, body = await client.get(f"/api/v1/calls/{call.uniqueid}")
    assert status == 200, body
    assert (body["position"], body["estimated_wait_seconds"]) == (1, None)


async def test_a_call_moved_to_another_queue_takes_its_skills_and_keeps_its_own(
    sim: Simulator, api: tuple[Api, Any]
) -> None:
    client, app = api
    # Fatima serves billing with billing 1 and vip 2 but speaks no Russian: she can take the
    # call only once it no longer requires sales' lang:ru.
    await log_in(app, "1002")
    call = await sim.place_call(queue="sales", skills="vip=2,billing=1", patience=None)
    await client.sink.wait_for("call.offered", call=call.uniqueid)
    status, body = await client.get(f"/api/v1/calls/{call.uniqueid}")
    assert body["skills"] == {"lang:ru": 5, "vip": 2, "billing": 1}
    assert body["own_skills"] == {"vip": 2, "billing": 1}
    status, body = await client.request(
        "PATCH", f"/api/v1/calls/{call.uniqueid}", json={"queue": "billing"}
    )
    assert status == 200, body
    # billing's default billing=3 yields to the call's own billing=1.
    assert body["skills"] == {"billing": 1, "vip": 2}
    assert await call.answered(timeout=10) == "1002"


ANNOUNCE_CONTEXT = """
[test-announce]
exten => s,1,UserEvent(Announced,"Position: ${ACD_POSITION}","Wait: ${ACD_EWT}")
 same => n,Goto(acd.inbound,s,hold)
"""


async def test_the_dialplan_announces_the_place_acd_has_just_set(
    redis_url: str, site: str, dialplan: Path, tmp_path: Path
) -> None:
    """ACD_ANNOUNCE: every ACD_ANNOUNCE_EVERY seconds the caller's own announcement context
    runs with the position acd set on request, then the caller is back on hold, in line."""
    operator = tmp_path / "announce.conf"
    operator.write_text(ANNOUNCE_CONTEXT, encoding="utf-8")
    simulator = Simulator(
        username="acd",
        secret="s3cret",
        dialplan_files=[dialplan, operator],
        time_scale=TIME_SCALE,
    )
    await simulator.start(host="127.0.0.1", port=0)
    pbx = SimulatedPbx(simulator)
    apps: list[AcdApp] = []
    try:
        app, _ = await acd_factory(redis_url, site, simulator.port, apps)(
            agents=AGENTS, queues=QUEUES
        )
        announce = {"ACD_ANNOUNCE_EVERY": "3", "ACD_ANNOUNCE": "test-announce,s,1"}
        call = await simulator.place_call(queue="sales", patience=None, variables=announce)
        said = await pbx.event("UserEvent", UserEvent="Announced", Uniqueid=call.uniqueid)
        assert (said["Position"], said["Wait"]) == ("1", "")
        await pbx.event("UserEvent", UserEvent="Announced", Uniqueid=call.uniqueid)
        # Back in line after each announcement: an agent who logs in takes the call.
        simulator.add_phone("1001", answer_after=0.5, talk_for=3600)
        await log_in(app, "1001")
        assert await call.answered(timeout=10) == "1001"
    finally:
        for each in apps:
            await each.stop()
        await pbx.close()
        await simulator.stop()
