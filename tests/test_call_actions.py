"""Actions on one call through the HTTP API, end to end through the simulator: priority,
moving, sending to a named agent, hanging up, escalation to a team lead, and listening in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from acd.api.auth import token_hash
from acd.domain.model import AgentState
from acd.sim import Simulator
from acd.sim.events import AmiEvent
from tests.conftest import MakeAcd
from tests.support import RecordingSink, log_in, sample

MANAGER_CONF = Path(__file__).resolve().parents[1] / "asterisk" / "manager.conf"
TOKENS = {"supervisor": "sup-1", "viewer": "view-1", "agent": "agt-1001", "other": "agt-1002"}
TEAM_BLUE, TEAM_RED = "синие", "أحمر"  # team names in any script

AGENTS: list[dict[str, Any]] = [
    {"id": "1001", "name": "Anna", "dial": "PJSIP/1001", "queues": {"sales": 1}, "team": TEAM_BLUE},
    {"id": "1002", "name": "Bram", "dial": "PJSIP/1002", "queues": {"sales": 1}, "team": TEAM_BLUE},
    {"id": "2001", "name": "Lead Blue", "dial": "PJSIP/2001", "team": TEAM_BLUE, "role": "lead"},
    {"id": "2002", "name": "Lead Red", "dial": "PJSIP/2002", "team": TEAM_RED, "role": "lead"},
    {
        "id": "3001",
        "name": "Supervisor",
        "dial": "PJSIP/3001",
        "team": TEAM_RED,
        "role": "supervisor",
    },
]
QUEUES: list[dict[str, Any]] = [
    {"name": "sales", "teams": [TEAM_RED], "wrap_up_seconds": 0, "ring_timeout_seconds": 15},
    {"name": "billing", "wrap_up_seconds": 0},
]


class Client:
    def __init__(
        self, session: aiohttp.ClientSession, base: str, sink: RecordingSink, app: Any
    ) -> None:
        self.session, self.base, self.sink, self.app = session, base, sink, app

    async def request(
        self, method: str, path: str, token: str = TOKENS["supervisor"], **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.request(
            method, self.base + path, headers=headers, **kw
        ) as response:
            assert response.content_type == "application/json", await response.text()
            return response.status, await response.json()


@pytest.fixture
def sim(filtered_sim: Simulator) -> Simulator:
    """The simulator with the event filters of asterisk/manager.conf, as acd is deployed."""
    return filtered_sim


@pytest.fixture
async def api(sim: Simulator, make_acd: MakeAcd) -> AsyncIterator[Client]:
    for endpoint in ("1001", "1002", "2001", "2002", "3001"):
        sim.add_phone(endpoint, answer_after=0.5, talk_for=3600)
    tokens = [
        {"name": "sup", "role": "supervisor", "sha256": token_hash(TOKENS["supervisor"])},
        {"name": "view", "role": "viewer", "sha256": token_hash(TOKENS["viewer"])},
        {"name": "anna", "role": "agent", "agent": "1001", "sha256": token_hash(TOKENS["agent"])},
        {"name": "bram", "role": "agent", "agent": "1002", "sha256": token_hash(TOKENS["other"])},
    ]
    app, sink = await make_acd(agents=AGENTS, queues=QUEUES, http={"tokens": tokens})
    async with aiohttp.ClientSession() as session:
        yield Client(session, f"http://127.0.0.1:{app.http_port}", sink, app)


async def _connected_to_1001(api: Client, sim: Simulator) -> str:
    await log_in(api.app, "1001")
    call = await sim.place_call(
        queue="sales", caller_name="Fatima فاطمة", patience=None, talk_for=3600
    )
    assert await call.answered(timeout=10) == "1001"
    await api.sink.wait_for("call.answered", call=call.uniqueid)
    return call.uniqueid


async def test_an_agent_escalates_a_live_call_to_the_lead_of_its_own_team_first(
    api: Client, sim: Simulator
) -> None:
    call_id = await _connected_to_1001(api, sim)
    # The red lead has been idle longer, but the blue agent's own lead goes first.
    await log_in(api.app, "2002", "3001", "2001")
    status, body = await api.request(
        "POST", f"/api/v1/calls/{call_id}/escalate", token=TOKENS["other"]
    )
    # Bram cannot escalate Anna's call, nor tell it from a call that does not exist.
    assert status == 404
    status, body = await api.request(
        "POST", f"/api/v1/calls/{call_id}/escalate", token=TOKENS["agent"]
    )
    assert status == 200, body
    assert body["escalated_by"] == "1001" and body["escalation_team"] == TEAM_BLUE
    answered = await api.sink.wait_for("call.answered", call=call_id, agent="2001")
    assert answered["escalated"] is True
    # The caller waited until Anna answered: the lead's answer does not add her talk to it.
    first = await api.sink.wait_for("call.answered", call=call_id, agent="1001")
    assert answered["wait_seconds"] == first["wait_seconds"]
    # Anna is free again (and got no call back); the caller is still up, with the lead.
    agent = await api.app.store.get_agent("1001")
    assert agent.state.value == "ready" and agent.calls_taken == 1
    assert sample(api.app, "acd_calls_escalated_total", queue="sales") == 1
    assert sample(api.app, "acd_calls_answered_total", queue="sales") == 1  # counted once
    status, body = await api.request("GET", f"/api/v1/calls/{call_id}", token=TOKENS["viewer"])
    assert body["wait_seconds"] == first["wait_seconds"]
    events = [entry["event"] for entry in body["history"]]
    assert events == [
        "call.offered_to_agent",
        "call.answered",
        "call.escalated",
        "call.offered_to_agent",
        "call.answered",
    ]
    assert body["status"] == "connected" and body["agent"] == "2001"
    status, body = await api.request("POST", f"/api/v1/calls/{call_id}/escalate")
    assert status == 200  # a supervisor may escalate again: the lead is excluded now
    await api.sink.wait_for("call.answered", call=call_id, agent="2002")


async def test_an_escalated_call_waits_for_a_lead_ahead_of_ordinary_calls(
    api: Client, sim: Simulator
) -> None:
    call_id = await _connected_to_1001(api, sim)
    status, _ = await api.request(
        "POST", f"/api/v1/calls/{call_id}/escalate", token=TOKENS["agent"]
    )
    assert status == 200
    # Anna on a break, so that both calls wait (the stream reports an arrival only once acd
    # has decided on it, so a ready Anna would already ring for the ordinary call).
    await api.app.router.call(
        lambda: api.app.router.change_agent_state("1001", AgentState.PAUSED, "break")
    )
    ordinary = await sim.place_call(queue="sales", caller_name="Ivan", patience=None)
    await api.sink.wait_for("call.offered", call=ordinary.uniqueid)
    status, body = await api.request("GET", "/api/v1/calls?queue=sales")
    assert [c["id"] for c in body["calls"]] == [call_id, ordinary.uniqueid]
    # Ordinary agents take the ordinary call, never the escalated one.
    await log_in(api.app, "1001")
    assert await ordinary.answered(timeout=10) == "1001"
    await log_in(api.app, "1002")
    status, body = await api.request("GET", f"/api/v1/calls/{call_id}")
    assert body["status"] == "waiting"
    await log_in(api.app, "2002")  # the only lead on duty: a lead of a team serving the queue
    await api.sink.wait_for("call.answered", call=call_id, agent="2002")


async def test_only_a_connected_call_is_escalated(api: Client, sim: Simulator) -> None:
    call = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=call.uniqueid)
    status, body = await api.request("POST", f"/api/v1/calls/{call.uniqueid}/escalate")
    assert status == 409 and "only a connected call" in body["error"]
    status, _ = await api.request("POST", "/api/v1/calls/nope/escalate")
    assert status == 404


async def test_priority_and_queue_of_a_waiting_call_change_its_place(
    api: Client, sim: Simulator
) -> None:
    first = await sim.place_call(queue="sales", caller_name="Первый", priority=3, patience=None)
    second = await sim.place_call(queue="sales", caller_name="Tweede", priority=3, patience=None)
    await api.sink.wait_for("call.offered", call=second.uniqueid)
    status, body = await api.request(
        "PATCH", f"/api/v1/calls/{second.uniqueid}", json={"priority": 8}
    )
    assert status == 200 and body["priority"] == 8
    status, body = await api.request("GET", "/api/v1/calls?queue=sales")
    assert [c["id"] for c in body["calls"]] == [second.uniqueid, first.uniqueid]
    status, body = await api.request(
        "PATCH", f"/api/v1/calls/{first.uniqueid}", json={"queue": "billing"}
    )
    assert status == 200 and body["queue"] == "billing"
    status, body = await api.request("GET", "/api/v1/calls?queue=billing")
    assert [c["caller_name"] for c in body["calls"]] == ["Первый"]
    status, body = await api.request("GET", f"/api/v1/calls/{first.uniqueid}")
    assert body["history"][-1]["event"] == "call.moved"
    await api.sink.wait_for("call.moved", call=first.uniqueid, to="billing")
    # It left sales as overflowed and was offered anew to billing: each queue adds up.
    offered = await api.sink.wait_for("call.offered", call=first.uniqueid, queue="billing")
    assert offered["from_queue"] == "sales"
    assert sample(api.app, "acd_calls_offered_total", queue="billing") == 1
    assert sample(api.app, "acd_calls_overflowed_total", queue="sales", step="moved") == 1
    assert sample(api.app, "acd_wait_seconds_count", queue="sales", outcome="overflowed") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"priority": 12}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"priority": True}, "priority"),
        ({"queue": 5}, "queue"),
        ({"queue": "a b"}, "queue"),
        ({"agent": "1001"}, "agent"),
        ({}, "body"),
    ],
)
async def test_bad_changes_are_400_naming_the_field(
    api: Client, sim: Simulator, body: dict[str, Any], field: str
) -> None:
    call = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=call.uniqueid)
    status, answer = await api.request("PATCH", f"/api/v1/calls/{call.uniqueid}", json=body)
    assert (status, answer["field"]) == (400, field)


async def test_changes_need_the_supervisor_role_and_known_ids(api: Client, sim: Simulator) -> None:
    call = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=call.uniqueid)
    path = f"/api/v1/calls/{call.uniqueid}"
    assert (await api.request("PATCH", path, token=TOKENS["viewer"], json={"priority": 1}))[
        0
    ] == 403
    assert (await api.request("PATCH", "/api/v1/calls/nope", json={"priority": 1}))[0] == 404
    assert (await api.request("PATCH", path, json={"queue": "nowhere"}))[0] == 404
    assert (await api.request("POST", path + "/send", json={"agent": "9999"}))[0] == 404
    assert (await api.request("POST", path + "/hangup", token=TOKENS["agent"]))[0] == 403


async def test_a_supervisor_sends_a_waiting_call_to_a_named_agent(
    api: Client, sim: Simulator
) -> None:
    # Nobody speaks Dutch at level 5: the rules alone would leave the caller waiting.
    call = await sim.place_call(
        queue="sales", caller_name="Marie", skills="lang:nl=5", patience=None
    )
    await api.sink.wait_for("call.offered", call=call.uniqueid)
    path = f"/api/v1/calls/{call.uniqueid}/send"
    status, body = await api.request("POST", path, json={"agent": "1002"})
    assert status == 409 and "logged_out" in body["error"]  # a logged-out phone is not rung
    await log_in(api.app, "1002")
    status, body = await api.request("GET", f"/api/v1/calls/{call.uniqueid}")
    assert body["status"] == "waiting"
    status, body = await api.request("POST", path, json={"agent": "1002"})
    assert status == 200 and body["status"] == "offered" and body["agent"] == "1002"
    assert await call.answered(timeout=10) == "1002"
    status, body = await api.request("POST", path, json={"agent": "1002"})
    assert status == 409  # connected now


async def test_a_supervisor_hangs_up_a_waiting_call_which_ends_failed_not_lost(
    api: Client, sim: Simulator
) -> None:
    call = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=call.uniqueid)
    status, body = await api.request("POST", f"/api/v1/calls/{call.uniqueid}/hangup")
    assert status == 200 and body["status"] == "ended"
    await call.ended(timeout=10)
    assert sample(api.app, "acd_calls_failed_total", queue="sales", reason="api-hangup") == 1
    assert sample(api.app, "acd_calls_abandoned_total", queue="sales") == 0


async def test_a_supervisor_listens_whispers_and_barges_through_chanspy(
    api: Client, sim: Simulator
) -> None:
    call_id = await _connected_to_1001(api, sim)
    path = f"/api/v1/calls/{call_id}/monitor"
    assert (
        await api.request(
            "POST", path, token=TOKENS["viewer"], json={"mode": "listen", "agent": "3001"}
        )
    )[0] == 403
    status, body = await api.request("POST", path, json={"mode": "sing", "agent": "3001"})
    assert (status, body["field"]) == (400, "mode")
    status, body = await api.request("POST", path, json={"mode": "listen"})
    assert (status, body["field"]) == (400, "agent")
    status, body = await api.request(
        "POST", path, json={"mode": "listen", "dial": "PJSIP/3001\r\nX: y"}
    )
    assert (status, body["field"]) == (400, "dial")
    spying = EventWatcher(sim, "ChanSpyStart")
    # With the shipped event filters the OriginateResponse never reaches acd: the answer is
    # Asterisk's "Originate successfully queued", at once, not a 502 after the AMI timeout.
    status, body = await asyncio.wait_for(
        api.request("POST", path, json={"mode": "whisper", "agent": "3001"}), 2
    )
    assert status == 202 and body["dial"] == "PJSIP/3001"
    event = await asyncio.wait_for(spying.seen, 10)
    assert event["SpyerChannel"].startswith("PJSIP/3001-")
    assert event["SpyeeChannel"].startswith("PJSIP/1001-")
    assert sample(api.app, "acd_supervisor_actions_total", mode="whisper") == 1
    await api.sink.wait_for("call.monitored", call=call_id, mode="whisper")


class EventWatcher:
    """The simulated Asterisk's own view of an event (unfiltered, as on its CLI)."""

    def __init__(self, sim: Simulator, name: str) -> None:
        self.name = name
        self.seen: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        sim.pbx.bus.subscribe(self)

    def deliver(self, events: Sequence[AmiEvent]) -> None:
        for event in events:
            if event.name == self.name and not self.seen.done():
                self.seen.set_result(dict(event.headers))


async def test_the_agent_keys_the_escalation_feature_code_on_the_phone(
    api: Client, sim: Simulator
) -> None:
    call_id = await _connected_to_1001(api, sim)
    await log_in(api.app, "2001")
    caller = sim.pbx.find_channel(next(c.channel for c in sim.calls if c.uniqueid == call_id))
    agent_leg = next(c for c in sim.phone("1001").channels if c.bridge is not None)
    # Only the agent's leg may use the feature (acd.agent-leg ran before it rang).
    assert agent_leg.getvar("DYNAMIC_FEATURES") == "acd_escalate"
    assert caller is not None and caller.getvar("DYNAMIC_FEATURES") is None
    assert not await sim.press_feature("1001", "*9")  # not a feature code
    assert await sim.press_feature("1001", "*0")
    answered = await api.sink.wait_for("call.answered", call=call_id, agent="2001")
    assert answered["escalated"] is True
    assert sample(api.app, "acd_calls_escalated_total", queue="sales") == 1
