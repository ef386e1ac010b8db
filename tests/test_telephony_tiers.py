"""What a caller and an agent live through, on both tiers: the simulator and a real Asterisk 22
with SIPp phones (the ``pbx`` fixture's parameter), with the shipped manager.conf filters.

Times are short so the real tier stays fast: a ring timeout of 2 s, phones that answer after
half a second and talk for one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from acd.ami.dialplan import check_dialplan, shipped_contexts
from acd.app import AcdApp
from acd.domain.model import AgentState
from acd.service import call_actions
from acd.service.call_actions import MonitorMode
from acd.sim import Simulator
from tests.conftest import MakeAcd, acd_factory
from tests.pbx.asterisk import AsteriskProcess, find_install
from tests.pbx.tiers import Pbx
from tests.support import log_in, sample
from tests.test_api import TOKENS, http_settings

QUEUES: list[dict[str, Any]] = [
    {"name": "sales", "ring_timeout_seconds": 2, "wrap_up_seconds": 0},
]


async def test_call_is_answered_by_an_agent_and_counted(pbx: Pbx, make_tier_acd: MakeAcd) -> None:
    await pbx.add_phone("1001", answer_after=0.5, talk_for=1.0)
    app, sink = await make_tier_acd(queues=QUEUES)
    await log_in(app, "1001")
    call = await pbx.place_call(
        "sales", caller_name="Иван Петров", caller_number="79991234567", patience=60
    )
    assert await call.answered(timeout=15) == "1001"
    answered = await sink.wait_for("call.answered", call=call.uniqueid)
    assert answered["agent"] == "1001"
    assert await call.ended(timeout=15) == "completed"
    ended = await sink.wait_for("call.ended", call=call.uniqueid)
    assert ended["agent"] == "1001"
    fields = await app.store.get_call_fields(call.uniqueid)
    assert (fields["status"], fields["outcome"]) == ("ended", "answered")
    assert fields["caller_name"] == "Иван Петров"
    assert fields["caller_number"] == "79991234567"
    agent = await app.store.get_agent("1001")
    assert agent is not None and agent.calls_taken == 1
    assert sample(app, "acd_calls_offered_total", queue="sales") == 1
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1


async def test_arabic_and_persian_caller_names_and_attributes_arrive_intact(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    app, sink = await make_tier_acd(queues=QUEUES)  # nobody logged in: the callers wait
    names = ["فاطمة الزهراء", "مریم رضایی", "Ольга Сергеевна"]
    calls = [
        await pbx.place_call("sales", caller_name=name, patience=30, attrs={"note": name})
        for name in names
    ]
    for call, name in zip(calls, names, strict=True):
        await sink.wait_for("call.offered", call=call.uniqueid)
        stored = await app.store.get_call(call.uniqueid)
        assert stored is not None
        assert (stored.caller_name, stored.attrs) == (name, {"note": name})


async def test_caller_who_hangs_up_while_waiting_is_counted_abandoned(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    app, sink = await make_tier_acd(queues=QUEUES)
    call = await pbx.place_call("sales", caller_name="Fatima", patience=1.0)
    assert await call.ended(timeout=15) == "abandoned"
    await sink.wait_for("call.abandoned", call=call.uniqueid)
    assert sample(app, "acd_calls_abandoned_total", queue="sales") == 1
    assert await app.store.active_call_ids() == []


async def test_caller_who_hangs_up_while_the_agent_rings_is_abandoned_and_agent_freed(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    await pbx.add_phone("1001", answers=False)
    app, sink = await make_tier_acd(queues=[{**QUEUES[0], "ring_timeout_seconds": 30}])
    await log_in(app, "1001")
    call = await pbx.place_call("sales", caller_name="Kees", patience=1.5)
    assert await call.ended(timeout=15) == "abandoned"
    await sink.wait_for("call.abandoned", call=call.uniqueid)
    await _agent_becomes(app, sink, "1001", AgentState.READY)
    assert pbx.phone("1001").calls_rung == 1
    assert sample(app, "acd_calls_abandoned_total", queue="sales") == 1


async def test_agent_who_does_not_answer_is_paused_and_another_takes_the_call(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    await pbx.add_phone("1001", answers=False)
    await pbx.add_phone("1002", answer_after=0.5, talk_for=1.0)
    app, sink = await make_tier_acd(queues=QUEUES)
    await log_in(app, "1001", "1002")  # 1001 has been idle longest: offered first
    call = await pbx.place_call("sales", caller_name="Lotte de Vries", patience=60)
    missed = await sink.wait_for("agent.missed", call=call.uniqueid, timeout=15)
    assert (missed["agent"], missed["status"]) == ("1001", "NOANSWER")
    assert await call.answered(timeout=15) == "1002"
    await sink.wait_for("call.answered", call=call.uniqueid, agent="1002")
    paused = await app.store.get_agent("1001")
    assert paused is not None
    assert (paused.state, paused.pause_reason) == (AgentState.PAUSED, "no-answer")
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1


@pytest.mark.parametrize(
    ("phone", "status"),
    [
        ({"busy": True}, "BUSY"),  # 486 Busy Here: the device stays NOT_INUSE on PJSIP
        ({"registered": False}, "CHANUNAVAIL"),  # no contact: no agent channel, no DialEnd
    ],
)
async def test_phone_that_cannot_take_the_call_is_passed_over_for_the_next_agent(
    pbx: Pbx, make_tier_acd: MakeAcd, phone: dict[str, bool], status: str
) -> None:
    await pbx.add_phone("1001", **phone)
    await pbx.add_phone("1002", answer_after=0.5, talk_for=1.0)
    app, sink = await make_tier_acd(queues=QUEUES)
    await log_in(app, "1001", "1002")
    call = await pbx.place_call("sales", caller_name="Bram", patience=60)
    missed = await sink.wait_for("agent.missed", call=call.uniqueid, timeout=15)
    assert (missed["agent"], missed["status"]) == ("1001", status)
    assert await call.answered(timeout=15) == "1002"
    assert pbx.phone("1001").calls_busy == (status == "BUSY")


async def test_agent_on_a_direct_call_is_skipped_until_it_ends(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    await pbx.add_phone("1001", answer_after=0.2, talk_for=30.0)
    await pbx.add_phone("1002", answer_after=0.5, talk_for=1.0)
    app, sink = await make_tier_acd(queues=QUEUES)
    await log_in(app, "1001")
    private = await pbx.direct_call("1001", duration=2.0)
    await _device_busy(app, sink, "1001", True)
    await log_in(app, "1002")
    call = await pbx.place_call("sales", caller_name="Daan", patience=60)
    assert await call.answered(timeout=15) == "1002"  # 1001 idled longer, but is on a call
    assert pbx.phone("1001").calls_rung <= 1  # the private call's ring only
    await private.ended(timeout=15)
    await _device_busy(app, sink, "1001", False)


async def test_a_waiting_caller_is_told_its_position_and_estimated_wait(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    """ACD_POSITION and ACD_EWT are on the caller's channel for the dialplan to announce."""
    app, _sink = await make_tier_acd(queues=QUEUES)  # nobody logged in: the callers wait
    calls = [await pbx.place_call("sales", caller_name=n, patience=30) for n in ("Ann", "Олег")]
    for place, call in enumerate(calls, start=1):
        told = await pbx.event("VarSet", Uniqueid=call.uniqueid, Variable="ACD_POSITION")
        assert told["Value"] == str(place)
        await pbx.event("VarSet", Uniqueid=call.uniqueid, Variable="ACD_EWT")
        assert await app.telephony.get_variable(call.channel, "ACD_POSITION") == str(place)
        # No answers yet: no estimate, which the dialplan can tell from an empty value.
        assert await app.telephony.get_variable(call.channel, "ACD_EWT") == ""


