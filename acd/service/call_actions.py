"""What supervisors, integrators and agents do to one call: change its priority, move it to
another queue, send it to a named agent, hang it up, escalate it to a team lead, and listen,
whisper or barge in.

Each function runs in the router's worker (through ``Router.call``), so it never races the
events of the same call; the Lua scripts keep it safe against other acd processes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from enum import StrEnum

from acd.domain.event_kinds import EventKind
from acd.domain.events import EscalationRequested
from acd.domain.model import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    AgentState,
    Call,
    CallStatus,
    Outcome,
    in_queue,
)
from acd.domain.names import check_dial_string, check_name
from acd.errors import AmiError, Conflict, InvalidInput, NoSuchChannel, NotFound
from acd.service.context import Services
from acd.service.endings import end_call, handover_agent
from acd.service.overflow import leave_for_queue

log = logging.getLogger("acd.router")

# Hang-up and monitor reasons are metric labels and event fields: a closed set.
API_HANGUP = "api-hangup"
MOVED = "moved"  # the overflow step label of a call a supervisor moved to another queue


class MonitorMode(StrEnum):
    """How a supervisor joins a live call (Asterisk's ChanSpy on the agent's channel)."""

    LISTEN = "listen"  # hears both sides; nobody hears them
    WHISPER = "whisper"  # also speaks to the agent only (coaching)
    BARGE = "barge"  # speaks to both: a three-way call


async def _call(ctx: Services, call_id: str) -> Call:
    call = await ctx.store.get_call(call_id)
    if call is None or call.status is CallStatus.ENDED:
        raise NotFound(f"call {call_id} not found")
    return call


def _waiting(call: Call, action: str) -> None:
    if call.status is not CallStatus.WAITING:
        raise Conflict(
            f"call {call.id} is {call.status.value}; only a waiting call can be {action}"
        )


async def set_priority(ctx: Services, call_id: str, priority: int) -> Call:
    """Give a waiting call another priority; it keeps its arrival time."""
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidInput("priority", f"must be an integer from {MIN_PRIORITY} to {MAX_PRIORITY}")
    call = await _call(ctx, call_id)
    _waiting(call, "given another priority")
    if not await ctx.store.move_call(call, call.queue, priority):
        raise Conflict(f"call {call_id} is no longer waiting")
    ctx.recorder.call_action(
        call, EventKind.CALL_REPRIORITIZED, priority=priority, previous=call.priority
    )
    changed = replace(call, priority=priority)
    queue = ctx.queue_of(changed)
    await ctx.routing.route_call(changed, queue, time.perf_counter())
    return await _call(ctx, call_id)


async def move_to_queue(ctx: Services, call_id: str, queue_name: str) -> Call:
    """Move a waiting call to another queue, keeping its arrival time and priority."""
    check_name("queue", queue_name)
    target = ctx.mirror.queues.get(queue_name) or await ctx.store.get_queue(queue_name)
    if target is None:
        raise NotFound(f"queue {queue_name} not found")
    call = await _call(ctx, call_id)
    _waiting(call, "moved")
    if call.queue == target.name:
        return call
    # Moved out by a supervisor: for the queue it leaves, that is an overflow.
    if not await leave_for_queue(ctx, call, ctx.queue_of(call), target, counted_as=MOVED):
        raise Conflict(f"call {call_id} is no longer waiting")
    ctx.recorder.call_action(call, EventKind.CALL_MOVED, to=target.name, previous=call.queue)
    await ctx.routing.route_call(in_queue(call, target), target, time.perf_counter())
    return await _call(ctx, call_id)


SEND_TIMEOUT_SECONDS = 60  # how long a call sent to a named agent who is not free waits
MAX_SEND_TIMEOUT_SECONDS = 3600


async def send_to_agent(
    ctx: Services, call_id: str, agent_id: str, timeout_seconds: int = SEND_TIMEOUT_SECONDS
) -> tuple[Call, bool]:
    """Give a waiting call to one named agent, whatever the queue's rules say; (the call,
    True if it is reserved for the agent rather than offered now).

    A ready agent is offered it now. An agent on a call, ringing, reserved or wrapping up gets
    it reserved: held from everyone else for ``timeout_seconds`` and offered to them first as
    soon as they are free, ahead of their queues' lines; the call keeps its place in line and
    after the timeout (or if the agent pauses or logs out meanwhile) anyone may take it. A
    paused or logged-out agent (or one to be paused after the call) is refused (409): they
    chose not to take calls. If the agent does not answer, the call goes back to its place
    like any missed offer.
    """
    if not 1 <= timeout_seconds <= MAX_SEND_TIMEOUT_SECONDS:
        raise InvalidInput(
            "timeout_seconds", f"must be an integer from 1 to {MAX_SEND_TIMEOUT_SECONDS}"
        )
    call = await _call(ctx, call_id)
    agent = await ctx.store.get_agent(check_name("agent", agent_id))
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    _waiting(call, "sent to an agent")
    if agent.state in (AgentState.LOGGED_OUT, AgentState.PAUSED) or agent.pending_state:
        state = (agent.pending_state or agent.state).value
        raise Conflict(f"agent {agent.id} is {state}, not taking calls")
    if call.reserved_for and call.reserved_for != agent.id:
        # The supervisor changed their mind: the last send counts.
        call = await ctx.routing.end_reservation(call, "replaced")
    free = agent.state is AgentState.READY and not agent.device_busy
    if free and await ctx.routing.offer(call, agent, ctx.queue_of(call), time.perf_counter()):
        ctx.recorder.call_action(call, EventKind.CALL_SENT, agent=agent.id)
        return await _call(ctx, call_id), False
    # Not free this instant (or taken meanwhile): held for the agent until the timeout.
    until = ctx.clock() + timeout_seconds
    if not await ctx.store.reserve_call(call.id, agent.id, until):
        raise Conflict(f"call {call_id} or agent {agent.id} changed meanwhile")
    ctx.recorder.call_action(
        call, EventKind.CALL_RESERVED, agent=agent.id, until=until, timeout_seconds=timeout_seconds
    )
    # Free by now (a wrap-up that just ended)? Then offered at once.
    await ctx.routing.route_agent(agent.id)
    after = await _call(ctx, call_id)
    return after, after.status is CallStatus.WAITING


async def hang_up(ctx: Services, call_id: str) -> Call:
    """Hang up the caller. A call not yet answered ends as failed (reason ``api-hangup``) at
    once; a connected one ends as answered when Asterisk reports the hangup."""
    call = await _call(ctx, call_id)
    # Hung up first, recorded after: if Asterisk is unreachable the API answers 502 and the
    # call is still what it was (waiting, and offered again), not ended with a caller on hold.
    try:
        await ctx.telephony.hang_up(call.channel)
    except NoSuchChannel:
        # Gone already: its Hangup ends the call (or the next tick does, as failed).
        ctx.routing.missing.add(call.id)
        return await ctx.store.get_call(call_id) or call
    if call.status is not CallStatus.CONNECTED:
        await end_call(ctx, call, Outcome.FAILED, API_HANGUP, time.perf_counter())
    ctx.recorder.call_action(call, EventKind.CALL_HANGUP_REQUESTED)
    return await ctx.store.get_call(call_id) or call


async def escalate(ctx: Services, call_id: str, by_agent: str = "") -> Call:
    """Move a live call from its agent to a team lead: the caller hears music again and waits
    ahead of every ordinary call for a lead of the agent's team, then any lead serving the
    queue, then a supervisor. ``by_agent``, when given, must be the call's agent."""
    call = await _call(ctx, call_id)
    if call.status is not CallStatus.CONNECTED:
        raise Conflict(
            f"call {call_id} is {call.status.value}; only a connected call can be escalated"
        )
    if by_agent and by_agent != call.agent:
        raise Conflict(f"call {call_id} is not connected to agent {by_agent}")
    agent = await ctx.store.get_agent(call.agent)
    if agent is None:
        raise Conflict(f"agent {call.agent} of call {call_id} no longer exists")
    now = ctx.clock()
    escalated = replace(
        call,
        status=CallStatus.WAITING,
        agent="",
        step=0,
        escalated_by=agent.id,
        escalation_team=agent.team,
    )
    queue = ctx.queue_of(call)
    # Back on hold first (Asterisk hangs up the agent's leg), then recorded, then the agent
    # freed: a lead who is ready is rung right after. If Asterisk did not move the caller,
    # nothing is recorded: the conversation goes on.
    await ctx.telephony.return_to_hold(escalated)
    if not await ctx.store.escalate(call, agent, now):
        raise Conflict(f"call {call_id} is no longer connected to agent {agent.id}")
    ctx.recorder.escalated(call, agent)
    received = time.perf_counter()
    await handover_agent(ctx, call, queue, agent.id, now, received)
    await ctx.routing.route_call(escalated, queue, received)
    return await _call(ctx, call_id)


