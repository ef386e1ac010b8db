"""Asterisk events -> the contact centre's telephony events.

Only the events acd acts on are translated; the rest return None. An event acd needs that lacks
a header raises :class:`MalformedEvent`, which the caller counts and logs.
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
    ChannelGone,
    ChannelShutDown,
    DeviceChanged,
    EscalationRequested,
    TelephonyEvent,
)
from acd.errors import AcdError

# SoftHangupRequest's Cause when Asterisk shuts down (include/asterisk/channel.h).
SOFTHANGUP_SHUTDOWN = "4"
# Dial results for which Asterisk creates no agent channel, so no DialBegin/DialEnd comes
# (an unregistered PJSIP endpoint: CHANUNAVAIL at once): only the dialplan's ACDDialResult says.
_NO_CHANNEL_STATUSES = frozenset({"CHANUNAVAIL", "CONGESTION", "INVALIDARGS"})
# Asterisk's placeholder for an absent caller id.
_UNKNOWN = "<unknown>"


class MalformedEvent(AcdError):
    """An event acd relies on is missing a header it must have."""


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


def translate(event: Mapping[str, str]) -> TelephonyEvent | None:
    """The telephony event an AMI event stands for, or None if acd does not act on it."""
    name = event.get("Event")
    if name == "UserEvent":
        return _user_event(event)
    if name == "DialBegin":
        if "Uniqueid" not in event:  # a Dial from an Originate has no caller channel
            return None
        return AgentRinging(_header(event, "Uniqueid"), _header(event, "DestChannel"))
    if name == "DialEnd":
        if "Uniqueid" not in event:
            return None
        status = _header(event, "DialStatus")
        if status == "ANSWER":
            return AgentAnswered(_header(event, "Uniqueid"), _header(event, "DestChannel"))
        return AgentMissed(_header(event, "Uniqueid"), status)
    if name == "Hangup":
        return ChannelGone(
            _header(event, "Uniqueid"), _header(event, "Channel"), event.get("Cause", "")
        )
    if name == "SoftHangupRequest":
        # Cause is the soft hangup's reason here, not a Q.850 cause: 4 (AST_SOFTHANGUP_SHUTDOWN)
        # is `core stop now` / `core restart now` hanging up every channel.
        if event.get("Cause") != SOFTHANGUP_SHUTDOWN:
            return None
        return ChannelShutDown(_header(event, "Uniqueid"), _header(event, "Channel"))
    if name == "DeviceStateChange":
        return DeviceChanged(_header(event, "Device"), _header(event, "State"))
    return None


def _user_event(event: Mapping[str, str]) -> TelephonyEvent | None:
    kind = event.get("UserEvent")
    if kind == "ACDEnqueue":
        return CallEntered(
            call_id=_header(event, "Uniqueid"),
            channel=_header(event, "Channel"),
            queue=_header(event, "Queue").strip(),
            priority=_body(event, "Priority"),
            skills=_body(event, "Skills"),
            attrs=parse_attrs(unquote(_body(event, "Attrs"))),
            caller_name=caller_id(event.get("CallerIDName")),
            caller_number=caller_id(event.get("CallerIDNum")),
        )
    if kind == "ACDDialResult":
        status = _body(event, "Status")
        if status not in _NO_CHANNEL_STATUSES:
            return None  # DialEnd already said it, for that very agent channel
        return AgentMissed(_header(event, "Uniqueid"), status, _body(event, "Agent"))
    if kind == "ACDFallback":
        return CallFellBack(_header(event, "Uniqueid"), _body(event, "Reason"))
    if kind == "ACDEscalate":
        return EscalationRequested(_header(event, "Uniqueid"))
    return None
