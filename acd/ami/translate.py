"""Asterisk events -> the contact centre's telephony events.

Only the events acd acts on are translated; the rest return None. An event acd needs that lacks
a header, or whose call id or agent id could not be one (``1.5:history`` would land on a Redis
key of another type), raises :class:`MalformedEvent`, which the caller counts and logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from acd.domain.events import (
    AgentAnswered,
    AgentMissed,
    AgentRinging,
    CallEntered,
    CallFellBack,
    CallHeld,
    CallTransferred,
    ChannelGone,
    ChannelShutDown,
    DeviceChanged,
    EscalationRequested,
    MissReason,
    PositionAsked,
    TelephonyEvent,
    TransferKind,
)
from acd.domain.model import MAX_PRIORITY, MIN_PRIORITY
from acd.domain.names import MAX_CALL_ID, check_channel, id_problem
from acd.domain.skills import parse_skills
from acd.errors import AcdError, InvalidInput

# SoftHangupRequest's Cause when Asterisk shuts down (include/asterisk/channel.h).
SOFTHANGUP_SHUTDOWN = "4"
# Dial results that are not a miss: the caller was connected, or left (their Hangup or the
# Redirect that moved them settles the offer).
_NOT_MISSES = frozenset({"ANSWER", "CANCEL", ""})
# Asterisk's placeholder for an absent caller id.
_UNKNOWN = "<unknown>"


class MalformedEvent(AcdError):
    """An event acd relies on is missing a header it must have, or has one no id can be;
    ``reason`` is the label it is counted under in ``acd_ami_bad_events_total``."""

    def __init__(self, message: str, reason: str = "missing_header") -> None:
        super().__init__(message)
        self.reason = reason


def _check_ids(name: str, call_id: str, agent: str = "") -> None:
    """Raise :class:`MalformedEvent` unless ``call_id`` (and ``agent``, if given) can be ids."""
    if id_problem(call_id, MAX_CALL_ID) is not None:
        raise MalformedEvent(f"{name}: Uniqueid {call_id[:40]!r} is not a call id", "bad_id")
    if agent and id_problem(agent) is not None:
        raise MalformedEvent(f"{name}: agent {agent[:40]!r} is not an agent id", "bad_id")


def _linked(event: Mapping[str, str], prefix: str = "") -> str:
    """The channel's Linkedid (the Uniqueid of the call's first channel), '' if absent or if
    it could not be a call id."""
    value = event.get(f"{prefix}Linkedid", "")
    if not isinstance(value, str) or id_problem(value, MAX_CALL_ID) is not None:
        return ""
    return value


def _header(event: Mapping[str, str], name: str) -> str:
    value = event.get(name)
    if value is None or isinstance(value, list):
        raise MalformedEvent(f"{event.get('Event', '?')}: missing or repeated header {name}")
    return str(value)


def _body(event: Mapping[str, str], name: str) -> str:
    """A UserEvent body header. Its channel snapshot comes first and has headers of its own
    (``Priority`` is the dialplan priority there): a repeated name means the body's, the last."""
    value: object = event.get(name, "")
    if isinstance(value, list):
        value = value[-1]
    return str(value).strip()


def _fence(text: str) -> int:
    """A fence as the dialplan wrote it; 0 (unknown) if it is not a number."""
    return int(text) if text.isdigit() and len(text) < 19 else 0


def caller_id(value: str | None) -> str:
    return "" if value in (None, _UNKNOWN) or isinstance(value, list) else str(value)


def parse_attrs(text: str) -> dict[str, str]:
    """``crm=42;vip=yes`` (';' or '&' between pairs) -> dict; bare text -> {"info": text}."""
    text = text.strip()
    if not text:
        return {}
    if "=" not in text:
        return {"info": text[:500]}
    attrs: dict[str, str] = {}
    for part in text.replace("&", ";").split(";"):
        key, _, value = part.partition("=")
        if key.strip():
            attrs[key.strip()[:64]] = value.strip()[:500]
    return attrs


