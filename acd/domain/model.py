"""Calls, agents, queues and routing steps in the words of a contact centre: frozen dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from acd.errors import SettingError


class AgentState(StrEnum):
    """Where an agent is in the working day; transitions live in ``state_machine``."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    RESERVED = "reserved"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class CallStatus(StrEnum):
    """Where a call is: waiting in a queue, offered to an agent, connected, or ended."""

    WAITING = "waiting"
    OFFERED = "offered"
    CONNECTED = "connected"
    ENDED = "ended"


class Outcome(StrEnum):
    """How a call ended: every call that enters ends in exactly one of these."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"
    FAILED = "failed"


class Strategy(StrEnum):
    """How a queue picks among the agents who may take a call."""

    LONGEST_IDLE = "longest-idle"
    FEWEST_CALLS = "fewest-calls"
    LEAST_TALK_TIME = "least-talk-time"
    ROUND_ROBIN = "round-robin"
    BEST_SKILL = "best-skill"
    RANDOM = "random"


class Role(StrEnum):
    """What an agent is in the contact centre's organisation."""

    AGENT = "agent"
    LEAD = "lead"
    SUPERVISOR = "supervisor"


class StepKind(StrEnum):
    """What a routing step changes about who may take a call."""

    SKILLS = "skills"  # the queue's agents, at the step's skill thresholds
    LEADS = "leads"  # ... and from now on the team leads of the queue's teams
    SUPERVISORS = "supervisors"  # ... and from now on the supervisors of those teams
    FALLBACK = "fallback"  # the call leaves the queue for ``Step.to``


class FallbackKind(StrEnum):
    """Where a call goes when it leaves its queue without an agent."""

    QUEUE = "queue"  # another queue, named by ``Step.target``
    VOICEMAIL = "voicemail"  # a voicemail context, named by ``Step.target``
    CALLBACK = "callback"  # a callback request; the caller hangs up
    DIALPLAN = "dialplan"  # the dialplan's own safe fallback (``acd.fallback``)


MIN_PRIORITY = 0
MAX_PRIORITY = 9
# An escalated call is served before every ordinary call, whatever their priority.
ESCALATED_PRIORITY = MAX_PRIORITY + 1
MAX_RANK = 100


@dataclass(frozen=True, slots=True)
class Call:
    """One caller waiting for, talking to, or done with an agent.

    ``id`` is Asterisk's Uniqueid of the caller's channel; times are seconds since the epoch.
    ``step`` is the routing step the call was moved to by an overflow decision; time alone may
    have taken it further (see ``steps.current_step``). ``escalated_by`` is the agent who
    escalated the live call to a team lead (``escalation_team`` theirs): from then on only
    leads and supervisors may take it, ahead of ordinary calls. ``own_skills`` are the skills
    the call itself asked for (the dialplan's ``ACD_SKILLS``); ``skills`` are what it requires
    in its present queue: that queue's defaults overridden by its own (:func:`call_skills`), so
    a call moved to another queue takes the new queue's defaults and keeps its own.
    ``answered_at`` is when an agent first answered it, ``ended_at`` when it ended (0: not yet).
    ``reserved_for`` is the agent a supervisor sent the waiting call to while that agent was
    not free: until ``reserved_until`` nobody else is offered it (see :meth:`held_from`).
    ``hold_seconds`` is the time it spent on hold (holds that ended); ``transfer`` how its agent
    transferred it (``blind``; '' if not) and ``transfer_target`` where to.
    """

    id: str
    channel: str
    queue: str
    priority: int
    arrived_at: float
    skills: dict[str, int] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    caller_name: str = ""
    caller_number: str = ""
    status: CallStatus = CallStatus.WAITING
    attempts: int = 0
    agent: str = ""
    step: int = 0
    escalated_by: str = ""
    escalation_team: str = ""
    own_skills: dict[str, int] = field(default_factory=dict)
    answered_at: float = 0.0
    ended_at: float = 0.0
    reserved_for: str = ""
    reserved_until: float = 0.0
    hold_seconds: float = 0.0
    transfer: str = ""
    transfer_target: str = ""

    def reserved_at(self, now: float) -> str:
        """The agent the call is held for at ``now`` ('' if none, or the hold is over)."""
        return self.reserved_for if self.reserved_for and self.reserved_until > now else ""

    def held_from(self, agent_id: str, now: float) -> bool:
        """True if the call is reserved for another agent than ``agent_id`` at ``now``."""
        held = self.reserved_at(now)
        return bool(held) and held != agent_id

    def wait_seconds(self, now: float) -> float:
        """How long the caller waited for an agent: until the first answer, or until the call
        ended unanswered, or so far; frozen once answered or ended."""
        until = self.answered_at or self.ended_at or now
        return max(0.0, until - self.arrived_at)


def call_skills(queue: Queue, own: Mapping[str, int]) -> dict[str, int]:
    """What a call requires in ``queue``: the queue's default skills, with the call's own
    requested levels overriding them."""
    return {**queue.skills, **own}


def in_queue(call: Call, queue: Queue) -> Call:
    """``call`` moved to ``queue``: its steps start over and it requires that queue's skills
    (with its own levels kept)."""
    return replace(call, queue=queue.name, step=0, skills=call_skills(queue, call.own_skills))


