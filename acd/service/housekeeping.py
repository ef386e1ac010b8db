"""Housekeeping, driven by deadlines: wrap-ups that ended, offers that were lost, waiting
calls whose next routing step or maximum wait came, queues where someone left. A tick with
nothing due costs a look at the top of a heap, whatever the number of queues and agents.
"""

from __future__ import annotations

import time

from acd.domain.model import AgentState, CallStatus, Outcome
from acd.domain.outcomes import after_timer
from acd.domain.steps import is_logged_in
from acd.service.context import Services
from acd.service.endings import NO_CHANNEL, end_call
from acd.service.offers import settle_lost_offer
from acd.service.overflow import check_calls
from acd.service.routing import not_coming_back


async def tick(ctx: Services) -> None:
    now = ctx.clock()
    received = time.perf_counter()
    mirror = ctx.mirror
    mirror.new_day()
    await _end_missing_callers(ctx, received)
    steps = []
    for deadline in mirror.due(now):
        if deadline.kind == "wrap":
            await _wrap_up_over(ctx, deadline.id, now, received)
        elif deadline.kind == "offer":
            call = mirror.call(deadline.id)
            if call is not None and call.status is CallStatus.OFFERED:
                await settle_lost_offer(ctx, deadline.id, deadline.fence, received)
        elif deadline.kind == "reserve":
            call = mirror.call(deadline.id)
            if call is not None and call.status is CallStatus.WAITING and call.reserved_for:
                await _reservation_over(ctx, call.id, "timeout", received)
        elif deadline.kind == "step":
            call = mirror.call(deadline.id)
            if call is not None and call.status is CallStatus.WAITING:
                steps.append(call)
                mirror.reschedule(call)
    await _void_reservations(ctx, received)
    dirty, mirror.dirty_queues = mirror.dirty_queues, set()
    steps += [c for name in dirty for c in mirror.waiting_in(name)]
    if steps:
        await check_calls(ctx, list({c.id: c for c in steps}.values()), received)
    freed, mirror.freed_elsewhere = mirror.freed_elsewhere, set()
    for agent_id in sorted(freed):
        await ctx.routing.route_agent(agent_id, received)
    await ctx.routing.route_waiting(received, _routable_queues(ctx))


async def _end_missing_callers(ctx: Services, received: float) -> None:
    """Calls whose channel Asterisk said it does not have end as failed, once: by now any
    Hangup that was on its way has been handled (then they ended as abandoned already)."""
    missing, ctx.routing.missing = ctx.routing.missing, set()
    for call_id in sorted(missing):
        call = ctx.mirror.call(call_id)
        if call is not None:
            await end_call(ctx, call, Outcome.FAILED, NO_CHANNEL, received)


async def _reservation_over(ctx: Services, call_id: str, reason: str, received: float) -> None:
    """A call held for a named agent is anyone's again, at its own place in line."""
    call = ctx.mirror.call(call_id)
    if call is None or call.status is not CallStatus.WAITING or not call.reserved_for:
        return
    freed = await ctx.routing.end_reservation(call, reason)
    await ctx.routing.route_call(freed, ctx.queue_of(freed), received)


async def _void_reservations(ctx: Services, received: float) -> None:
    """Reservations for agents who paused or logged out meanwhile end now (few: each is a
    supervisor's action), not at their timeout."""
    for agent_id in sorted(ctx.mirror.reservations):
        agent = ctx.mirror.agent(agent_id)
        if agent is not None and is_logged_in(agent) and not not_coming_back(agent):
            continue
        for call_id in sorted(ctx.mirror.reservations.get(agent_id, ())):
            await _reservation_over(ctx, call_id, "unavailable", received)


def _routable_queues(ctx: Services) -> set[str]:
    """Queues with calls waiting (few when agents are free: they take calls at once)."""
    return {q for q in ctx.mirror.waiting.queues_with_calls() if q in ctx.mirror.queues}


async def _wrap_up_over(ctx: Services, agent_id: str, now: float, received: float) -> None:
    agent = ctx.mirror.agent(agent_id)
    if agent is None or agent.state not in (AgentState.WRAP_UP, AgentState.PAUSED):
        return
    change = after_timer(agent, now)
    previous = await ctx.store.set_agent_state(agent, change.agent.state, now)
    if previous is not None:
        ctx.recorder.agent_state(agent_id, AgentState.READY, previous, "timer", logged=False)
        await ctx.routing.route_agent(agent_id, received)