# Device states in which an agent's phone cannot take a call from acd.
BUSY_DEVICE_STATES = frozenset({"INUSE", "BUSY", "RINGINUSE", "ONHOLD"})


def device_busy(state: str) -> bool:
    """True if a phone in device state ``state`` is busy."""
    return state in BUSY_DEVICE_STATES


def miss_reason(status: str) -> MissReason:
    """A DialStatus as a miss reason (one acd does not know is ``OTHER``)."""
    try:
        return MissReason(status)
    except ValueError:
        return MissReason.OTHER


def call_entered(
    uniqueid: str,
    channel: str,
    queue: str,
    priority: str,
    skills: str,
    attrs: str,
    caller_name: str | None,
    caller_number: str | None,
) -> CallEntered:
    """A caller's ACDEnqueue (or its channel's variables) in acd's words: priority and skills
    parsed; what cannot be parsed is named in ``problems`` and left to the queue's default."""
    _check_ids("ACDEnqueue", uniqueid)
    try:
        check_channel("Channel", channel)  # it reaches AMI headers again (Redirect, Getvar)
    except InvalidInput as exc:
        raise MalformedEvent(f"ACDEnqueue: {exc.reason}") from None
    problems: list[tuple[str, str]] = []
    queue = queue.strip()
    if id_problem(queue) is not None:
        # No queue can have that name: the unknown-queue path sends the caller to the
        # fallback, and no Redis key is made of it.
        problems.append(("bad_queue", f"ACD_QUEUE {queue[:40]!r} is not a queue name"))
        queue = ""
    level: int | None = None
    if priority.isdigit() and MIN_PRIORITY <= int(priority) <= MAX_PRIORITY:
        level = int(priority)
    elif priority:
        problems.append(("bad_priority", f"ACD_PRIORITY {priority[:20]!r}"))
    try:
        required = parse_skills("ACD_SKILLS", skills)
    except InvalidInput as exc:
        problems.append(("bad_skills", exc.reason))
        required = {}
    return CallEntered(
        call_id=uniqueid,
        channel=channel,
        queue=queue,
        priority=level,
        skills=required,
        attrs=parse_attrs(attrs),
        caller_name=caller_id(caller_name),
        caller_number=caller_id(caller_number),
        problems=tuple(problems),
    )


def translate(event: Mapping[str, str]) -> TelephonyEvent | None:
    """The telephony event an AMI event stands for, or None if acd does not act on it."""
    translated = _translated(event)
    call_id = getattr(translated, "call_id", None)
    if isinstance(call_id, str):
        _check_ids(str(event.get("Event")), call_id, getattr(translated, "agent", ""))
    return translated


def _translated(event: Mapping[str, str]) -> TelephonyEvent | None:
    name = event.get("Event")
    if name == "UserEvent":
        return _user_event(event)
    if name == "DialBegin":
        if "Uniqueid" not in event:  # a Dial from an Originate has no caller channel
            return None
        return AgentRinging(_header(event, "Uniqueid"), _header(event, "DestChannel"))
    if name == "DialEnd":
        # One leg's end. Only an answer counts here: a ring group's busy or unreachable leg is
        # not the agent missing the call (the others still ring); the Dial's own result, the
        # dialplan's ACDDialResult, says whether the whole offer was missed.
        if "Uniqueid" not in event or _header(event, "DialStatus") != "ANSWER":
            return None
        return AgentAnswered(_header(event, "Uniqueid"), _header(event, "DestChannel"))
    if name == "Hangup":
        return ChannelGone(
            _header(event, "Uniqueid"),
            _header(event, "Channel"),
            event.get("Cause", ""),
            _linked(event),
        )
    if name in ("BlindTransfer", "AttendedTransfer", "Hold", "Unhold"):
        return _transfer_or_hold(event, name)
    if name == "SoftHangupRequest":
        # Cause is the soft hangup's reason here, not a Q.850 cause: 4 (AST_SOFTHANGUP_SHUTDOWN)
        # is `core stop now` / `core restart now` hanging up every channel.
        if event.get("Cause") != SOFTHANGUP_SHUTDOWN:
            return None
        return ChannelShutDown(_header(event, "Uniqueid"), _header(event, "Channel"))
    if name == "DeviceStateChange":
        return DeviceChanged(_header(event, "Device"), device_busy(_header(event, "State")))
    return None


