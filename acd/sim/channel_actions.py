"""AMI actions on channels: Originate, Redirect, Setvar, Getvar, Hangup and the lists.

Messages and checks follow main/manager.c (action_originate, action_redirect, action_setvar,
action_getvar, action_hangup, action_status, action_coreshowchannels); list layouts follow
lists.ami, recorded from Asterisk 22.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from acd.sim.apps import ChannelScope, assign
from acd.sim.channels import Channel, Party
from acd.sim.dialplan_list import show_dialplan
from acd.sim.outgoing import OriginateRequest, originate, originate_response
from acd.sim.protocol import ActionMessage, Header, with_action_id
from acd.sim.variables import call_function

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx
    from acd.sim.session import AmiSession

Handler = Callable[["AmiSession", ActionMessage], Awaitable[bool]]
_TRUE = ("yes", "true", "y", "t", "1", "on")


class GlobalScope:
    """Lookups without a channel: global variables and EPOCH."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx

    def variable(self, name: str) -> str | None:
        if name == "EPOCH":
            return str(int(self.pbx.clock.now()))
        return self.pbx.globals.get(name)

    def function(self, name: str, argument: str) -> str | None:
        return None


def parse_caller_id(text: str) -> Party | None:
    """ast_callerid_parse: ``"Ivan" <79991234567>``, ``<7999...>``, a number or a name."""
    text = _strip_quotes(text.strip())
    if not text:
        return None
    if "<" in text:
        at = text.rindex("<")
        number = text[at + 1 :].split(">")[0]
        name = _strip_quotes(text[:at].strip())
    elif all(char in "0123456789*#+" for char in text):
        name, number = "", text
    else:
        name, number = text, ""
    number = "".join(char for char in number if char not in "()-. ")
    return Party(number or None, name or None)


