"""An agent state that matches the phone (issue 13.1), end to end on both tiers: a pause or
log-out while an offer rings withdraws it (the ring stops, the caller goes back to its place,
not the agent's no-answer); during a conversation it waits for the call to end; ready while
on a call is refused.
"""

from __future__ import annotations

import functools
from typing import Any

import aiohttp
import pytest

from acd.domain.model import AgentState, CallStatus
from acd.domain.state_machine import RefusedRequest, RequestEffect
from acd.service import call_actions
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.openapi_check import check_response
from tests.pbx.tiers import Pbx
from tests.support import log_in, sample
from tests.test_api import TOKENS, Client, http_settings

# A ring that only the withdrawal ends (600 s is 12 s on the simulator's clock).
QUEUES: list[dict[str, Any]] = [
    {"name": "sales", "ring_timeout_seconds": 600, "wrap_up_seconds": 30},
]


async def _request(app: Any, agent: str, state: AgentState, reason: str = "") -> Any:
    return await app.router.call(
        functools.partial(app.router.request_agent_state, agent, state, reason)
    )


@pytest.mark.parametrize("target", [AgentState.PAUSED, AgentState.LOGGED_OUT])
async def test_pause_or_log_out_while_ringing_stops_the_ring_and_the_caller_keeps_its_place(
    pbx: Pbx, make_tier_acd: MakeAcd, target: AgentState
) -> None:
    await pbx.add_phone("1001", answers=False)
    await pbx.add_phone("1002", answer_after=0.5, talk_for=1.0)
    app, sink = await make_tier_acd(queues=QUEUES)
    await log_in(app, "1001")
    call = await pbx.place_call("sales", caller_name="Фатима", patience=600)
    await pbx.event("DialBegin", timeout=15, DestChannel="PJSIP/1001-")
    offered = await app.store.get_call_fields(call.uniqueid)
    assert (offered["status"], offered["agent"]) == ("offered", "1001")

    agent, effect = await _request(
        app, "1001", target, "lunch" if target is AgentState.PAUSED else ""
    )

    assert effect is RequestEffect.WITHDRAW
    assert (agent.state, agent.call) == (target, "")
    if target is AgentState.PAUSED:
        assert agent.pause_reason == "lunch"  # the agent's own reason, not no-answer
    # The ring stops on the phone: Dial ends its leg (CANCEL), and no dial result follows.
    ended = await pbx.event("DialEnd", timeout=15, DestChannel="PJSIP/1001-")
    assert ended["DialStatus"] == "CANCEL"
    fields = await app.store.get_call_fields(call.uniqueid)
    assert (fields["status"], fields["agent"]) == ("waiting", "")
    withdrawn = await sink.wait_for("call.offer_withdrawn", call=call.uniqueid)
    assert (withdrawn["agent"], withdrawn["state"]) == ("1001", target.value)
    # Back at its place: the next agent who logs in takes it.
    await log_in(app, "1002")
    assert await call.answered(timeout=15) == "1002"
    await sink.wait_for("call.answered", call=call.uniqueid, agent="1002")
    assert await call.ended(timeout=15) == "completed"
    await sink.wait_for("call.ended", call=call.uniqueid)
    assert sink.find("agent.missed", call=call.uniqueid) == []  # not counted as a no-answer
    final = await app.store.get_call_fields(call.uniqueid)
    assert (final["outcome"], final["agent"]) == ("answered", "1002")
    assert int(final["fence"]) > int(offered["fence"])
    assert pbx.phone("1001").calls_answered == 0
    after = await app.store.get_agent("1001")
    assert after is not None and (after.state, after.call) == (target, "")
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1
    assert sample(app, "acd_calls_offered_total", queue="sales") == 1


