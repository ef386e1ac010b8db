"""How calls end: a caller hangs up, the dialplan falls back, or a conversation completes.

Every call that entered ends here exactly once (the store's ``finish`` script decides which
process and which event gets to end it) and is counted as answered, abandoned, overflowed or
failed. The call's agent is freed by the same script.
"""

from __future__ import annotations

import logging

from acd.domain.events import CallFellBack, ChannelGone, ChannelShutDown
from acd.domain.model import Agent, AgentState, Call, CallStatus, Outcome, Queue
from acd.domain.outcomes import after_conversation
from acd.service.context import Services
from acd.service.phones import keep_phone_busy

log = logging.getLogger("acd.router")

# The failure reason of calls Asterisk hung up while shutting down.
TELEPHONY_SHUTDOWN = "telephony-shutdown"
# The failure reason of calls whose caller Asterisk said it does not have ("No such channel").
NO_CHANNEL = "no-channel"
# Fallback reasons become a metric label: keep the set closed.
FALLBACK_REASONS = frozenset(
    {"timeout", "overflow", "callback", "no-agents", "queue-full", "unknown-queue"}
)


async def channel_gone(ctx: Services, event: ChannelGone, received: float) -> None:
    call = ctx.mirror.call(event.call_id)
    if call is None or call.channel != event.channel:
        return  # not a caller's channel (an agent leg, another application's call)
    await end_call(ctx, call, Outcome.ABANDONED, f"cause {event.cause}", received)


async def channel_shut_down(ctx: Services, event: ChannelShutDown, received: float) -> None:
    """Asterisk is going down and hangs up the caller: a technical failure, not an abandon.
    Its Hangup follows and finds the call ended; a connected call completes as answered."""
    call = ctx.mirror.call(event.call_id)
    if call is None or call.channel != event.channel:
        return
    await end_call(ctx, call, Outcome.FAILED, TELEPHONY_SHUTDOWN, received)


async def call_fell_back(ctx: Services, event: CallFellBack, received: float) -> None:
    call = ctx.mirror.call(event.call_id)
    if call is None:
        return
    reason = event.reason if event.reason in FALLBACK_REASONS else "other"
    await end_call(ctx, call, Outcome.OVERFLOWED, reason, received)


async def end_call(
    ctx: Services,
    call: Call,
    outcome: Outcome,
    detail: str,
    received: float,
    talk: float | None = None,
) -> None:
    """End ``call`` with ``outcome`` unless it already ended; count it and free its agent.

    ``talk`` is the talk time Asterisk reported for a conversation that ended while acd was
    away; without it, a connected call has talked until now."""
    now = ctx.clock()
    queue = ctx.queue_of(call)
    agent = ctx.mirror.agent(call.agent) if call.agent else None
    wrap_up = queue.wrap_up_seconds
    # What the agent becomes if the call was a conversation (the script counts the talk it
    # finds; the state is computed here, the script sets it only if the agent is still on it).
    after = (
        after_conversation(
            agent, now, talk=talk or 0.0, wrap_up_seconds=wrap_up, today=ctx.day_of(now)
        )
        if agent is not None and agent.state is AgentState.BUSY
        else None
    )
    ended = await ctx.store.end_call(
        call,
        outcome,
        now,
        detail,
        agent=agent,
        after_talk=after.agent.state if after else AgentState.READY,
        wrap_up_until=after.resume_at if after else 0.0,
        talk=talk,
        day=ctx.day_of(now),
        phone_busy=agent is not None and agent.id in ctx.mirror.busy_phones,
    )
    if ended is None:
        return  # already ended, by this process or another
    if ended.previous is CallStatus.CONNECTED:
        if ended.agent_freed or not ended.agent:
            talked = ended.talk
            ctx.recorder.talk_counted(call, talked, wrap_up)
            freed = ctx.mirror.agent(ended.agent) if ended.agent else None
        else:  # the view had another agent on this call: free the right one the long way
            talked, freed = await handover_agent(
                ctx, call, queue, ended.agent, now, received, ended.talk
            )
        ctx.recorder.call_completed(call, ended.agent, freed.team if freed else "", talked, wrap_up)
        if ended.agent_state in (AgentState.PAUSED, AgentState.LOGGED_OUT):
            # The pause or log-out asked for during the call, taken now.
            reason = agent.pending_reason if agent is not None else ""
            ctx.recorder.agent_state(ended.agent, ended.agent_state, AgentState.BUSY, reason)
        if ended.agent_freed and wrap_up <= 0:
            await ctx.routing.route_agent(ended.agent, received)
        return
    ctx.recorder.call_ended(call, outcome, detail, now - call.arrived_at)
    if ended.previous is CallStatus.OFFERED and ended.agent:
        if not ended.agent_freed:
            await keep_phone_busy(ctx, ended.agent)
            other = ctx.mirror.agent(ended.agent)
            if other is not None:
                await ctx.store.set_agent_state(other, AgentState.READY, now, expected_call=call.id)
        await ctx.routing.route_agent(ended.agent, received)


async def handover_agent(
    ctx: Services,
    call: Call,
    queue: Queue,
    agent_id: str,
    now: float,
    received: float,
    talked: float | None = None,
) -> tuple[float, Agent | None]:
    """The agent's part of ``call`` is over (it went to a lead, or ended while the view was
    stale): count the talk (``talked`` if known, else since the answer), start wrap-up or make
    the agent ready. Returns the talk time, and the agent."""
    if talked is None:
        fields = ctx.mirror.call_fields.get(call.id) or await ctx.store.get_call_fields(call.id)
        talked = now - float(fields.get("answered_at") or now)
    talk = max(0.0, talked)
    wrap_up = queue.wrap_up_seconds
    ctx.recorder.talk_counted(call, talk, wrap_up)
    agent = ctx.mirror.agent(agent_id) if agent_id else None
    if agent is None:
        return talk, None
    await keep_phone_busy(ctx, agent.id)
    await ctx.store.count_handled(agent.id, talk, ctx.day_of(now))
    change = (
        after_conversation(agent, now, talk=talk, wrap_up_seconds=wrap_up, today=ctx.day_of(now))
        if agent.state is AgentState.BUSY
        else None
    )
    target = change.agent.state if change else AgentState.READY
    reason = change.agent.pause_reason if change else ""
    previous = await ctx.store.set_agent_state(
        agent,
        target,
        now,
        expected_call=call.id,
        reason=reason,
        wrap_up_until=change.resume_at if change else 0.0,
    )
    if previous is not None and target in (AgentState.PAUSED, AgentState.LOGGED_OUT):
        # The pause or log-out asked for during the call, taken now.
        ctx.recorder.agent_state(agent.id, target, previous, reason)
    if target is AgentState.READY:
        await ctx.routing.route_agent(agent.id, received)
    return talk, agent
