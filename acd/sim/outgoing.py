"""Outgoing channels: requesting and calling them for Dial and Originate.

``Local/exten@context`` gives a pair of channels (``;1`` is dialled, ``;2`` runs the
dialplan); ``PJSIP/endpoint`` gives one channel to a simulated phone, or nothing when the
endpoint is unknown or unregistered (Dial then reports CHANUNAVAIL). The event sequences are
those of answered.ami and abandon.ami.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from acd.sim.channels import Channel, Kind, LocalPair, Party, State
from acd.sim.pbx import Pbx

ORIGINATE_ANSWERED = 4  # OriginateResponse Reason: AST_CONTROL_ANSWER
ORIGINATE_HUNGUP = 1  # AST_CONTROL_HANGUP
ORIGINATE_RING_TIMEOUT = 3  # AST_CONTROL_RINGING: rang, nobody answered


def request_channel(
    pbx: Pbx, tech: str, resource: str, requestor: Channel | None
) -> Channel | None:
    """ast_request: the outgoing channel (``;1`` for Local), or None if it cannot exist."""
    linkedid = requestor.linkedid if requestor is not None else None
    if tech.lower() == "local":
        spec = resource.split("/")[0]
        exten, _, context = spec.partition("@")
        context = context or "default"
        if not exten or pbx.dialplan.find_extension(context, exten) is None:
            return None
        base = pbx.local_name(exten, context)
        one = Channel(
            pbx,
            f"{base};1",
            "Local",
            state=State.DOWN,
            context=context,
            exten=exten,
            linkedid=linkedid,
        )
        two = Channel(
            pbx,
            f"{base};2",
            "Local",
            state=State.RING,
            context=context,
            exten=exten,
            linkedid=one.linkedid,
        )
        LocalPair(one, two, context, exten)
        pbx.add_channel(one)
        pbx.add_channel(two)
        return one
    if tech.lower() == "pjsip":
        endpoint = resource.split("/")[0]
        phone = pbx.endpoints.get(endpoint)
        if phone is None or not phone.registered:
            return None
        chan = Channel(
            pbx,
            pbx.pjsip_name(endpoint),
            "PJSIP",
            state=State.DOWN,
            context=phone.context,
            exten="s",
            linkedid=linkedid,
            endpoint=endpoint,
            caller=phone.callerid,
        )
        return pbx.add_channel(chan)
    return None


def prepare_callee(out: Channel, caller: Channel, number: str) -> bool:
    """What app_dial does to a called channel before calling it; True if the channel had a
    caller id of its own (DIAL_CALLERID_ABSENT not set)."""
    out.setvar("DIALEDPEERNUMBER", number)
    for name, value in caller.variables():
        if name.startswith("__"):
            out.setvar(name, value, event=False)
        elif name.startswith("_"):
            out.setvar(name[1:], value, event=False)
    out.appl, out.data = "AppDial", "(Outgoing Line)"
    out.exten = caller.exten
    # Without a caller id from the channel driver (a PJSIP endpoint's callerid), app_dial
    # presents the caller's extension as the number, with the caller's name.
    preset = bool(out.caller.number)
    if not preset:
        out.caller = Party(caller.exten, caller.caller.name)
    out.connected = caller.caller
    out.publish()
    return preset


def call(out: Channel) -> None:
    """ast_call: a Local pair hands variables and caller id to ``;2`` and starts its PBX."""
    pbx = out.pbx
    if out.local is not None:
        one, two = out.local.one, out.local.two
        for name, value in one.variables():
            two.setvar(name, value)
        two.caller, two.connected = one.connected, one.caller
        two.publish()
        pbx.publish(
            "LocalBridge",
            "call",
            [
                *one.snapshot("LocalOne"),
                *two.snapshot("LocalTwo"),
                ("Context", out.local.context),
                ("Exten", out.local.exten),
                ("LocalOptimization", "Yes"),
            ],
        )
        pbx.start_dialplan(two)
    elif out.endpoint is not None:
        pbx.endpoints[out.endpoint].invite(out)


def publish_dial(event: str, caller: Channel | None, out: Channel, last: tuple[str, str]) -> None:
    """DialBegin / DialState / DialEnd (an Originate's have no calling channel)."""
    headers = caller.snapshot() if caller is not None else []
    out.pbx.publish(event, "call", [*headers, *out.snapshot("Dest"), last])


@dataclass
class OriginateRequest:
    """The parts of an Originate action the simulator uses."""

    channel: str
    app: str
    data: str
    context: str
    exten: str
    priority: int
    caller: Party | None
    variables: list[tuple[str, str]]
    timeout: float  # simulated seconds
    action_id: str
    is_async: bool


def originate(pbx: Pbx, request: OriginateRequest) -> asyncio.Future[bool] | None:
    """Start an Originate; the future tells whether it was answered. None: no such channel."""
    tech, _, resource = request.channel.partition("/")
    out = request_channel(pbx, tech, resource, None)
    if out is None:
        return None
    result: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    task = pbx.spawn(_run_originate(pbx, out, resource, request, result), f"originate {out.name}")
    task.add_done_callback(lambda _: _settle(result))
    return result


def _settle(result: asyncio.Future[bool]) -> None:
    """A synchronous Originate must not wait forever on a simulator that is stopping."""
    if not result.done():
        result.set_result(False)


def originate_response(
    pbx: Pbx, request: OriginateRequest, out: Channel | None, reason: int
) -> None:
    """The OriginateResponse event an asynchronous Originate ends with."""
    headers = [("ActionID", request.action_id)] if request.action_id else []
    headers += [
        ("Response", "Success" if reason == ORIGINATE_ANSWERED else "Failure"),
        ("Channel", out.name if out is not None else request.channel),
    ]
    if request.app:
        headers += [("Application", request.app), ("Data", request.data)]
    else:
        headers += [("Context", request.context), ("Exten", request.exten)]
    caller = request.caller or Party()
    headers += [
        ("Reason", str(reason)),
        ("Uniqueid", out.uniqueid if out is not None else "<null>"),
        ("CallerIDNum", caller.number or "<unknown>"),
        ("CallerIDName", caller.name or "<unknown>"),
    ]
    pbx.publish("OriginateResponse", "call", headers)


async def _run_originate(
    pbx: Pbx, out: Channel, resource: str, request: OriginateRequest, result: asyncio.Future[bool]
) -> None:
    out.appl, out.data = "AppDial2", "(Outgoing Line)"
    out.publish()
    for name, value in reversed(request.variables):
        out.setvar(name, value)
    if request.caller is not None:
        out.caller = request.caller
        out.publish()
        out.connected = request.caller
        out.publish()
    call(out)
    publish_dial("DialBegin", None, out, ("DialString", resource))
    reason, status = await _await_answer(out, request.timeout)
    publish_dial("DialEnd", None, out, ("DialStatus", status))
    if reason != ORIGINATE_ANSWERED:
        out.destroy()
    if request.is_async:
        originate_response(pbx, request, out, reason)
    if not result.done():
        result.set_result(reason == ORIGINATE_ANSWERED)
    if reason != ORIGINATE_ANSWERED:
        return
    assert pbx.executor is not None
    if request.app:
        await pbx.executor.run_app(out, request.app, request.data)
    else:
        out.context, out.exten, out.priority = request.context, request.exten, request.priority
        pbx.processed_calls += 1
        await pbx.executor.run_dialplan(out)


async def _await_answer(out: Channel, timeout: float) -> tuple[int, str]:
    """Wait for the called channel to answer: (OriginateResponse reason, DialStatus)."""
    deadline = out.pbx.clock.now() + timeout
    rang = False
    while True:
        remaining = deadline - out.pbx.clock.now()
        if remaining <= 0:
            return (ORIGINATE_RING_TIMEOUT if rang else 0), "NOANSWER"
        frame = await out.read(remaining)
        if out.dead:
            return ORIGINATE_HUNGUP, "CANCEL"
        if frame is None:
            continue
        if frame.kind is Kind.ANSWER:
            return ORIGINATE_ANSWERED, "ANSWER"
        if frame.kind is Kind.RINGING:
            rang = True
        elif frame.kind is Kind.HANGUP:
            return ORIGINATE_HUNGUP, dial_status_for(out.hangupcause)


def dial_status_for(cause: int) -> str:
    """ast_hangup_cause_to_dial_status."""
    return {
        17: "BUSY",
        34: "CONGESTION",
        42: "CONGESTION",
        3: "CHANUNAVAIL",
        20: "CHANUNAVAIL",
    }.get(cause, "NOANSWER")
