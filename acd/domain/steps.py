"""Routing steps: who may take a call after it has waited so long, and when it must overflow.

A queue's steps relax skill thresholds over time, then bring in team leads (and, if a step
says so, supervisors), and end with a fallback that takes the call out of the queue. The
service asks :func:`overflow_decision` on every event about a waiting call; each step the
call enters beyond the first is reported once, so it can be counted per queue and step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from acd.domain.model import (
    Agent,
    AgentState,
    Call,
    FallbackKind,
    Queue,
    Role,
    Step,
    StepKind,
)
from acd.domain.skills import meets, relax


class OverflowReason(StrEnum):
    """Why a call moved on to a later step or left its queue (a closed set: metric label)."""

    WAIT = "wait"  # it waited long enough for the next step
    NO_AGENTS = "no-agents"  # nobody logged in could take it at its step
    QUEUE_FULL = "queue-full"  # more than ``max_length`` calls are ahead of it
    TIMEOUT = "timeout"  # it waited the queue's ``max_wait_seconds``


@dataclass(frozen=True, slots=True)
class Overflow:
    """A decision to move a waiting call to a later step, or out of its queue.

    ``to`` is None when the call stays in the queue at ``step`` (record it on the call, then
    route again). Otherwise the call leaves for ``to``/``target``.
    """

    call_id: str
    queue: str
    step: int
    label: str  # the step's metric label, e.g. "2-leads"
    reason: OverflowReason
    to: FallbackKind | None = None
    target: str = ""

    @property
    def leaves(self) -> bool:
        """True if the call must leave the queue rather than wait at a later step."""
        return self.to is not None


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Who may take one call at one step; worked out once per decision, asked per agent."""

    queue: str
    step: int
    requirements: dict[str, int]
    teams: frozenset[str]
    leads: bool
    supervisors: bool
    ranked_skills: tuple[str, ...]  # the call's own required skills, for best-skill routing
    staff_only: bool = False  # an escalated call: leads and supervisors only
    excluded: str = ""  # the agent who escalated it does not get it back

    def in_pool(self, agent: Agent) -> bool:
        """True if ``agent``'s role and membership let it take calls of this step."""
        if agent.id == self.excluded or (self.staff_only and agent.role is Role.AGENT):
            return False
        if agent.role is Role.SUPERVISOR:
            return self.supervisors and (self.queue in agent.queues or agent.team in self.teams)
        if self.queue in agent.queues:
            return True
        return self.leads and agent.role is Role.LEAD and agent.team in self.teams

    def admits(self, agent: Agent) -> bool:
        """True if ``agent`` is in the pool and meets every requirement of the step."""
        return self.in_pool(agent) and meets(agent.skills, self.requirements)


# Built once: routing asks for a queue's steps on every decision.
_ONE_STEP = (Step(),)


def routing_steps(queue: Queue) -> tuple[Step, ...]:
    """The queue's steps; without configured steps, one step at 0 s with the queue's skills."""
    return queue.steps or _ONE_STEP


def step_label(queue: Queue, index: int) -> str:
    """The metric label of step ``index`` (``len(steps)`` is the dialplan's fallback)."""
    steps = routing_steps(queue)
    if index >= len(steps):
        return "fallback"
    return steps[index].name or f"{index}-{steps[index].kind.value}"


def effective_requirements(call: Call, queue: Queue) -> dict[str, int]:
    """The queue's default skills overridden by the call's own (from the dialplan)."""
    return {**queue.skills, **call.skills}


def current_step_index(queue: Queue, call: Call, now: float | None) -> int:
    """Index of the step ``call`` is in: the later of what its wait and its record say.

    ``now`` None means the time is unknown: the recorded step only.
    """
    steps = routing_steps(queue)
    index = min(max(call.step, 0), len(steps) - 1)
    if now is None:
        return index
    waited = now - call.arrived_at
    for later in range(index + 1, len(steps)):
        if steps[later].after > waited:
            break
        index = later
    return index


def current_step(queue: Queue, call: Call, now: float | None) -> Step:
    """The step ``call`` is in at ``now``."""
    return routing_steps(queue)[current_step_index(queue, call, now)]


def eligibility_at(call: Call, queue: Queue, index: int) -> Eligibility | None:
    """Who may take ``call`` at step ``index``; None at the fallback step (nobody)."""
    if call.escalated_by:
        return escalation_eligibility(call, queue)
    steps = routing_steps(queue)
    if steps[index].kind is StepKind.FALLBACK:
        return None
    own = effective_requirements(call, queue)
    requirements = own
    leads = supervisors = False
    for step in steps[: index + 1]:  # overrides and widened pools add up step by step
        requirements = relax(requirements, step.skills, step.cap)
        leads = leads or step.kind is StepKind.LEADS
        supervisors = supervisors or step.kind is StepKind.SUPERVISORS
    return Eligibility(
        queue=queue.name,
        step=index,
        requirements=requirements,
        teams=frozenset(team for team in queue.teams if team),
        leads=leads,
        supervisors=supervisors,
        ranked_skills=tuple(sorted(own)),
    )


