"""Overflow: moving waiting calls to later routing steps, or out of their queue.

The pure core decides (``acd.domain.steps.overflow_decision``); this module acts: records the
step, counts ``acd_calls_overflowed_total{queue,step}``, and moves the caller to another
queue, voicemail, a callback request or the dialplan's fallback.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from acd.domain.model import Call, FallbackKind, Outcome, Queue, in_queue
from acd.domain.steps import Overflow
from acd.errors import AmiError, AmiNotDone, InvalidInput, NoSuchChannel
from acd.service.context import Services

log = logging.getLogger("acd.router")


def _decide(ctx: Services, call: Call, now: float) -> Overflow | None:
    queue = ctx.mirror.queues.get(call.queue)
    # Counting the calls ahead costs the length of the line: only a queue with a maximum
    # length needs it.
    ahead = ctx.mirror.waiting.waiting_ahead(call, now) if queue and queue.max_length else 0
    return ctx.mirror.agents.overflow_decision(call, now, waiting_ahead=ahead)


async def overflow_on_arrival(ctx: Services, call: Call, queue: Queue, received: float) -> bool:
    """Overflow a new call at once if nobody could take it or the line is too long.

    True if the call left its queue. Reads who is logged in from the in-memory view.
    """
    decision = _decide(ctx, call, ctx.clock())
    if decision is None:
        return False
    return await apply_overflow(ctx, call, queue, decision, received)


async def check_calls(ctx: Services, calls: list[Call], received: float) -> None:
    """Move each of ``calls`` (waiting) whose step changed; in line order."""
    now = ctx.clock()
    for call in sorted(calls, key=lambda c: (c.queue, c.arrived_at)):
        current = ctx.mirror.call(call.id)
        if current is None or current.status is not call.status:
            continue
        queue = ctx.mirror.queues.get(call.queue)
        if queue is None:
            continue
        decision = _decide(ctx, current, now)
        if decision is not None:
            await apply_overflow(ctx, current, queue, decision, received)


async def apply_overflow(
    ctx: Services, call: Call, queue: Queue, decision: Overflow, received: float
) -> bool:
    """Carry out one overflow decision; True if the call left its queue.

    A call sent out of acd is moved first and recorded after: if Asterisk is unreachable
    or refuses, it stays waiting (and is counted nowhere yet): the reconciliation after
    reconnecting looks at it again, and the dialplan's own maximum wait still protects the
    caller. A caller Asterisk does not have ends as failed (``no-channel``)."""
    if not decision.leaves:
        ctx.recorder.call_overflowed(call, queue.name, decision)
        await ctx.store.set_call_step(call.id, decision.step)
        await ctx.routing.route_call(replace(call, step=decision.step), queue, received)
        return False
    target = ctx.mirror.queues.get(decision.target) if decision.to is FallbackKind.QUEUE else None
    if target is not None:
        ctx.recorder.call_overflowed(call, queue.name, decision)
        if await leave_for_queue(ctx, call, queue, target):
            await ctx.routing.route_call(in_queue(call, target), target, received)
            return True
    context = decision.target if decision.to is FallbackKind.VOICEMAIL else ""
    reason = "callback" if decision.to is FallbackKind.CALLBACK else "overflow"
    if not await send_out(ctx, call, reason, context):
        return False
    if target is None:
        ctx.recorder.call_overflowed(call, queue.name, decision)
    now = ctx.clock()
    if await ctx.store.finish(call, Outcome.OVERFLOWED, now, decision.label) is None:
        return True
    ctx.recorder.overflow_wait(call, queue.name, now)
    if decision.to is FallbackKind.CALLBACK:
        await ctx.store.record_callback(call, now)
    return True


async def send_out(ctx: Services, call: Call, reason: str, context: str = "") -> bool:
    """Hand the caller to the dialplan's fallback (or ``context``); True once Asterisk did.
    False if it did not (the caller is still on hold, or gone: then marked missing), or may
    not have (the connection went mid-action): then the reconciliation after reconnecting
    sees where the caller is, ends the call if it reached the fallback and tries again if
    it is still on hold."""
    if not ctx.telephony.connected or ctx.routing.draining:
        return False
    try:
        await ctx.telephony.send_to_fallback(call, reason, context)
    except NoSuchChannel as exc:
        log.warning("fallback failed: no such caller", extra={"call": call.id, "error": str(exc)})
        ctx.routing.missing.add(call.id)
        return False
    except (AmiNotDone, InvalidInput) as exc:
        log.warning("fallback failed", extra={"call": call.id, "error": str(exc)})
        return False
    except AmiError as exc:
        log.warning("fallback sent, outcome unknown", extra={"call": call.id, "error": str(exc)})
        return False
    return True


async def leave_for_queue(
    ctx: Services, call: Call, source: Queue, target: Queue, counted_as: str = ""
) -> bool:
    """The waiting ``call`` leaves ``source`` for ``target``, keeping its arrival time; False
    if it was no longer waiting.

    Its time in ``source`` ends as overflowed there (counted under step ``counted_as`` unless
    the caller counted it already), and it is offered anew to ``target`` (counted, and
    published with ``from_queue``), so each queue's offered calls add up to its outcomes and
    a target queue's service level never exceeds 100 %. The caller then routes it there.
    """
    moved = in_queue(call, target)
    if not await ctx.store.move_call(call, target.name, skills=moved.skills):
        return False
    ctx.recorder.moved_out(call, source.name, counted_as)
    ctx.recorder.call_entered(moved, from_queue=source.name)
    return True