def _strip_quotes(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


async def originate_action(session: AmiSession, message: ActionMessage) -> bool:
    pbx = session.host.pbx
    name = message.get("Channel")
    context, exten = message.get("Context"), message.get("Exten")
    priority_text, timeout_text = message.get("Priority"), message.get("Timeout")
    app = message.get("Application")
    if not name:
        session.error(message, "Channel not specified")
        return True
    priority = 0
    if priority_text:
        found = pbx.dialplan.priority_of(context, exten, priority_text)
        if found is None or found < 1:
            session.error(message, "Invalid priority")
            return True
        priority = found
    timeout_ms = 30000
    if timeout_text:
        try:
            timeout_ms = int(timeout_text)
        except ValueError:
            session.error(message, "Invalid timeout")
            return True
    if "/" not in name:
        session.error(message, "Invalid channel")
        return True
    if exten and context and priority and not pbx.dialplan.exists(context, exten, priority):
        session.error(message, "Extension does not exist.")
        return True
    if not app and not (exten and context and priority):
        session.error(message, "Originate with 'Exten' requires 'Context' and 'Priority'")
        return True
    is_async = message.get("Async").lower() in _TRUE
    request = OriginateRequest(
        channel=name,
        app=app,
        data=message.get("Data"),
        context=context,
        exten=exten,
        priority=priority,
        caller=parse_caller_id(message.get("CallerID")),
        variables=message.variables(),
        timeout=timeout_ms / 1000.0,
        action_id=message.action_id,
        is_async=is_async,
    )
    result = originate(pbx, request)
    if is_async:
        session.ack(message, "Originate successfully queued")
        if result is None:
            originate_response(pbx, request, None, 0)
    elif result is not None and await result:
        session.ack(message, "Originate successfully queued")
    else:
        session.error(message, "Originate failed")
    return True


async def redirect(session: AmiSession, message: ActionMessage) -> bool:
    pbx = session.host.pbx
    name, context = message.get("Channel"), message.get("Context")
    exten, priority_text = message.get("Exten"), message.get("Priority")
    for value, missing in (
        (name, "Channel"),
        (context, "Context"),
        (exten, "Exten"),
        (priority_text, "Priority"),
    ):
        if not value:
            session.error(message, f"{missing} not specified")
            return True
    priority = pbx.dialplan.priority_of(context, exten, priority_text)
    if priority is None or priority < 1:
        session.error(message, "Priority is invalid")
        return True
    chan = pbx.find_channel(name)
    if chan is None:
        session.error(message, f"Channel does not exist: {name}")
        return True
    if chan.hangup_requested:
        session.error(message, "Redirect failed, channel not up.")
        return True
    extra_name = message.get("ExtraChannel")
    extra = pbx.find_channel(extra_name) if extra_name else None
    if extra_name and extra is None:
        session.error(message, f"ExtraChannel does not exist: {extra_name}")
        return True
    chan.async_goto(context, exten, priority)
    if extra is not None:
        extra_context = message.get("ExtraContext") or context
        extra_exten = message.get("ExtraExten") or exten
        extra_priority = pbx.dialplan.priority_of(
            extra_context, extra_exten, message.get("ExtraPriority") or priority_text
        )
        extra.async_goto(extra_context, extra_exten, extra_priority or priority)
    session.ack(message, "Redirect successful")
    return True


def _variable_target(
    session: AmiSession, message: ActionMessage
) -> tuple[str, Channel | None] | None:
    """The Variable header and the channel it is on (None: a global), as Setvar and Getvar
    check them in manager.c; None after answering the error."""
    name, variable = message.get("Channel"), message.get("Variable")
    if not variable:
        session.error(message, "No variable specified")
        return None
    chan = session.host.pbx.find_channel(name) if name else None
    if name and chan is None:
        session.error(message, "No such channel")
        return None
    return variable, chan


async def setvar(session: AmiSession, message: ActionMessage) -> bool:
    pbx = session.host.pbx
    target = _variable_target(session, message)
    if target is None:
        return True
    variable, chan = target
    if chan is None:
        pbx.globals[variable] = message.get("Value")
    else:
        assign(chan, variable, message.get("Value"))
    session.ack(message, "Variable Set")
    return True


async def getvar(session: AmiSession, message: ActionMessage) -> bool:
    pbx = session.host.pbx
    target = _variable_target(session, message)
    if target is None:
        return True
    variable, chan = target
    scope: ChannelScope | GlobalScope = ChannelScope(chan) if chan else GlobalScope(pbx)
    if variable.endswith(")") and "(" in variable:
        at = variable.index("(")
        value = call_function(variable[:at], variable[at + 1 : -1], scope)
    else:
        value = scope.variable(variable) or ""
    session.respond(message, "Success", None, [("Variable", variable), ("Value", value)])
    return True


async def hangup(session: AmiSession, message: ActionMessage) -> bool:
    pbx = session.host.pbx
    target, cause_text = message.get("Channel"), message.get("Cause")
    if not target:
        session.error(message, "No channel specified")
        return True
    cause = int(cause_text) if cause_text.isdigit() and int(cause_text) <= 127 else 0
    if not target.startswith("/"):
        chan = pbx.find_channel(target)
        if chan is None:
            session.error(message, "No such channel")
            return True
        chan.soft_hangup(cause)
        session.ack(message, "Channel Hungup")
        return True
    if len(target) < 2 or not target.endswith("/"):
        session.error(message, "Regex format invalid, Channel param should be /regex/")
        return True
    try:
        pattern = re.compile(target[1:-1])
    except re.error:
        session.error(message, f"Regex compile failed on: {target}")
        return True
    session.list_ack(message, "Channels hung up will follow")
    matched = [chan for chan in list(pbx.channels.values()) if pattern.search(chan.name)]
    for chan in matched:
        chan.soft_hangup(cause)
        session.send(
            with_action_id([("Event", "ChannelHungup"), ("Channel", chan.name)], message.action_id)
        )
    _complete(session, message, "ChannelsHungupListComplete", len(matched))
    return True


def _complete(
    session: AmiSession,
    message: ActionMessage,
    event: str,
    items: int,
    extra: list[Header] | None = None,
) -> None:
    headers: list[Header] = [("Event", event)]
    if message.action_id:
        headers.append(("ActionID", message.action_id))
    session.send([*headers, ("EventList", "Complete"), ("ListItems", str(items)), *(extra or [])])


def _duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


async def core_show_channels(session: AmiSession, message: ActionMessage) -> bool:
    pbx = session.host.pbx
    session.list_ack(message, "Channels will follow")
    channels = list(pbx.channels.values())
    for chan in channels:
        headers: list[Header] = [("Event", "CoreShowChannel")]
        if message.action_id:
            headers.append(("ActionID", message.action_id))
        session.send(
            [
                *headers,
                *chan.snapshot(),
                ("Application", chan.appl),
                ("ApplicationData", chan.data),
                ("Duration", _duration(pbx.clock.now() - chan.created)),
                ("BridgeId", chan.bridge.uniqueid if chan.bridge else ""),
            ]
        )
    _complete(session, message, "CoreShowChannelsComplete", len(channels))
    return True


def _status_item(chan: Channel, variables: list[str]) -> list[Header]:
    audio = "slin" if chan.tech == "Local" else "ulaw"
    scope = ChannelScope(chan)
    return [
        ("Event", "Status"),
        ("Privilege", "Call"),
        *chan.snapshot(),
        ("Type", chan.tech),
        ("DNID", ""),
        ("EffectiveConnectedLineNum", chan.connected.number or "<unknown>"),
        ("EffectiveConnectedLineName", chan.connected.name or "<unknown>"),
        ("TimeToHangup", "0"),
        ("BridgeID", chan.bridge.uniqueid if chan.bridge else ""),
        ("Application", chan.appl),
        ("Data", chan.data),
        ("Nativeformats", f"({audio})"),
        ("Readformat", audio),
        ("Readtrans", ""),
        ("Writeformat", audio),
        ("Writetrans", ""),
        ("Callgroup", "0"),
        ("Pickupgroup", "0"),
        ("Seconds", str(int(chan.pbx.clock.now() - chan.created))),
        *(("Variable", f"{name}={scope.variable(name) or ''}") for name in variables),
    ]


async def status(session: AmiSession, message: ActionMessage) -> bool:
    pbx = session.host.pbx
    name = message.get("Channel")
    variables = [v.strip() for v in message.get("Variables").split(",") if v.strip()]
    if name:
        chan = pbx.find_channel(name)
        if chan is None:
            session.error(message, "No such channel")
            return True
        channels = [chan]
    else:
        channels = list(pbx.channels.values())
    session.list_ack(message, "Channel status will follow")
    for chan in channels:
        session.send(with_action_id(_status_item(chan, variables), message.action_id))
    _complete(session, message, "StatusComplete", len(channels), [("Items", str(len(channels)))])
    return True


async def queue_status(session: AmiSession, message: ActionMessage) -> bool:
    """No app_queue in the simulator: an empty list, the way a PBX without queues answers."""
    session.list_ack(message, "Queue status will follow")
    _complete(session, message, "QueueStatusComplete", 0)
    return True


CHANNEL_ACTIONS: dict[str, Handler] = {
    "originate": originate_action,
    "redirect": redirect,
    "setvar": setvar,
    "getvar": getvar,
    "hangup": hangup,
    "status": status,
    "coreshowchannels": core_show_channels,
    "queuestatus": queue_status,
    "showdialplan": show_dialplan,  # a list too, of the dialplan rather than of channels
}
