"""What follows each outcome of a call or an offer, as pure functions returning what to
change. The service carries them out (the Lua scripts compare-and-set the state computed
here); the property tests drive these same functions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from acd.domain.agent_index import AgentIndex
from acd.domain.call_index import WaitingCalls
from acd.domain.counts import counted_today
from acd.domain.model import Agent, AgentState, Assignment, Call
from acd.domain.state_machine import IllegalTransition, PauseReason, transition
from acd.domain.steps import Overflow

S = AgentState


@dataclass(frozen=True, slots=True)
class AgentChange:
    """An agent as it is to be, and when its timer (a wrap-up, a no-answer pause) ends
    (0: no timer). ``free`` says whether it may take a call at once."""

    agent: Agent
    resume_at: float = 0.0

    @property
    def free(self) -> bool:
        return self.agent.state is S.READY


def after_no_answer(agent: Agent, now: float, *, pause: bool, pause_seconds: float) -> AgentChange:
    """The agent let an offer ring out (or was unreachable): paused for no-answer (back by
    itself after ``pause_seconds``, if any) when the queue and settings say so, else ready."""
    if not pause:
        return AgentChange(transition(agent, S.READY, now))
    paused = transition(agent, S.PAUSED, now, reason=PauseReason.NO_ANSWER.value)
    return AgentChange(paused, now + pause_seconds if pause_seconds else 0.0)


def after_withdrawn_offer(agent: Agent, now: float) -> AgentChange:
    """The offer ended through no fault of the agent (the caller hung up while it rang, the
    ring could not be placed): ready again."""
    return AgentChange(transition(agent, S.READY, now))


def after_conversation(
    agent: Agent, now: float, *, talk: float, wrap_up_seconds: float, today: str
) -> AgentChange:
    """The agent's part of a conversation is over: one more call and its talk counted for
    ``today``, then the pause or log-out asked for during the call (instead of wrap-up: a
    paused agent is offered nothing either), else wrap-up for the queue's time, or ready."""
    counted = counted_today(agent, today)
    counted = replace(
        counted,
        calls_taken=counted.calls_taken + 1,
        talk_seconds=counted.talk_seconds + max(0.0, talk),
        counts_day=today,
    )
    if counted.pending_state is not None:
        return AgentChange(
            transition(counted, counted.pending_state, now, reason=counted.pending_reason)
        )
    if wrap_up_seconds > 0:
        return AgentChange(transition(counted, S.WRAP_UP, now), now + wrap_up_seconds)
    return AgentChange(transition(counted, S.READY, now))


def after_timer(agent: Agent, now: float) -> AgentChange:
    """The wrap-up (or the no-answer pause) is over: ready. Only those have timers: a
    timer that finds the agent otherwise (talking again, say) is stale."""
    if agent.state not in (S.WRAP_UP, S.PAUSED):
        raise IllegalTransition(agent.id, agent.state, S.READY)
    return AgentChange(transition(agent, S.READY, now))


def arrival_plan(
    call: Call,
    agents: AgentIndex,
    waiting: WaitingCalls,
    now: float,
    *,
    cursor: str = "",
    rng: random.Random | None = None,
) -> Assignment | Overflow | None:
    """What a new call gets: a ready agent who may take it first, whatever the overflow check
    would say; else its overflow decision (None: it waits at its step)."""
    assignment = agents.choose_agent_for_call(call, now=now, cursor=cursor, rng=rng)
    if assignment is not None:
        return assignment
    queue = agents.queue(call.queue)
    ahead = waiting.waiting_ahead(call, now) if queue.max_length else 0
    return agents.overflow_decision(call, now, waiting_ahead=ahead)