def _user_event(event: Mapping[str, str]) -> TelephonyEvent | None:
    kind = event.get("UserEvent")
    if kind == "ACDEnqueue":
        return call_entered(
            _header(event, "Uniqueid"),
            _header(event, "Channel"),
            _header(event, "Queue"),
            _body(event, "Priority"),
            _body(event, "Skills"),
            unquote(_body(event, "Attrs")),
            event.get("CallerIDName"),
            event.get("CallerIDNum"),
        )
    if kind == "ACDDialResult":
        # Emitted on the caller's channel once Dial returns: about the Dial that just ended,
        # whose offer ``Fence`` names (empty from a dialplan older than the fence).
        status = _body(event, "Status")
        if status in _NOT_MISSES:
            return None
        return AgentMissed(
            _header(event, "Uniqueid"),
            miss_reason(status),
            _body(event, "Agent"),
            _fence(_body(event, "Fence")),
        )
    if kind == "ACDAnswered":
        # Emitted on the agent's leg when it answers (Dial's U() subroutine); the leg inherits
        # the call, the agent and the fence of the offer from the caller's channel.
        call = _body(event, "Call")
        if not call:
            raise MalformedEvent("ACDAnswered: missing header Call")
        return AgentAnswered(
            call,
            _header(event, "Channel"),
            _body(event, "Agent"),
            _fence(_body(event, "Fence")),
        )
    if kind == "ACDFallback":
        return CallFellBack(_header(event, "Uniqueid"), _body(event, "Reason"))
    if kind == "ACDEscalate":
        return EscalationRequested(_header(event, "Uniqueid"))
    if kind == "ACDPosition":
        return PositionAsked(_header(event, "Uniqueid"))
    return None


def _transfer_or_hold(event: Mapping[str, str], name: str) -> TelephonyEvent | None:
    if name == "BlindTransfer":
        # main/stasis_bridges.c: Result, the Transferer and Transferee channel snapshots, the
        # bridge, IsExternal, Context, Extension. Only a done transfer moves anyone.
        if event.get("Result") != "Success" or "TransfereeUniqueid" not in event:
            return None
        return CallTransferred(
            _header(event, "TransfereeUniqueid"),
            _header(event, "TransfererChannel"),
            TransferKind.BLIND,
            _header(event, "Extension")[:80],
            _linked(event, "Transferee"),
            event.get("IsExternal") == "Yes",
        )
    if name == "AttendedTransfer":
        return _attended_transfer(event)
    # Hold / Unhold (main/stasis_channels.c): the channel's snapshot (and MusicClass on Hold);
    # chan_pjsip raises them on a re-INVITE with sendonly, then sendrecv.
    return CallHeld(
        _header(event, "Uniqueid"), _header(event, "Channel"), name == "Hold", _linked(event)
    )


def _attended_transfer(event: Mapping[str, str]) -> TelephonyEvent | None:
    """main/stasis_bridges.c: the agent's leg with the caller (OrigTransferer), its leg to the
    target (SecondTransferer), the caller (Transferee), the target (TransferTarget), DestType.
    A three-way join keeps the agent in the call: not a hand-over."""
    if event.get("Result") != "Success" or "TransfereeUniqueid" not in event:
        return None
    if event.get("DestType") == "Threeway":
        return None
    target = caller_id(event.get("TransferTargetCallerIDNum")) or caller_id(
        event.get("SecondTransfererExten")
    )
    return CallTransferred(
        _header(event, "TransfereeUniqueid"),
        _header(event, "OrigTransfererChannel"),
        TransferKind.ATTENDED,
        target[:80],
        _linked(event, "Transferee"),
        event.get("IsExternal") == "Yes",
    )
