"""What follows an offer's or a call's outcome: the pure functions the service carries out."""

from __future__ import annotations

import pytest

from acd.domain.model import Agent, AgentState
from acd.domain.outcomes import (
    after_conversation,
    after_no_answer,
    after_timer,
    after_withdrawn_offer,
)
from acd.domain.state_machine import IllegalTransition

S = AgentState


def agent(state: AgentState, **fields: object) -> Agent:
    return Agent(
        id="1001",
        dial="PJSIP/1001",
        queues={"sales": 1},
        state=state,
        call="c1" if state in (S.RESERVED, S.RINGING, S.BUSY) else "",
        **fields,  # type: ignore[arg-type]
    )


def test_a_no_answer_pauses_the_agent_until_the_pause_ends_by_itself() -> None:
    change = after_no_answer(agent(S.RINGING), 100.0, pause=True, pause_seconds=30.0)
    assert change.agent.state is S.PAUSED and change.agent.pause_reason == "no-answer"
    assert change.resume_at == 130.0 and not change.free and change.agent.call == ""
    forever = after_no_answer(agent(S.RINGING), 100.0, pause=True, pause_seconds=0.0)
    assert forever.resume_at == 0.0
    ready = after_no_answer(agent(S.RESERVED), 100.0, pause=False, pause_seconds=30.0)
    assert ready.free and ready.agent.idle_since == 100.0


def test_a_conversation_counts_for_today_and_starts_wrap_up_or_frees_the_agent() -> None:
    busy = agent(S.BUSY, calls_taken=7, talk_seconds=300.0, counts_day="2026-12-01")
    wrap = after_conversation(busy, 50.0, talk=12.5, wrap_up_seconds=10.0, today="2026-12-02")
    # Yesterday's figures do not carry into today.
    assert (wrap.agent.calls_taken, wrap.agent.talk_seconds) == (1, 12.5)
    assert wrap.agent.state is S.WRAP_UP and wrap.resume_at == 60.0
    same_day = after_conversation(busy, 50.0, talk=5.0, wrap_up_seconds=0, today="2026-12-01")
    assert same_day.free and same_day.agent.calls_taken == 8
    assert same_day.agent.talk_seconds == 305.0


def test_timers_and_withdrawn_offers_make_the_agent_ready() -> None:
    assert after_timer(agent(S.WRAP_UP), 9.0).free
    assert after_withdrawn_offer(agent(S.RINGING), 9.0).agent.state is S.READY
    with pytest.raises(IllegalTransition):
        after_timer(agent(S.BUSY), 9.0)  # a talking agent is not freed by a timer