async def test_pause_during_a_conversation_is_taken_when_the_call_ends(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    await pbx.add_phone("1001", answer_after=0.5, talk_for=2.0)
    app, sink = await make_tier_acd(queues=QUEUES)
    await log_in(app, "1001")
    call = await pbx.place_call("sales", caller_name="Ning", patience=600)
    assert await call.answered(timeout=15) == "1001"
    await sink.wait_for("call.answered", call=call.uniqueid)

    agent, effect = await _request(app, "1001", AgentState.PAUSED, "lunch")

    assert effect is RequestEffect.PEND
    assert (agent.state, agent.pending_state, agent.pending_reason) == (
        AgentState.BUSY,
        AgentState.PAUSED,
        "lunch",
    )
    pending = await sink.wait_for("agent.pending", agent="1001")
    assert (pending["pending_state"], pending["reason"]) == ("paused", "lunch")
    assert await call.ended(timeout=15) == "completed"
    await sink.wait_for("call.ended", call=call.uniqueid)
    state = await sink.wait_for("agent.state", agent="1001", state="paused")
    assert (state["previous"], state["reason"]) == ("busy", "lunch")
    after = await app.store.get_agent("1001")
    assert after is not None
    # Paused with its reason instead of wrap-up; the call still counted to it.
    assert (after.state, after.pause_reason, after.pending_state) == (
        AgentState.PAUSED,
        "lunch",
        None,
    )
    assert after.calls_taken == 1
    assert await app.store.due_wrap_ups(after.state_since + 3600) == []


async def test_ready_while_ringing_is_refused_and_gives_no_second_call(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    await pbx.add_phone("1001", answers=False)
    app, sink = await make_tier_acd(queues=QUEUES)
    await log_in(app, "1001")
    first = await pbx.place_call("sales", caller_name="Ola", patience=600)
    await pbx.event("DialBegin", timeout=15, DestChannel="PJSIP/1001-")
    second = await pbx.place_call("sales", caller_name="Ali", patience=600)
    await sink.wait_for("call.offered", call=second.uniqueid)
    with pytest.raises(RefusedRequest, match="would be offered a second"):
        await _request(app, "1001", AgentState.READY)
    agent = await app.store.get_agent("1001")
    assert agent is not None and agent.call == first.uniqueid
    assert agent.state in (AgentState.RESERVED, AgentState.RINGING)
    waiting = await app.store.get_call(second.uniqueid)
    assert waiting is not None and waiting.status is CallStatus.WAITING


async def test_the_api_shows_and_takes_back_a_pause_after_the_call(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=600.0)
    app, sink = await make_acd(http=http_settings())
    async with aiohttp.ClientSession() as session:
        api = Client(session, f"http://127.0.0.1:{app.http_port}", sink)
        await log_in(app, "1001")
        call = await sim.place_call(queue="sales", caller_name="Zoë", patience=600)
        assert await call.answered(timeout=10) == "1001"
        await sink.wait_for("call.answered", call=call.uniqueid)
        path = "/api/v1/agents/1001/state"
        answers: list[tuple[int, Any]] = []
        status, body = await api.request(
            "POST", path, token=TOKENS["agent"], json={"state": "ready"}
        )
        assert status == 409 and "would be offered a second" in body["error"]
        status, body = await api.request(
            "POST", path, token=TOKENS["agent"], json={"state": "paused", "reason": "lunch"}
        )
        answers.append((status, body))
        assert status == 202
        assert (body["state"], body["pending_state"], body["pending_reason"]) == (
            "busy",
            "paused",
            "lunch",
        )
        status, body = await api.request("GET", "/api/v1/agents/1001", token=TOKENS["agent"])
        assert (status, body["pending_state"]) == (200, "paused")
        status, body = await api.request(
            "POST", path, token=TOKENS["agent"], json={"state": "paused", "reason": "nap"}
        )
        assert (status, body["field"]) == (400, "reason")
        # Ready during the call takes the pause back: wrap-up then ready, as usual.
        status, body = await api.request(
            "POST", path, token=TOKENS["agent"], json={"state": "ready"}
        )
        answers.append((status, body))
        assert (status, body["state"], body["pending_state"]) == (200, "busy", None)
        assert [e["pending_state"] for e in sink.find("agent.pending", agent="1001")][:2] == [
            "paused",
            "",
        ]
        pending = "/api/v1/agents/1001/state/pending"
        status, body = await api.request("DELETE", pending, token=TOKENS["agent"])
        assert status == 409 and "no change pending" in body["error"]
        check_response("delete", "/api/v1/agents/{agent}/state/pending", status, body)
        status, body = await api.request(
            "POST", path, token=TOKENS["supervisor"], json={"state": "paused", "reason": "break"}
        )
        assert (status, body["pending_state"]) == (202, "paused")
        status, body = await api.request("DELETE", pending, token=TOKENS["agent"])
        assert (status, body["state"], body["pending_state"]) == (200, "busy", None)
        check_response("delete", "/api/v1/agents/{agent}/state/pending", status, body)
        status, body = await api.request(
            "POST", path, token=TOKENS["supervisor"], json={"state": "logged_out"}
        )
        assert (status, body["pending_state"]) == (202, "logged_out")
        await api.request(
            "POST", f"/api/v1/calls/{call.uniqueid}/hangup", token=TOKENS["supervisor"]
        )
        state = await sink.wait_for("agent.state", agent="1001", state="logged_out")
        assert state["previous"] == "busy"
        status, body = await api.request("GET", "/api/v1/agents/1001", token=TOKENS["agent"])
        assert (body["state"], body["pending_state"]) == ("logged_out", None)
        check_response("get", "/api/v1/agents/{agent}", status, body)
        for status, body in answers:
            check_response("post", "/api/v1/agents/{agent}/state", status, body)


TEAM = [
    {"id": "1001", "name": "Anna", "dial": "PJSIP/1001", "queues": {"sales": 1}, "team": "t"},
    {"id": "2001", "name": "Lead", "dial": "PJSIP/2001", "team": "t", "role": "lead"},
]


async def test_a_pending_pause_is_taken_when_the_agent_escalates_its_call(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """The agent's part of the call ends when a lead takes it over: the pause asked for
    during the call is taken then (the leg the agent had is gone)."""
    sim.add_phone("1001", answer_after=0.5, talk_for=600.0)
    sim.add_phone("2001", answer_after=0.5, talk_for=1.0)
    app, sink = await make_acd(queues=[{**QUEUES[0], "teams": ["t"]}], agents=TEAM)
    await log_in(app, "1001", "2001")
    call = await sim.place_call(queue="sales", caller_name="Kofi", patience=600)
    assert await call.answered(timeout=10) == "1001"
    await sink.wait_for("call.answered", call=call.uniqueid, agent="1001")
    _agent, effect = await _request(app, "1001", AgentState.PAUSED, "coaching")
    assert effect is RequestEffect.PEND
    await app.router.call(
        functools.partial(call_actions.escalate, app.router.services, call.uniqueid)
    )
    state = await sink.wait_for("agent.state", agent="1001", state="paused")
    assert (state["previous"], state["reason"]) == ("busy", "coaching")
    await sink.wait_for("call.answered", call=call.uniqueid, agent="2001")
    agent = await app.store.get_agent("1001")
    assert agent is not None
    assert (agent.state, agent.pause_reason, agent.pending_state) == (
        AgentState.PAUSED,
        "coaching",
        None,
    )
    assert agent.calls_taken == 1
