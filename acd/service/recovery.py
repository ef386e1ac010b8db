"""Reconciling acd's view with Asterisk's after a (re)connection.

While acd was away, callers may have hung up (their calls must still end, and be counted, with
the talk time Asterisk recorded), new callers may have entered (their ACDEnqueue was missed:
adopt them from the channel list), agents may have answered (the caller's channel is in a
bridge with the agent's: the call is connected since the answer) and phones may have become
free or busy (every agent's device is set from Asterisk's device state list).
"""

from __future__ import annotations

import logging
import time

from acd import contexts
from acd.domain.events import AgentAnswered, DeviceChanged, LiveChannel
from acd.domain.model import Call, CallStatus, Outcome
from acd.errors import AmiError, InvalidInput
from acd.service.arrivals import call_entered
from acd.service.context import Services
from acd.service.endings import FALLBACK_REASONS, end_call
from acd.service.offers import agent_answered
from acd.service.phones import device_changed

log = logging.getLogger("acd.router")

VANISHED = "vanished"  # the detail of a call whose caller went while acd was away
# Where a caller acd still handles can be: on hold, ringing an agent, back from an agent.
_ACD_CONTEXTS = frozenset({contexts.INBOUND, contexts.CONNECT, contexts.ESCALATE})


async def reconcile(ctx: Services, reconnect: bool, connected_at: float = 0.0) -> None:
    """After (re)connecting (at ``connected_at``): end calls whose channel vanished, settle
    offers and fallbacks whose outcome acd missed, adopt calls we missed."""
    try:
        live = await ctx.telephony.live_channels()
    except AmiError as exc:
        log.warning("could not list channels", extra={"error": str(exc)})
        return
    received = time.perf_counter()
    bridges: dict[str, list[LiveChannel]] = {}
    for channel in live.values():
        if channel.bridge:
            bridges.setdefault(channel.bridge, []).append(channel)
    for call_id in await ctx.store.active_call_ids():
        call = await ctx.store.get_call(call_id)
        if call is None:
            continue
        if call_id not in live:
            await _end_vanished(ctx, call, received)
        elif call.status is CallStatus.OFFERED:
            if not await _connect_if_bridged(ctx, call, live[call_id], bridges):
                await _undo_offer_if_on_hold(ctx, call, live[call_id], connected_at)
        elif call.status is CallStatus.WAITING:
            await _end_if_sent_out(ctx, call, live[call_id], received)
    for channel in live.values():
        if channel.waiting:
            await _adopt(ctx, channel.uniqueid, channel.channel, channel.seconds)
    await _read_devices(ctx, live, received)
    ctx.recorder.reconciled(reconnect, len(live))
    # Overflows that could not be carried out while Asterisk was away are tried again at the
    # next tick (every waiting call's step is looked at once).
    ctx.mirror.dirty_queues.update(ctx.mirror.queues)
    ctx.routing.refused.clear()  # calls Asterisk refused to ring are tried again
    await ctx.routing.route_waiting(received)


async def _undo_offer_if_on_hold(
    ctx: Services, call: Call, caller: LiveChannel, connected_at: float
) -> None:
    """An offered call, made before this connection, whose caller is on hold: its ring
    never happened (the connection went as it was sent) or its no-answer was missed. Back
    in line, its agent ready (not paused: nothing says the phone rang).

    An offer made on this connection (by an event handled before this reconciliation) is
    left alone: its Redirect was answered, and Asterisk moves the caller a moment after
    answering, so the channel list may still show the caller on hold."""
    if not caller.waiting:
        return  # ringing, or on its way: its own events settle it
    fields = await ctx.store.get_call_fields(call.id)
    if connected_at and float(fields.get("offered_at") or 0) >= connected_at:
        return
    fence = int(fields.get("fence") or 0)
    agent = ctx.mirror.agent(call.agent)
    log.info("offer settled: the caller is on hold", extra={"call": call.id, "agent": call.agent})
    if agent is None:
        await ctx.store.release(call, fence)
    else:
        await ctx.routing.undo_offer(call, agent, fence)


async def _end_if_sent_out(ctx: Services, call: Call, caller: LiveChannel, received: float) -> None:
    """A waiting call whose caller left acd's dialplan (sent to the fallback, by acd as the
    connection went or by the dialplan's own timer, and the ACDFallback event was missed):
    overflowed, with the reason the dialplan kept."""
    if not caller.context or caller.context in _ACD_CONTEXTS or caller.bridge:
        return
    try:
        reason = await ctx.telephony.get_variable(caller.channel, "ACD_FALLBACK_REASON")
    except AmiError:
        reason = ""
    detail = reason if reason in FALLBACK_REASONS else "other"
    await end_call(ctx, call, Outcome.OVERFLOWED, detail, received)


async def _adopt(ctx: Services, uniqueid: str, channel: str, seconds: float) -> None:
    """A caller on hold that acd does not know (its ACDEnqueue came while acd was away)."""
    if await ctx.store.get_call(uniqueid) is not None:
        return
    try:
        event = await ctx.telephony.entered_call(uniqueid, channel)
    except AmiError:
        return
    log.info("adopting a caller acd had not seen", extra={"call": uniqueid})
    await call_entered(ctx, event, time.perf_counter(), waited=seconds)


