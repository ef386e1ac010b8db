"""Skills-based routing through the simulator: languages, priority, team leads, busy phones."""

from __future__ import annotations

from acd.domain.model import AgentState
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.support import log_in, sample

RU_AND_EN = [
    {
        "id": "1001",
        "name": "Anna",
        "dial": "PJSIP/1001",
        "queues": {"sales": 1},
        "skills": {"lang:en": 8},
    },
    {
        "id": "1002",
        "name": "Олег",
        "dial": "PJSIP/1002",
        "queues": {"sales": 1},
        "skills": {"lang:ru": 7, "lang:en": 3},
    },
]


async def test_russian_caller_reaches_russian_speaking_agent(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    for phone in ("1001", "1002"):
        sim.add_phone(phone, answer_after=0.5, talk_for=1.0)
    app, _ = await make_acd(agents=RU_AND_EN)
    await log_in(app, "1002", "1001")  # Олег idle longest: longest-idle alone would pick him
    english = await sim.place_call(queue="sales", skills="lang:en=5", caller_name="Kees")
    russian = await sim.place_call(queue="sales", skills="lang:ru=5", caller_name="Иван")
    assert await english.answered(timeout=10) == "1001"
    assert await russian.answered(timeout=10) == "1002"


async def test_higher_priority_caller_is_answered_first(sim: Simulator, make_acd: MakeAcd) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    app, sink = await make_acd()
    ordinary = await sim.place_call(queue="sales", priority=1, caller_name="Bram", patience=300)
    vip = await sim.place_call(queue="sales", priority=8, caller_name="Fatima", patience=300)
    await sink.wait_for("call.offered", call=vip.uniqueid)
    await log_in(app, "1001")
    first = await sink.wait_for("call.answered")
    assert first["call"] == vip.uniqueid
    assert await ordinary.answered(timeout=10) == "1001"


async def test_agent_whose_phone_is_busy_is_not_offered_a_call(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    busy = sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    sim.add_phone("1002", answer_after=0.5, talk_for=1.0)
    app, _ = await make_acd()
    await log_in(app, "1001", "1002")
    # A direct call acd did not give. Its DeviceStateChange reaches acd on the same AMI stream
    # before the caller's ACDEnqueue, and the router handles events in order.
    busy.set_in_use(True)
    call = await sim.place_call(queue="sales", caller_name="Ilse", patience=60)
    assert await call.answered(timeout=10) == "1002"
    assert busy.calls_rung == 0
    agent = await app.store.get_agent("1001")
    assert agent is not None and agent.device_busy and agent.state is AgentState.READY


async def test_call_overflows_to_team_lead_when_no_agent_is_logged_in(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("2001", answer_after=0.5, talk_for=1.0)
    agents = [
        {"id": "1001", "dial": "PJSIP/1001", "queues": {"support": 1}, "team": "north"},
        {"id": "2001", "name": "Lead", "dial": "PJSIP/2001", "team": "north", "role": "lead"},
    ]
    queues = [
        {
            "name": "support",
            "teams": ["north"],
            "steps": [{"after": 0}, {"after": 90, "kind": "leads"}],
        }
    ]
    app, sink = await make_acd(agents=agents, queues=queues)
    await log_in(app, "2001")  # only the lead is at work
    call = await sim.place_call(queue="support", caller_name="Дарья", patience=300)
    overflowed = await sink.wait_for("call.overflowed", call=call.uniqueid)
    assert overflowed["reason"] == "no-agents"
    assert await call.answered(timeout=10) == "2001"
    assert sample(app, "acd_calls_overflowed_total", queue="support", step=overflowed["step"]) == 1


async def test_fewest_calls_shares_calls_evenly(sim: Simulator, make_acd: MakeAcd) -> None:
    agents = [
        {"id": f"{1001 + i}", "dial": f"PJSIP/{1001 + i}", "queues": {"sales": 1}} for i in range(3)
    ]
    for agent in agents:
        sim.add_phone(str(agent["id"]), answer_after=0.2, talk_for=0.2)
    app, sink = await make_acd(
        agents=agents, queues=[{"name": "sales", "strategy": "fewest-calls"}]
    )
    await log_in(app, *(str(a["id"]) for a in agents))
    for i in range(6):
        call = await sim.place_call(queue="sales", caller_name=f"Caller {i}", patience=60)
        await sink.wait_for("call.ended", call=call.uniqueid)
    taken = [sim.phone(str(a["id"])).calls_answered for a in agents]
    assert taken == [2, 2, 2]


async def test_aging_reaches_a_low_priority_call_behind_a_long_line_of_urgent_ones(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """More urgent calls wait ahead of it than a decision reads in stored order; aging has
    lifted it to the top level all the same, so the next free agent takes it first."""
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    queues = [{"name": "sales", "aging_seconds": 0.001, "wrap_up_seconds": 0}]
    app, sink = await make_acd(queues=queues)
    old = await sim.place_call(queue="sales", priority=0, caller_name="Oud", patience=None)
    await sink.wait_for("call.offered", call=old.uniqueid)
    urgent = [await sim.place_call(queue="sales", priority=7, patience=None) for _ in range(60)]
    await sink.wait_for("call.offered", call=urgent[-1].uniqueid)
    await log_in(app, "1001")
    first = await sink.wait_for("call.answered")
    assert first["call"] == old.uniqueid
