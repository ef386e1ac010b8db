"""A caller arrives: the call is queued (once, whichever acd process sees it first), offered
to a ready agent at once if one may take it, else checked for overflow."""

from __future__ import annotations

import logging

from acd.domain.events import CallEntered, PositionAsked
from acd.domain.model import Assignment, Call, Outcome, call_skills
from acd.domain.outcomes import arrival_plan
from acd.errors import AmiError, InvalidInput
from acd.service.context import Services
from acd.service.overflow import apply_overflow, overflow_on_arrival, send_out
from acd.service.recorder import UNKNOWN_QUEUE_LABEL

log = logging.getLogger("acd.router")


async def call_entered(
    ctx: Services, event: CallEntered, received: float, waited: float = 0.0
) -> None:
    now = ctx.clock()
    for label, problem in event.problems:
        ctx.metrics.ami_bad_events.labels(label).inc()
        log.warning(
            "bad call variable, using the queue's", extra={"call": event.call_id, "error": problem}
        )
    queue = ctx.mirror.queues.get(event.queue)
    if queue is None:
        await ctx.mirror.reload_queue(event.queue)  # created by another process just now?
        queue = ctx.mirror.queues.get(event.queue)
    if queue is None:
        await ctx.store.require_seeded()  # Redis lost its queues: held until seeded again
        await _reject_unknown_queue(ctx, event)
        return
    call = Call(
        id=event.call_id,
        channel=event.channel,
        queue=queue.name,
        priority=queue.priority if event.priority is None else event.priority,
        arrived_at=now - waited,
        skills=call_skills(queue, event.skills),
        own_skills=event.skills,
        attrs=event.attrs,
        caller_name=event.caller_name,
        caller_number=event.caller_number,
    )
    if not await ctx.store.enqueue(call):
        return  # already known: a duplicate event, or another acd process was first
    ctx.recorder.call_entered(call)
    cursor = await ctx.routing.cursor(queue)
    plan = arrival_plan(call, ctx.mirror.agents, ctx.mirror.waiting, ctx.clock(), cursor=cursor)
    if isinstance(plan, Assignment):
        if await ctx.routing.route_call(call, queue, received, first=plan):
            return
        await overflow_on_arrival(ctx, call, queue, received)  # every claim lost meanwhile
    elif plan is not None:
        await apply_overflow(ctx, call, queue, plan, received)
    await tell_place_in_line(ctx, call)


async def tell_place_in_line(ctx: Services, call: Call) -> None:
    """If ``call`` is waiting, set its position and estimated wait on the caller's channel
    (after the decision: a call that waits has no agent to hurry to)."""
    position, wait = ctx.mirror.place_in_line(call.id)
    if position is None:
        return  # offered, gone to a fallback, or ended meanwhile
    try:
        await ctx.telephony.tell_place_in_line(call, position, wait)
    except (AmiError, InvalidInput) as exc:
        log.warning("position not set", extra={"call": call.id, "error": str(exc)})


async def _reject_unknown_queue(ctx: Services, event: CallEntered) -> None:
    """Send a caller for a queue acd does not have to the fallback, then record it as failed.

    The record comes after the move: if Asterisk is unreachable the caller stays on hold,
    unknown to acd, and is adopted (and sent out) by the reconciliation after reconnecting.
    """
    if await ctx.store.get_call(event.call_id) is not None:
        return  # seen already: a duplicate event, or another acd process was first
    now = ctx.clock()
    placeholder = Call(event.call_id, event.channel, UNKNOWN_QUEUE_LABEL, 0, now)
    if not await send_out(ctx, placeholder, "unknown-queue"):
        if event.call_id not in ctx.routing.missing:
            return
        ctx.routing.missing.discard(event.call_id)  # no such caller: failed all the same
    # Kept in Redis as failed, so that the same caller seen again (a duplicate event, or
    # adopted by a reconciliation that raced the first event) is not counted twice.
    if not await ctx.store.enqueue(placeholder):
        return
    await ctx.store.finish(placeholder, Outcome.FAILED, now, "unknown_queue")
    ctx.recorder.unknown_queue(event.call_id, event.queue)


async def position_asked(ctx: Services, event: PositionAsked) -> None:
    """The dialplan is about to announce the caller's place in line: set it afresh."""
    call = ctx.mirror.call(event.call_id)
    if call is not None:
        await tell_place_in_line(ctx, call)