async def test_a_caller_whose_dialplan_asks_is_told_its_new_place_as_the_line_moves(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    """With ACD_ANNOUNCE_EVERY the dialplan asks (UserEvent ACDPosition) and acd sets
    ACD_POSITION afresh: the second caller is told 1 once the first has gone."""
    _app, sink = await make_tier_acd(queues=QUEUES)  # nobody logged in: the callers wait
    first = await pbx.place_call("sales", caller_name="Ann", patience=4, announce_every=3)
    await pbx.event("VarSet", Uniqueid=first.uniqueid, Variable="ACD_POSITION", Value="1")
    second = await pbx.place_call("sales", caller_name="Олег", patience=30, announce_every=3)
    await pbx.event("VarSet", Uniqueid=second.uniqueid, Variable="ACD_POSITION", Value="2")
    await sink.wait_for("call.abandoned", call=first.uniqueid, timeout=15)
    told = await pbx.event(
        "VarSet", Uniqueid=second.uniqueid, Variable="ACD_POSITION", Value="1", timeout=15
    )
    assert told["Value"] == "1"


async def test_a_burst_of_calls_is_counted_as_asterisk_saw_it(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    """Every outcome, counted from Asterisk's own events, matches acd's metrics and API."""
    agents: list[dict[str, Any]] = [
        {"id": a, "dial": f"PJSIP/{a}", "queues": {"sales": 1}} for a in ("1001", "1002", "1003")
    ]
    for agent in agents:
        await pbx.add_phone(agent["id"], answer_after=0.3, talk_for=0.8)
    app, sink = await make_tier_acd(queues=QUEUES, agents=agents, http=http_settings())
    await log_in(app, "1001", "1002", "1003")
    patient = [pbx.place_call("sales", caller_name=f"Гость {i}", patience=60) for i in range(6)]
    hasty = [pbx.place_call("sales", caller_name=f"ضيف {i}", patience=1.0) for i in range(4)]
    calls = await asyncio.gather(*patient, *hasty)
    outcomes = await asyncio.gather(*(c.ended(timeout=60) for c in calls))
    for call, outcome in zip(calls, outcomes, strict=True):
        kinds = ("call.ended",) if outcome == "completed" else ("call.abandoned",)
        await sink.wait_for_any(kinds, call=call.uniqueid, timeout=15)
    completed = outcomes.count("completed")
    abandoned = outcomes.count("abandoned")
    assert completed + abandoned == len(calls), outcomes
    assert completed >= 6
    assert sample(app, "acd_calls_offered_total", queue="sales") == len(calls)
    assert sample(app, "acd_calls_answered_total", queue="sales") == completed
    assert sample(app, "acd_calls_abandoned_total", queue="sales") == abandoned
    assert sum(pbx.phone(a).calls_answered for a in ("1001", "1002", "1003")) == completed
    assert await app.store.active_call_ids() == []
    url = f"http://127.0.0.1:{app.http_port}/api/v1/queues/sales/stats"
    headers = {"Authorization": f"Bearer {TOKENS['viewer']}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        stats = await response.json()
    assert (stats["offered"], stats["answered"], stats["abandoned"]) == (
        len(calls),
        completed,
        abandoned,
    )


async def _agent_becomes(app: Any, sink: Any, agent_id: str, state: AgentState) -> None:
    agent = await app.store.get_agent(agent_id)
    if agent is None or agent.state is not state:
        await sink.wait_for("agent.state", agent=agent_id, state=state.value, timeout=15)


async def _device_busy(app: Any, sink: Any, agent_id: str, busy: bool) -> None:
    """Wait until acd has recorded the phone's device state (from Asterisk's event)."""
    agent = await app.store.get_agent(agent_id)
    if agent is None or agent.device_busy is not busy:
        await sink.wait_for("agent.phone", agent=agent_id, busy=busy, timeout=15)


TEAM = [
    {"id": "1001", "name": "Anna", "dial": "PJSIP/1001", "queues": {"sales": 1}, "team": "север"},
    {"id": "2001", "name": "Lead", "dial": "PJSIP/2001", "team": "север", "role": "lead"},
    {
        "id": "9001",
        "name": "Supervisor",
        "dial": "PJSIP/9001",
        "team": "север",
        "role": "supervisor",
    },
]


async def test_agent_keys_star_zero_and_a_team_lead_takes_the_caller(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    await pbx.add_phone("1001", answer_after=0.3, talk_for=30.0, escalate_after=1.0)
    await pbx.add_phone("2001", answer_after=0.3, talk_for=1.0)
    app, sink = await make_tier_acd(queues=[{**QUEUES[0], "teams": ["север"]}], agents=TEAM)
    await log_in(app, "1001", "2001")  # the lead serves the queue only when escalated to
    call = await pbx.place_call("sales", caller_name="Ахмед", patience=60)
    assert await call.answered(timeout=15) == "1001"
    escalated = await sink.wait_for("call.answered", call=call.uniqueid, agent="2001", timeout=15)
    assert escalated["escalated"] is True
    assert await call.ended(timeout=15) == "completed"
    await sink.wait_for("call.ended", call=call.uniqueid, agent="2001")
    assert sample(app, "acd_calls_escalated_total", queue="sales") == 1
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1  # one call, once


@pytest.mark.parametrize("mode", list(MonitorMode))
async def test_supervisor_listens_whispers_or_barges_on_a_live_call(
    pbx: Pbx, make_tier_acd: MakeAcd, mode: MonitorMode
) -> None:
    await pbx.add_phone("1001", answer_after=0.3, talk_for=30.0)
    await pbx.add_phone("9001", answer_after=0.3, talk_for=30.0)
    app, sink = await make_tier_acd(queues=QUEUES, agents=TEAM)
    await log_in(app, "1001")
    call = await pbx.place_call("sales", caller_name="Noor", patience=60)
    assert await call.answered(timeout=15) == "1001"
    await sink.wait_for("call.answered", call=call.uniqueid)
    await app.router.call(
        lambda: call_actions.monitor(
            app.router.services, call.uniqueid, mode, "PJSIP/9001", "supervisor"
        )
    )
    spying = await pbx.event("ChanSpyStart", SpyeeChannel="PJSIP/1001-", timeout=15)
    assert spying["SpyerChannel"].startswith("PJSIP/9001-")
    await sink.wait_for("call.monitored", call=call.uniqueid, mode=mode.value)
    assert sample(app, "acd_supervisor_actions_total", mode=mode.value) == 1


async def test_the_shipped_dialplan_is_found_whole_and_unmerged(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    app, _ = await make_tier_acd(queues=QUEUES)
    assert await check_dialplan(app.ami, app.metrics) == {}
    for context in shipped_contexts():
        assert (
            app.metrics.registry.get_sample_value("acd_dialplan_problems", {"context": context})
            == 0
        )


OPERATOR_CONTEXT = "[acd.connect]\nexten => 100,1,NoOp(the operator's own)\n"


@pytest.mark.parametrize("tier", ["sim", "asterisk"])
async def test_an_operator_context_with_a_shipped_name_is_reported_at_login(
    tier: str,
    request: pytest.FixtureRequest,
    dialplan: Path,
    tmp_path: Path,
    redis_url: str,
    site: str,
) -> None:
    """Asterisk merges two contexts of one name and only warns; acd names the merged one."""
    stop: Callable[[], Awaitable[None]]
    if tier == "sim":
        operator = tmp_path / "operator.conf"
        operator.write_text(OPERATOR_CONTEXT, encoding="utf-8")
        simulator = Simulator(
            username="acd", secret="s3cret", seed=7, dialplan_files=[dialplan, operator]
        )
        await simulator.start(host="127.0.0.1", port=0)
        port, stop = simulator.port, simulator.stop
    else:
        request.getfixturevalue("asterisk_rig")  # skips, saying why, without a real Asterisk
        install = find_install()
        assert not isinstance(install, str)
        rig = AsteriskProcess(install, dialplan=OPERATOR_CONTEXT)
        await asyncio.to_thread(rig.start)
        port = rig.ami_port

        async def stop() -> None:
            await asyncio.to_thread(rig.remove)

    apps: list[AcdApp] = []
    try:
        app, _ = await acd_factory(redis_url, site, port, apps)(queues=QUEUES)
        problems = await check_dialplan(app.ami, app.metrics)
        assert list(problems) == ["acd.connect"]
        assert any("100,1" in problem for problem in problems["acd.connect"])
        assert sample(app, "acd_dialplan_problems", context="acd.connect") == 1
        assert sample(app, "acd_dialplan_problems", context="acd.inbound") == 0
    finally:
        for app in apps:
            await app.stop()
        await stop()
