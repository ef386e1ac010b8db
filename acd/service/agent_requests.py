"""What an agent (or a supervisor for it) asks of its own state: log in, pause, log out.

The domain's request table (:data:`acd.domain.state_machine.REQUESTS`) says what a request
does from the agent's state; this module carries it out so that the state acd shows is what
the phone does: a pause or log-out while an offer rings withdraws that offer (the ring stops,
the caller goes back to its place in line, not the agent's no-answer), one during a
conversation waits for the call to end, and ready while on a call is refused.
"""

from __future__ import annotations

import logging
import time

from acd.domain.model import Agent, AgentState, CallStatus
from acd.domain.state_machine import REQUESTS, RequestEffect, check_pause_reason, request_effect
from acd.errors import AmiError, Conflict, InvalidInput, NotFound
from acd.service.context import Services
from acd.service.mirror import with_status

log = logging.getLogger("acd.router")

# A request raced by another process's change to the agent is planned again, from Redis.
ATTEMPTS = 3
OFFERED = (AgentState.RESERVED, AgentState.RINGING)


async def request_state(
    ctx: Services, agent_id: str, target: AgentState, reason: str = ""
) -> tuple[Agent, RequestEffect]:
    """Carry out a request for ``target``: the agent afterwards, and what the request did
    (:class:`~acd.domain.state_machine.RefusedRequest` if the agent's state refuses it)."""
    if target is AgentState.PAUSED:
        reason = check_pause_reason(reason).value
    agent = ctx.mirror.agent(agent_id) or await ctx.store.get_agent(agent_id)
    for _ in range(ATTEMPTS):
        if agent is None:
            raise NotFound(f"agent {agent_id} not found")
        effect = request_effect(agent, target)
        if await _carry_out(ctx, agent, target, reason, effect):
            updated = ctx.mirror.agent(agent.id) or await ctx.store.get_agent(agent.id)
            return updated or agent, effect
        # Redis had the agent otherwise (another process offered it a call, the call ended):
        # plan again from what Redis holds.
        await ctx.mirror.reload_agent(agent.id)
        agent = await ctx.store.get_agent(agent.id)
    raise Conflict(f"agent {agent_id} changed while the request was carried out; try again")


async def cancel_pending(ctx: Services, agent_id: str) -> Agent:
    """Take back the pause or log-out a busy agent asked for (:class:`Conflict` if there is
    none: never asked, or already taken because the call ended)."""
    agent = ctx.mirror.agent(agent_id) or await ctx.store.get_agent(agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    if agent.pending_state is None or not await ctx.store.set_pending_state(agent, None):
        raise Conflict(f"agent {agent_id} has no change pending for the end of a call")
    ctx.recorder.agent_pending(agent.id, None, "")
    return ctx.mirror.agent(agent.id) or agent


async def _carry_out(
    ctx: Services, agent: Agent, target: AgentState, reason: str, effect: RequestEffect
) -> bool:
    """Do ``effect``; False if Redis refused it (the agent was not as seen)."""
    if effect is RequestEffect.WITHDRAW:
        return await _withdraw_offer(ctx, agent, target, reason)
    if effect in (RequestEffect.PEND, RequestEffect.CLEAR_PENDING):
        pending = target if effect is RequestEffect.PEND else None
        if not await ctx.store.set_pending_state(agent, pending, reason):
            return False
        ctx.recorder.agent_pending(agent.id, pending, reason if pending else "")
        return True
    allowed = [s for (s, t), e in REQUESTS.items() if t is target and e is RequestEffect.APPLY]
    previous = await ctx.store.set_agent_state(
        agent, target, ctx.clock(), reason=reason, allowed_from=allowed
    )
    if previous is None:
        return False
    ctx.recorder.agent_state(agent.id, target, previous, reason)
    if target is AgentState.READY:
        await ctx.routing.route_agent(agent.id)
    return True


async def _withdraw_offer(ctx: Services, agent: Agent, target: AgentState, reason: str) -> bool:
    """The agent pauses or logs out while ``agent.call`` rings it: settle that offer (its
    fence: a later offer of the call is never touched), stop the ring, move the agent, and
    offer the call again from its place."""
    call = ctx.mirror.call(agent.call) or await ctx.store.get_call(agent.call)
    if call is None or call.status is not CallStatus.OFFERED or call.agent != agent.id:
        return False
    fields = ctx.mirror.call_fields.get(call.id) or await ctx.store.get_call_fields(call.id)
    fence = int(fields.get("fence") or 0)
    # Redis first: the release decides the race with an answer coming in (a connected call
    # is never torn down); an answer that loses finds the call waiting and changes nothing.
    if await ctx.store.release(call, fence, agent.id) is None:
        return False
    now = ctx.clock()
    previous = await ctx.store.set_agent_state(
        agent, target, now, expected_call=call.id, reason=reason, allowed_from=OFFERED
    )
    try:
        await ctx.telephony.withdraw_offer(call)
    except (AmiError, InvalidInput) as exc:
        # The ring then ends on its own timer (the dialplan returns the caller to hold); an
        # answer before that finds the call released and is not connected by acd.
        log.warning(
            "ring not stopped", extra={"call": call.id, "agent": agent.id, "error": str(exc)}
        )
    ctx.recorder.offer_withdrawn(call, agent.id, target)
    ctx.recorder.agent_state(agent.id, target, previous or agent.state, reason)
    await ctx.routing.route_call(
        with_status(call, CallStatus.WAITING), ctx.queue_of(call), time.perf_counter()
    )
    return True
