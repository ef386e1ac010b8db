"""Calls, agents and queues in the words of a contact centre: plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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


MIN_PRIORITY = 0
MAX_PRIORITY = 9


@dataclass(frozen=True, slots=True)
class Call:
    """One caller waiting for, talking to, or done with an agent.

    ``id`` is Asterisk's Uniqueid of the caller's channel; times are seconds since the epoch.
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


@dataclass(frozen=True, slots=True)
class Agent:
    """A person who takes calls, with skills, queue memberships and a live state."""

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
    calls_taken: int = 0
    talk_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Queue:
    """A line callers wait in, with the rules for serving them."""

    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    skills: dict[str, int] = field(default_factory=dict)
    priority: int = 0
    service_level_seconds: float = 20.0
    wrap_up_seconds: float = 0.0
    ring_timeout_seconds: int = 15
    max_wait_seconds: int = 600
    max_length: int = 0  # 0 = unlimited


@dataclass(frozen=True, slots=True)
class Assignment:
    """A routing decision: offer ``call_id`` to ``agent_id``."""

    call_id: str
    agent_id: str
    queue: str
