"""The agent state machine: one table of allowed transitions, and the function that applies it."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from acd.domain.model import Agent, AgentState
from acd.errors import AcdError, InvalidInput

S = AgentState


class PauseReason(StrEnum):
    """Why an agent is paused; reporting groups pauses by these codes."""

    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    MEETING = "meeting"
    COACHING = "coaching"
    NO_ANSWER = "no-answer"


class IllegalTransition(AcdError):
    """An agent was asked to move to a state the table does not allow from its current one."""

    def __init__(self, agent_id: str, current: AgentState, target: AgentState) -> None:
        super().__init__(f"agent {agent_id}: cannot go from {current} to {target}")
        self.current = current
        self.target = target


# from-state -> states it may move to. Logging out is allowed except while talking (busy):
# a reserved or ringing offer is released by the service. Paused -> paused changes the reason.
TRANSITIONS: dict[AgentState, frozenset[AgentState]] = {
    S.LOGGED_OUT: frozenset({S.READY, S.PAUSED}),
    S.READY: frozenset({S.RESERVED, S.PAUSED, S.LOGGED_OUT}),
    S.RESERVED: frozenset({S.RINGING, S.BUSY, S.READY, S.PAUSED, S.LOGGED_OUT}),
    S.RINGING: frozenset({S.BUSY, S.READY, S.PAUSED, S.LOGGED_OUT}),
    S.BUSY: frozenset({S.WRAP_UP, S.READY}),
    S.WRAP_UP: frozenset({S.READY, S.PAUSED, S.LOGGED_OUT}),
    S.PAUSED: frozenset({S.READY, S.LOGGED_OUT, S.PAUSED}),
}

# States in which the agent is attached to a call.
ON_CALL = frozenset({S.RESERVED, S.RINGING, S.BUSY})


def can_transition(current: AgentState, target: AgentState) -> bool:
    """True if the table allows ``current`` -> ``target``."""
    return target in TRANSITIONS[current]


def check_pause_reason(reason: str) -> PauseReason:
    """The :class:`PauseReason` named by ``reason``, or :class:`InvalidInput`."""
    try:
        return PauseReason(reason)
    except ValueError:
        choices = ", ".join(r.value for r in PauseReason)
        raise InvalidInput("reason", f"a pause needs a reason code: one of {choices}") from None


def transition(
    agent: Agent, target: AgentState, now: float, *, reason: str = "", call: str = ""
) -> Agent:
    """Return ``agent`` moved to ``target`` at ``now``, or raise :class:`IllegalTransition`.

    Becoming ready starts the idle clock that longest-idle routing orders by. A pause must
    carry a :class:`PauseReason` code (reports group by it); an offer names its call, and an
    agent keeps that one call from reserved to busy: otherwise :class:`InvalidInput`.
    """
    if not can_transition(agent.state, target):
        raise IllegalTransition(agent.id, agent.state, target)
    if target is S.PAUSED:
        reason = check_pause_reason(reason).value
    if target in ON_CALL:
        call = _attached_call(agent, call)
    idle_since = now if target is S.READY else agent.idle_since
    return replace(
        agent,
        state=target,
        state_since=now,
        idle_since=idle_since,
        pause_reason=reason if target is S.PAUSED else "",
        call=call if target in ON_CALL else "",
    )


def _attached_call(agent: Agent, call: str) -> str:
    """The call an agent moving into an on-call state holds: one, and the same throughout."""
    if agent.state in ON_CALL and agent.call:
        if call and call != agent.call:
            raise InvalidInput("call", f"agent {agent.id} already holds call {agent.call}")
        return agent.call
    if not call:
        raise InvalidInput("call", f"agent {agent.id}: say which call it is offered")
    return call