@dataclass(frozen=True, slots=True)
class Agent:
    """A person who takes calls, with skills, queue memberships and a live state.

    ``device_busy`` is the phone's own state: busy with a call acd did not give (a direct
    call, an outbound call), so acd must not offer one.
    """

    id: str
    dial: str
    name: str = ""
    team: str = ""
    role: Role = Role.AGENT
    skills: dict[str, int] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)  # queue -> rank (1 = first)
    state: AgentState = AgentState.LOGGED_OUT
    state_since: float = 0.0
    idle_since: float = 0.0
    pause_reason: str = ""
    call: str = ""
    calls_taken: int = 0  # today's, with talk_seconds: see ``counts_day``
    talk_seconds: float = 0.0
    device_busy: bool = False
    counts_day: str = ""  # the local day calls_taken and talk_seconds were counted on
    # A pause or log-out asked for during a conversation: taken when the call ends.
    pending_state: AgentState | None = None
    pending_reason: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """One routing step of a queue: from ``after`` seconds of waiting, who may take the call.

    ``skills`` override the levels of the same skills in the call's requirements (0 drops a
    skill); overrides add up from step to step, so thresholds relax over time and never
    tighten again unless a step says so. ``cap`` (1-10, 0 = none) lowers every requirement to
    at most that level, for relaxing languages that come from the dialplan per call.
    """

    after: float = 0.0
    kind: StepKind = StepKind.SKILLS
    skills: dict[str, int] = field(default_factory=dict)
    cap: int = 0
    to: FallbackKind = FallbackKind.DIALPLAN  # only for kind FALLBACK
    target: str = ""  # queue name or voicemail context, for ``to`` QUEUE or VOICEMAIL
    name: str = ""  # metric label; "<index>-<kind>" when empty

    def __post_init__(self) -> None:
        # Queues come back from JSON with plain strings where enums were: accept both.
        object.__setattr__(self, "kind", StepKind(self.kind))
        object.__setattr__(self, "to", FallbackKind(self.to))


@dataclass(frozen=True, slots=True)
class Queue:
    """A line callers wait in, with the rules for serving them.

    ``steps`` empty means one step at 0 s with the queue's skills. ``teams`` are the teams
    that serve the queue: their leads (and supervisors) take calls when a step says so.
    ``aging_seconds`` raises a waiting call's priority one level per that many seconds
    (0 = never), so low priorities do not starve.
    """

    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    skills: dict[str, int] = field(default_factory=dict)
    priority: int = 0
    service_level_seconds: float = 20.0
    wrap_up_seconds: float = 0.0
    ring_timeout_seconds: int = 15
    max_wait_seconds: int = 600
    max_length: int = 0  # 0 = unlimited
    steps: tuple[Step, ...] = ()
    teams: tuple[str, ...] = ()
    aging_seconds: float = 0.0
    no_answer_pause: bool = True

    def __post_init__(self) -> None:
        # The store rebuilds queues with ``Queue(**json)``: steps arrive as dicts, tuples as
        # lists. Normalising here keeps that round trip exact without the store knowing steps.
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        object.__setattr__(self, "steps", tuple(_as_step(s) for s in self.steps))
        object.__setattr__(self, "teams", tuple(self.teams))
        check_steps(self.name, self.steps)


def _as_step(value: Step | Mapping[str, Any]) -> Step:
    return value if isinstance(value, Step) else Step(**value)


def check_steps(queue: str, steps: tuple[Step, ...]) -> None:
    """Raise :class:`SettingError` naming the bad step unless ``steps`` make a usable plan."""
    where = f"queues.{queue}"
    for index, step in enumerate(steps):
        at = f"steps[{index}]"
        if index == 0 and step.after != 0:
            raise SettingError(where, f"{at}.after", "the first step must start at 0 s")
        if index and step.after < steps[index - 1].after:
            raise SettingError(where, f"{at}.after", "steps must be in order of time")
        if step.kind is StepKind.FALLBACK and index != len(steps) - 1:
            raise SettingError(where, f"{at}.kind", "the fallback must be the last step")
        if step.kind is StepKind.FALLBACK and index == 0:
            raise SettingError(where, f"{at}.kind", "a queue cannot start with its fallback")
        if step.kind is StepKind.FALLBACK:
            check_fallback(where, at, queue, step)
        if not 0 <= step.cap <= 10:
            raise SettingError(where, f"{at}.cap", "must be 0 (none) or a level 1-10")
        for skill, level in step.skills.items():
            if not 0 <= level <= 10:
                raise SettingError(where, f"{at}.skills.{skill}", "level must be 0 (drop) to 10")


def check_fallback(where: str, at: str, queue: str, step: Step) -> None:
    """Raise :class:`SettingError` unless a fallback step names a usable destination."""
    if step.to in (FallbackKind.QUEUE, FallbackKind.VOICEMAIL) and not step.target:
        raise SettingError(where, f"{at}.target", f"say which {step.to.value} to fall back to")
    if step.to is FallbackKind.QUEUE and step.target == queue:
        raise SettingError(where, f"{at}.target", "a queue cannot fall back to itself")


@dataclass(frozen=True, slots=True)
class Assignment:
    """A routing decision: offer ``call_id`` to ``agent_id``, at routing step ``step``."""

    call_id: str
    agent_id: str
    queue: str
    step: int = 0