async def _end_vanished(ctx: Services, call: Call, received: float) -> None:
    """The caller's channel is gone. If the agent's leg recorded this call as answered, it was
    a conversation: answered (if acd never saw the answer) and charged the talk Asterisk
    recorded. A caller never bridged (waiting, or rung and not answered) hung up: abandoned.
    Failed only when nothing is known (an offer with no record of its agent's leg)."""
    record = None
    if call.agent and call.status in (CallStatus.OFFERED, CallStatus.CONNECTED):
        record = await ctx.telephony.last_agent_leg(call.agent)
    if record is not None and record.call_id == call.id and record.answered_at:
        if call.status is CallStatus.OFFERED:
            await agent_answered(ctx, AgentAnswered(call.id, "", call.agent), record.answered_at)
        talk = max(0.0, record.ended_at - record.answered_at)
        await end_call(ctx, call, Outcome.ANSWERED, VANISHED, received, talk=talk)
    elif call.status is CallStatus.WAITING or (record is not None and record.call_id == call.id):
        await end_call(ctx, call, Outcome.ABANDONED, VANISHED, received)
    else:  # connected ones end as answered all the same (the script sees the answer)
        await end_call(ctx, call, Outcome.FAILED, VANISHED, received)


async def _connect_if_bridged(
    ctx: Services, call: Call, caller: LiveChannel, bridges: dict[str, list[LiveChannel]]
) -> bool:
    """An offered call whose caller is in a bridge: the agent answered while acd was away.
    It is that agent's answered call from the moment of the answer. False if not bridged."""
    agents = [c for c in bridges.get(caller.bridge, []) if c.uniqueid != caller.uniqueid]
    if not caller.bridge or not agents:
        return False
    agent_channel = agents[0].channel
    try:
        answered_at = await ctx.telephony.answered_at(agent_channel)
    except (AmiError, InvalidInput):
        answered_at = 0.0
    log.info(
        "agent answered while acd was away",
        extra={"call": call.id, "agent": call.agent, "channel": agent_channel},
    )
    await agent_answered(ctx, AgentAnswered(call.id, agent_channel), answered_at)
    return True


async def _read_devices(ctx: Services, live: dict[str, LiveChannel], received: float) -> None:
    """Set every agent's phone busy or free as Asterisk has it now, routing freed agents.

    A device missing from Asterisk's list is not in use. Local channels' devices are never
    listed (Asterisk does not cache them): one is in use while one of its channels exists."""
    try:
        busy_devices = await ctx.telephony.busy_devices()
    except AmiError as exc:
        log.warning("could not list device states", extra={"error": str(exc)})
        return
    for agent in list(ctx.mirror.all_agents()):
        busy = agent.dial in busy_devices or (
            agent.dial.startswith("Local/")
            and any(c.channel.startswith(agent.dial + "-") for c in live.values())
        )
        await device_changed(
            ctx, DeviceChanged(agent.dial, busy), received, known=agent.device_busy
        )


# --- after Redis lost its data ------------------------------------------------------------------


async def recover_lost_calls(ctx: Services) -> None:
    """Redis came back without the site's data and the configuration was seeded again: every
    caller Asterisk has with an agent (being rung for, or talking) is adopted as offered to,
    or connected with, that agent; then the reconciliation of a reconnection adopts the
    callers on hold as waiting and reads the phones."""
    try:
        live = await ctx.telephony.live_channels()
    except AmiError as exc:
        log.warning("could not list channels", extra={"error": str(exc)})
        return
    bridges: dict[str, list[LiveChannel]] = {}
    for channel in live.values():
        if channel.bridge:
            bridges.setdefault(channel.bridge, []).append(channel)
    for channel in live.values():
        if channel.with_agent:
            await _adopt_with_agent(ctx, channel, bridges)
    await reconcile(ctx, reconnect=True)


async def _adopt_with_agent(
    ctx: Services, caller: LiveChannel, bridges: dict[str, list[LiveChannel]]
) -> None:
    if await ctx.store.get_call(caller.uniqueid) is not None:
        return
    try:
        event = await ctx.telephony.entered_call(caller.uniqueid, caller.channel)
        agent_id = await ctx.telephony.get_variable(caller.channel, "ACD_AGENT")
    except AmiError:
        return
    agent = ctx.mirror.agent(agent_id)
    queue = ctx.mirror.queues.get(event.queue)
    if agent is None or queue is None:
        log.warning(
            "caller with an unknown agent or queue left to the dialplan",
            extra={"call": caller.uniqueid, "agent": agent_id, "queue": event.queue},
        )
        return
    now = ctx.clock()
    call = Call(
        id=event.call_id,
        channel=event.channel,
        queue=queue.name,
        priority=queue.priority if event.priority is None else event.priority,
        arrived_at=now - caller.seconds,
        skills={**queue.skills, **event.skills},
        attrs=event.attrs,
        caller_name=event.caller_name,
        caller_number=event.caller_number,
    )
    others = [c for c in bridges.get(caller.bridge, []) if c.uniqueid != caller.uniqueid]
    answered_at, agent_channel = 0.0, ""
    if caller.bridge and others:
        agent_channel = others[0].channel
        try:
            answered_at = await ctx.telephony.answered_at(agent_channel)
        except (AmiError, InvalidInput):
            answered_at = 0.0
        answered_at = answered_at or now
    settle_by = now + queue.ring_timeout_seconds + ctx.settings.offer_grace_seconds
    result = await ctx.store.adopt_with_agent(
        call,
        agent,
        now,
        answered_at=answered_at,
        settle_by=settle_by,
        agent_channel=agent_channel,
    )
    log.info(
        "adopting a caller with an agent after Redis lost its data",
        extra={
            "call": call.id,
            "agent": agent.id,
            "connected": bool(answered_at),
            "result": result,
        },
    )
    if result.isdigit():
        # Not counted offered or answered again: the process that saw it enter and be
        # answered counted it then. Its ending is counted as any other's.
        ctx.recorder.history(call.id, "call.adopted", agent=agent.id, connected=bool(answered_at))