async def escalation_requested(ctx: Services, event: EscalationRequested) -> None:
    """The feature code: keyed by the caller, or on a call that is not connected, it
    names no call to escalate and is ignored."""
    try:
        await escalate(ctx, event.call_id)
    except (NotFound, Conflict) as exc:
        log.info(
            "escalation feature code ignored", extra={"call": event.call_id, "error": str(exc)}
        )
    except (AmiError, InvalidInput) as exc:
        log.warning("escalation failed", extra={"call": event.call_id, "error": str(exc)})


async def monitor(ctx: Services, call_id: str, mode: MonitorMode, dial: str, by: str) -> Call:
    """Ring ``dial`` (a supervisor's, lead's or QA specialist's phone) and, once answered,
    join the call's agent channel in ``mode``."""
    call = await _call(ctx, call_id)
    fields = await ctx.store.get_call_fields(call_id)
    agent_channel = fields.get("agent_channel", "")
    if call.status is not CallStatus.CONNECTED or not agent_channel:
        raise Conflict(
            f"call {call_id} is {call.status.value}; only a connected call can be listened to"
        )
    check_dial_string("dial", dial)
    await ctx.telephony.spy(dial, agent_channel, mode.value, call.id)
    ctx.metrics.supervisor_actions.labels(mode.value).inc()
    log.info("call monitored", extra={"call": call.id, "mode": mode.value, "by": by})
    ctx.recorder.call_action(call, EventKind.CALL_MONITORED, mode=mode.value, by=by, dial=dial)
    return call
