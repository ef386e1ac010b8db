"""What happens to an offer: the agent's phone rings, the agent answers (the call is
connected and counted), or does not (the call goes back to its place, the agent is paused
for no-answer), or nothing comes back in time (a lost offer counts as a no-answer).
"""

from __future__ import annotations

import logging

from acd.domain.devices import channel_device, dial_devices
from acd.domain.events import AgentAnswered, AgentMissed, AgentRinging, MissReason
from acd.domain.model import AgentState, Call, CallStatus
from acd.domain.outcomes import after_no_answer
from acd.service.context import Services
from acd.service.mirror import with_status
from acd.service.phones import keep_phone_busy

log = logging.getLogger("acd.router")


async def agent_ringing(ctx: Services, event: AgentRinging) -> None:
    call = ctx.mirror.call(event.call_id)
    if call is None or call.status is not CallStatus.OFFERED:
        return
    agent = ctx.mirror.agent(call.agent)
    if agent is not None:
        await ctx.store.set_agent_state(
            agent, AgentState.RINGING, ctx.clock(), expected_call=call.id, call=call.id
        )


async def agent_answered(ctx: Services, event: AgentAnswered, answered_at: float = 0.0) -> None:
    """``answered_at``: when the agent answered, if acd learns of it later (a reconciliation
    finding caller and agent already bridged); else now."""
    now = answered_at or ctx.clock()
    call = ctx.mirror.call(event.call_id)
    if call is None:
        return
    agent_id = event.agent or _answering_agent(ctx, call, event.agent_channel)
    if _answer_seen(ctx, call, agent_id, event.fence):
        return
    connected = await ctx.store.connect(
        event.call_id, now, agent_id, event.agent_channel, event.fence
    )
    if connected is None:
        return  # not the offer standing now (a late or repeated answer), or settled already
    agent_id, _fence = connected
    agent = ctx.mirror.agent(agent_id)
    # An escalated call answered by a lead waited only until its first answer.
    wait = call.wait_seconds(now)
    within = wait <= ctx.queue_of(call).service_level_seconds
    ctx.recorder.call_answered(
        call, agent_id, agent.team if agent is not None else "", wait, within
    )


def _answer_seen(ctx: Services, call: Call, agent_id: str, fence: int) -> bool:
    """True if this very answer connected the call already: Asterisk tells it twice
    (``DialEnd ANSWER`` for the leg, ``ACDAnswered`` from the agent's channel), and the
    second would only be refused by the connect script, one round trip later."""
    if call.status is not CallStatus.CONNECTED or call.agent != agent_id:
        return False
    return not fence or str(fence) == ctx.mirror.call_fields.get(call.id, {}).get("fence")


def _answering_agent(ctx: Services, call: Call, channel: str) -> str:
    """The agent whose phone ``channel`` is (any leg of a ring group): the agent the call is
    offered to if it is one of that agent's devices (or no agent's known device: a phone
    reached through a trunk, or no channel known), else the agent that device belongs to.
    The connect script checks the agent against the offer standing in Redis."""
    if not channel:
        return call.agent
    device = channel_device(channel)
    offered = ctx.mirror.agent(call.agent)
    if offered is not None and device in dial_devices(offered.dial):
        return call.agent
    owner = ctx.mirror.device_owner(device)
    return owner if owner is not None else call.agent


async def agent_missed(ctx: Services, event: AgentMissed, received: float) -> None:
    """The offer the event is about was missed: settled only if it is still the offer
    standing (its fence and agent, checked again by the release script)."""
    if event.status is MissReason.CANCEL:
        return  # the caller hung up while ringing; their Hangup settles call and agent
    call = ctx.mirror.call(event.call_id)
    if call is None:
        return
    fence = event.fence
    if not fence:
        # Not said which offer (a dialplan older than the fence): only a result naming the
        # agent the call is offered to now can be about this offer.
        if not event.agent or call.status is not CallStatus.OFFERED or call.agent != event.agent:
            return
        fence = int(ctx.mirror.call_fields.get(event.call_id, {}).get("fence", "0"))
    agent_id = await ctx.store.release(call, fence, event.agent)
    if agent_id is None:
        return
    now = ctx.clock()
    agent = ctx.mirror.agent(agent_id)
    if agent is None or agent.call != call.id:
        # Offered by another process, whose change this view may not have taken in yet.
        await ctx.mirror.reload_agent(agent_id)
        agent = ctx.mirror.agent(agent_id)
    queue = ctx.queue_of(call)
    pause = ctx.settings.no_answer_pause and queue.no_answer_pause
    change = None
    if agent is not None and agent.state in (AgentState.RESERVED, AgentState.RINGING):
        await keep_phone_busy(ctx, agent.id)
        change = after_no_answer(
            agent, now, pause=pause, pause_seconds=ctx.settings.no_answer_pause_seconds
        )
        # The wrap-up timer doubles as the no-answer pause's automatic end.
        await ctx.store.set_agent_state(
            agent,
            change.agent.state,
            now,
            expected_call=call.id,
            reason=change.agent.pause_reason,
            wrap_up_until=change.resume_at,
        )
    ctx.recorder.agent_missed(call, agent_id, event.status)
    await ctx.routing.route_call(with_status(call, CallStatus.WAITING), queue, received)
    if change is not None and change.free:
        await ctx.routing.route_agent(agent_id, received)


async def settle_lost_offer(ctx: Services, call_id: str, fence: int, received: float) -> None:
    """No answer and no no-answer came back in time for the offer ``fence``: it is lost,
    retry (a later offer of the call is not touched)."""
    log.warning("offer lost, calling it a no-answer", extra={"call": call_id, "fence": fence})
    await agent_missed(ctx, AgentMissed(call_id, MissReason.LOST, fence=fence), received)
