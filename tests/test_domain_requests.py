"""What a person's request for an agent state does, from each state: the request table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acd.domain.model import Agent, AgentState
from acd.domain.outcomes import after_conversation
from acd.domain.state_machine import (
    RefusedRequest,
    RequestEffect,
    plan_request,
    request_effect,
    transition,
)

S = AgentState
E = RequestEffect
REQUESTABLE = (S.READY, S.PAUSED, S.LOGGED_OUT)
NOW = 1_700_000_000.0


def agent_in(state: AgentState, **fields: object) -> Agent:
    call = "c1" if state in (S.RESERVED, S.RINGING, S.BUSY) else ""
    return replace(Agent("1001", "PJSIP/1001"), state=state, call=call, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "target", "effect"),
    [
        (S.LOGGED_OUT, S.READY, E.APPLY),
        (S.LOGGED_OUT, S.PAUSED, E.APPLY),
        (S.READY, S.PAUSED, E.APPLY),
        (S.READY, S.LOGGED_OUT, E.APPLY),
        (S.WRAP_UP, S.READY, E.APPLY),
        (S.WRAP_UP, S.PAUSED, E.APPLY),
        (S.PAUSED, S.PAUSED, E.APPLY),
        (S.RESERVED, S.PAUSED, E.WITHDRAW),
        (S.RESERVED, S.LOGGED_OUT, E.WITHDRAW),
        (S.RINGING, S.PAUSED, E.WITHDRAW),
        (S.RINGING, S.LOGGED_OUT, E.WITHDRAW),
        (S.BUSY, S.PAUSED, E.PEND),
        (S.BUSY, S.LOGGED_OUT, E.PEND),
    ],
)
def test_each_request_does_what_the_table_says(
    state: AgentState, target: AgentState, effect: RequestEffect
) -> None:
    assert request_effect(agent_in(state), target) is effect


@pytest.mark.parametrize("state", [S.RESERVED, S.RINGING, S.BUSY])
def test_ready_while_on_a_call_is_refused_and_says_why(state: AgentState) -> None:
    """Ready while an offer rings or the agent talks would invite a second call."""
    with pytest.raises(RefusedRequest, match="holds call c1 and would be offered a second"):
        request_effect(agent_in(state), S.READY)


def test_ready_during_a_call_takes_back_a_pending_pause() -> None:
    busy = agent_in(S.BUSY, pending_state=S.PAUSED, pending_reason="lunch")
    assert request_effect(busy, S.READY) is E.CLEAR_PENDING
    cleared = plan_request(busy, S.READY, NOW)
    assert (cleared.state, cleared.pending_state, cleared.pending_reason) == (S.BUSY, None, "")


def test_a_pause_during_a_call_is_pending_with_its_reason_and_checked() -> None:
    planned = plan_request(agent_in(S.BUSY), S.PAUSED, NOW, "lunch")
    assert (planned.state, planned.call) == (S.BUSY, "c1")
    assert (planned.pending_state, planned.pending_reason) == (S.PAUSED, "lunch")
    with pytest.raises(Exception, match="reason"):
        plan_request(agent_in(S.BUSY), S.PAUSED, NOW, "nap")


def test_a_pending_pause_replaces_wrap_up_when_the_call_ends() -> None:
    busy = agent_in(S.BUSY, pending_state=S.PAUSED, pending_reason="lunch")
    after = after_conversation(busy, NOW, talk=30.0, wrap_up_seconds=60.0, today="2026-12-02")
    assert (after.agent.state, after.agent.pause_reason, after.resume_at) == (S.PAUSED, "lunch", 0)
    assert (after.agent.pending_state, after.agent.call, after.agent.calls_taken) == (None, "", 1)
    out = after_conversation(
        replace(busy, pending_state=S.LOGGED_OUT, pending_reason=""),
        NOW,
        talk=1.0,
        wrap_up_seconds=0.0,
        today="2026-12-02",
    )
    assert out.agent.state is S.LOGGED_OUT and not out.free


def test_leaving_the_conversation_any_other_way_drops_the_pending_change() -> None:
    busy = agent_in(S.BUSY, pending_state=S.LOGGED_OUT)
    assert transition(busy, S.WRAP_UP, NOW).pending_state is None


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("target", REQUESTABLE)
def test_no_request_leaves_an_agent_free_for_a_call_while_it_holds_one(
    state: AgentState, target: AgentState
) -> None:
    agent = agent_in(state)
    try:
        effect = request_effect(agent, target)
    except RefusedRequest:
        return
    planned = plan_request(agent, target, NOW, "break")
    if effect is E.WITHDRAW:
        assert planned.state is target and not planned.call
    elif state in (S.RESERVED, S.RINGING, S.BUSY):
        assert planned.state is state and planned.call == "c1"