def escalation_eligibility(call: Call, queue: Queue) -> Eligibility:
    """An escalated call goes to a lead or supervisor, whatever the queue's steps say.

    Skills do not apply: the agent asked for help from a person, not a skill. Which of them
    goes first is :func:`escalation_tier`.
    """
    teams = {team for team in (*queue.teams, call.escalation_team) if team}
    return Eligibility(
        queue=queue.name,
        step=call.step,
        requirements={},
        teams=frozenset(teams),
        leads=True,
        supervisors=True,
        ranked_skills=(),
        staff_only=True,
        excluded=call.escalated_by,
    )


def escalation_tier(call: Call, agent: Agent) -> int:
    """Who takes an escalated call first: 0 a lead of the escalating agent's own team, 1 any
    other lead serving the queue, 2 a supervisor."""
    if agent.role is Role.LEAD:
        return 0 if call.escalation_team and agent.team == call.escalation_team else 1
    return 2


def eligibility(call: Call, queue: Queue, now: float | None = None) -> Eligibility | None:
    """Who may take ``call`` at ``now``; None if it is due to fall back."""
    return eligibility_at(call, queue, current_step_index(queue, call, now))


def is_logged_in(agent: Agent) -> bool:
    """True if the agent is at work (paused counts: they come back)."""
    return agent.state is not AgentState.LOGGED_OUT


def overflow_decision(
    call: Call, queue: Queue, agents: Iterable[Agent], now: float, *, waiting_ahead: int = 0
) -> Overflow | None:
    """Tell the service whether ``call`` must move to a later step or leave, and why.

    ``agents`` are the agents who might serve the queue (members, and the leads and
    supervisors of its teams), in any state; ``waiting_ahead`` is how many calls are ahead of
    it in line. None means: nothing new, keep waiting at the recorded step.
    """
    logged_in = [agent for agent in agents if is_logged_in(agent)]

    def someone_could_take(who: Eligibility) -> bool:
        return any(who.admits(agent) for agent in logged_in)

    return plan_overflow(call, queue, now, someone_could_take, waiting_ahead=waiting_ahead)


def plan_overflow(
    call: Call,
    queue: Queue,
    now: float,
    someone_could_take: Callable[[Eligibility], bool],
    *,
    waiting_ahead: int = 0,
) -> Overflow | None:
    """:func:`overflow_decision` with the "anyone logged in?" question left to the caller.

    The agent index answers that question from its own sets, without a scan of all agents.
    """
    if call.escalated_by:
        # Already with the leads; its wait is bounded by the dialplan's deadline, reset when
        # it was escalated.
        return None
    steps = routing_steps(queue)
    current = current_step_index(queue, call, now)
    if steps[current].kind is StepKind.FALLBACK:
        return _leave(call, queue, OverflowReason.WAIT)
    if queue.max_wait_seconds and now - call.arrived_at >= queue.max_wait_seconds:
        return _leave(call, queue, OverflowReason.TIMEOUT)
    start, reason = current, OverflowReason.WAIT
    if queue.max_length and waiting_ahead >= queue.max_length:
        leads = [i for i, step in enumerate(steps) if step.kind is StepKind.LEADS]
        if not leads:
            return _leave(call, queue, OverflowReason.QUEUE_FULL)
        if leads[-1] > current:  # a line too long goes to the leads now; at them, it waits
            start, reason = next(i for i in leads if i > current), OverflowReason.QUEUE_FULL
    for index in range(start, len(steps)):
        who = eligibility_at(call, queue, index)
        if who is None:
            break
        if someone_could_take(who):
            if index > start:
                reason = OverflowReason.NO_AGENTS  # steps nobody could serve are skipped
            return _move(call, queue, index, reason) if index > call.step else None
    if steps[-1].kind is StepKind.FALLBACK:
        return _leave(call, queue, OverflowReason.NO_AGENTS)
    # Nobody at all, and nowhere to go: wait for someone to log in (the dialplan's own
    # timeout is the last resort), but record how far time and overflow took the call.
    return _move(call, queue, start, reason) if start > call.step else None


def _move(call: Call, queue: Queue, index: int, reason: OverflowReason) -> Overflow:
    return Overflow(call.id, queue.name, index, step_label(queue, index), reason)


def _leave(call: Call, queue: Queue, reason: OverflowReason) -> Overflow:
    steps = routing_steps(queue)
    if steps[-1].kind is StepKind.FALLBACK:
        index, last = len(steps) - 1, steps[-1]
        return Overflow(
            call.id, queue.name, index, step_label(queue, index), reason, last.to, last.target
        )
    index = len(steps)
    return Overflow(
        call.id, queue.name, index, step_label(queue, index), reason, FallbackKind.DIALPLAN
    )
