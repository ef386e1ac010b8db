"""What happened on the telephony side, in the contact centre's words.

The AMI adapter turns Asterisk events into these; the service reacts to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class CallEntered:
    """A caller reached the queueing dialplan and asked to be queued."""

    call_id: str
    channel: str
    queue: str
    priority: int | None = None  # None: the queue's default
    skills: dict[str, int] = field(default_factory=dict)  # on top of the queue's
    attrs: dict[str, str] = field(default_factory=dict)
    caller_name: str = ""
    caller_number: str = ""
    # What the adapter could not read (metric labels, e.g. "bad_priority"), and how it read
    # it: the service counts and logs them; the call is queued with the queue's defaults.
    problems: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AgentRinging:
    """The agent's phone started ringing for the call."""

    call_id: str
    agent_channel: str


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    """The agent picked up: caller and agent are connected. ``agent`` and ``fence`` name the
    offer answered, when the event says (the dialplan's ACDAnswered); else the agent is the
    one whose device ``agent_channel`` is."""

    call_id: str
    agent_channel: str
    agent: str = ""
    fence: int = 0


class MissReason(StrEnum):
    """Why an offer did not connect: Asterisk's DialStatus, or acd's own ``LOST`` (nothing
    came back in time)."""

    NOANSWER = "NOANSWER"
    BUSY = "BUSY"
    CHANUNAVAIL = "CHANUNAVAIL"
    CONGESTION = "CONGESTION"
    INVALIDARGS = "INVALIDARGS"
    CANCEL = "CANCEL"  # the caller hung up while the agent's phone rang
    LOST = "LOST"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class AgentMissed:
    """The agent's phone did not connect (no answer, busy, unavailable): the result of the
    whole Dial, every device of a ring group. ``agent`` and ``fence`` name the offer it is
    about (then it settles that offer only, never a later one)."""

    call_id: str
    status: MissReason
    agent: str = ""
    fence: int = 0


@dataclass(frozen=True, slots=True)
class ChannelGone:
    """A channel hung up; if it is a caller's, the call ends."""

    call_id: str
    channel: str
    cause: str
    # The call the channel belongs to (Asterisk's Linkedid: an agent's leg carries the
    # caller's Uniqueid): an agent's leg that hangs up frees the agent of that call.
    linked_id: str = ""


class TransferKind(StrEnum):
    """How an agent handed the caller on."""

    BLIND = "blind"  # sent to a number without talking to it first (BlindTransfer)
    ATTENDED = "attended"  # handed over after the agent talked to the target (AttendedTransfer)


@dataclass(frozen=True, slots=True)
class CallTransferred:
    """A channel of a conversation transferred the other party: the agent's leg leaves, the
    caller goes on to ``target`` (an extension, another phone, an outside number).
    ``call_id`` is the transferee's Uniqueid, ``linked_id`` its Linkedid (the call, when the
    caller came in through another channel), ``by_channel`` the transferer's channel."""

    call_id: str
    by_channel: str
    kind: TransferKind
    target: str
    linked_id: str = ""
    external: bool = False  # the phone did it (SIP REFER), not Asterisk's features


@dataclass(frozen=True, slots=True)
class CallHeld:
    """A channel of a conversation went on hold (``held``) or came back from it."""

    call_id: str  # the channel's Uniqueid
    channel: str
    held: bool
    linked_id: str = ""


@dataclass(frozen=True, slots=True)
class CallFellBack:
    """The dialplan sent the caller to the fallback (its own timeout, or acd's overflow)."""

    call_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class EscalationRequested:
    """The agent keyed the escalation feature code; ``call_id`` is the channel it ran on (the
    caller's, when the agent pressed it)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class PositionAsked:
    """The dialplan asks for a waiting caller's position and estimated wait, to announce."""

    call_id: str


@dataclass(frozen=True, slots=True)
class DeviceChanged:
    """An agent phone became busy (in use, ringing while in use, on hold) or free."""

    device: str
    busy: bool


@dataclass(frozen=True, slots=True)
class ChannelShutDown:
    """Asterisk is shutting down and hangs up this channel: not the caller's doing."""

    call_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class TelephonyConnected:
    """acd (re)connected to Asterisk: time to reconcile what happened meanwhile."""

    reconnect: bool
    at: float = 0.0  # when the connection was made (acd's clock; 0: unknown)


TelephonyEvent = (
    CallEntered
    | AgentRinging
    | AgentAnswered
    | AgentMissed
    | ChannelGone
    | CallTransferred
    | CallHeld
    | CallFellBack
    | EscalationRequested
    | PositionAsked
    | DeviceChanged
    | ChannelShutDown
    | TelephonyConnected
)


@dataclass(frozen=True, slots=True)
class LiveChannel:
    """A channel the telephony side reports as up, as far as routing cares."""

    uniqueid: str
    channel: str
    seconds: float = 0.0
    bridge: str = ""  # the bridge it is in ('' if none): a caller's and an agent's share one
    waiting: bool = False  # a caller on hold in acd's queueing dialplan
    with_agent: bool = False  # a caller acd's dialplan is dialling an agent for (or talking)
    context: str = ""  # the dialplan context it is in


@dataclass(frozen=True, slots=True)
class AgentLegRecord:
    """What Asterisk kept of an agent's last call leg: the call (the caller's Uniqueid), when
    the agent answered (0 if never) and when the leg ended, on Asterisk's clock."""

    call_id: str
    answered_at: float
    ended_at: float
