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


# from-state -> states it may move to, through telephony events and timers (an offer rings,
# is answered or missed, a call ends) and through the requests below. Paused -> paused
# changes the reason. A person never moves an agent along this table directly: see REQUESTS.
TRANSITIONS: dict[AgentState, frozenset[AgentState]] = {
    S.LOGGED_OUT: frozenset({S.READY, S.PAUSED}),
    S.READY: frozenset({S.RESERVED, S.PAUSED, S.LOGGED_OUT}),
    S.RESERVED: frozenset({S.RINGING, S.BUSY, S.READY, S.PAUSED, S.LOGGED_OUT}),
    S.RINGING: frozenset({S.BUSY, S.READY, S.PAUSED, S.LOGGED_OUT}),
    # Paused or logged out: the change asked for during the call, taken when it ends.
    S.BUSY: frozenset({S.WRAP_UP, S.READY, S.PAUSED, S.LOGGED_OUT}),
    S.WRAP_UP: frozenset({S.READY, S.PAUSED, S.LOGGED_OUT}),
    S.PAUSED: frozenset({S.READY, S.LOGGED_OUT, S.PAUSED}),
}

# States in which the agent is attached to a call.
ON_CALL = frozenset({S.RESERVED, S.RINGING, S.BUSY})


class RequestEffect(StrEnum):
    """What an agent's (or a supervisor's) request for a state does, from the agent's state."""

    APPLY = "apply"  # the agent takes the state now
    WITHDRAW = "withdraw"  # the offer ringing now is withdrawn (caller back in line), then apply
    PEND = "pend"  # the agent talks: the state is taken when the call ends
    CLEAR_PENDING = "clear-pending"  # ready during a call: no pause or log-out after it
    REFUSE = "refuse"  # 409: ready while an offer rings would give the agent a second call


# (from-state, requested state) -> effect; a pair not listed is refused. Only ready, paused and
# logged_out can be requested. Ready while reserved, ringing or busy is refused (the call the
# agent holds keeps it; ready would invite a second one); ready while busy only takes back a
# pending pause or log-out.
REQUESTS: dict[tuple[AgentState, AgentState], RequestEffect] = {
    **{(s, t): RequestEffect.APPLY for s in (S.READY, S.WRAP_UP, S.PAUSED) for t in TRANSITIONS[s]},
    (S.LOGGED_OUT, S.READY): RequestEffect.APPLY,
    (S.LOGGED_OUT, S.PAUSED): RequestEffect.APPLY,
    **{
        (s, t): RequestEffect.WITHDRAW
        for s in (S.RESERVED, S.RINGING)
        for t in (S.PAUSED, S.LOGGED_OUT)
    },
    (S.BUSY, S.PAUSED): RequestEffect.PEND,
    (S.BUSY, S.LOGGED_OUT): RequestEffect.PEND,
    (S.BUSY, S.READY): RequestEffect.CLEAR_PENDING,
}


class RefusedRequest(IllegalTransition):
    """A request for a state the agent cannot take now; the message says why (409)."""

    def __init__(self, agent: Agent, target: AgentState, why: str) -> None:
        super().__init__(agent.id, agent.state, target)
        if why:
            self.args = (f"{self.args[0]}: {why}",)


def plan_request(agent: Agent, target: AgentState, now: float, reason: str = "") -> Agent:
    """The agent as a request for ``target`` leaves it (pending fields for a busy agent), or
    :class:`RefusedRequest`. The effect is :func:`request_effect`'s."""
    effect = request_effect(agent, target)
    if effect is RequestEffect.PEND:
        if target is S.PAUSED:
            reason = check_pause_reason(reason).value
        return replace(agent, pending_state=target, pending_reason=reason)
    if effect is RequestEffect.CLEAR_PENDING:
        return replace(agent, pending_state=None, pending_reason="")
    return transition(agent, target, now, reason=reason)


def request_effect(agent: Agent, target: AgentState) -> RequestEffect:
    """What asking for ``target`` does to ``agent`` now; raises :class:`RefusedRequest` for a
    request the agent's state refuses."""
    effect = REQUESTS.get((agent.state, target), RequestEffect.REFUSE)
    if effect is RequestEffect.CLEAR_PENDING and agent.pending_state is None:
        effect = RequestEffect.REFUSE
    if effect is RequestEffect.REFUSE:
        if agent.state in ON_CALL and target is S.READY:
            why = (
                f"it holds call {agent.call} and would be offered a second one; it becomes "
                "ready when that call ends (a pause or log-out withdraws a ringing offer)"
            )
        else:
            why = ""
        raise RefusedRequest(agent, target, why)
    return effect


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
        # A pending pause or log-out lives only as long as the conversation it waits for.
        pending_state=agent.pending_state if target is S.BUSY else None,
        pending_reason=agent.pending_reason if target is S.BUSY else "",
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
