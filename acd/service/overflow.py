"""Overflow: moving waiting calls to later routing steps, or out of their queue.

The pure core decides (``acd.domain.steps.overflow_decision``); this module acts: records the
step, counts ``acd_calls_overflowed_total{queue,step}``, and moves the caller to another
queue, voicemail, a callback request or the dialplan's fallback.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from acd.domain.model import Agent, Call, FallbackKind, Outcome, Queue, Role
from acd.domain.steps import Overflow, overflow_decision
from acd.errors import AmiError, InvalidInput

if TYPE_CHECKING:
    from acd.service.router import Router

log = logging.getLogger("acd.router")


def staff_of(agents: list[Agent], queue: Queue) -> list[Agent]:
    """Agents who might serve ``queue``: members, and the leads and supervisors of its teams."""
    return [
        agent for agent in agents
        if queue.name in agent.queues
        or (agent.team in queue.teams and agent.role is not Role.AGENT)
    ]


async def overflow_on_arrival(router: Router, call: Call, queue: Queue, received: float) -> bool:
    """Overflow a new call at once if nobody could take it or the line is too long.

    True if the call left its queue. Uses the process's list of agents, read again only when
    the roster version says someone logged in or out (here or in another acd process) since:
    an arrival does not read every agent.
    """
    ahead = max(0, await router.store.waiting_count(queue.name) - 1)
    await router.refresh_agents()
    decision = overflow_decision(call, queue, staff_of(router.agents_seen, queue),
                                 router.clock(), waiting_ahead=ahead)
    if decision is None:
        return False
    return await apply_overflow(router, call, queue, decision, received)


async def check_overflows(router: Router, now: float, received: float) -> None:
    """On every tick: move each waiting call whose step changed, in line order."""
    await router.refresh_agents()
    for queue in list(router.queues.values()):
        staff = staff_of(router.agents_seen, queue)
        for ahead, call in enumerate(await router.store.waiting_calls(queue.name)):
            decision = overflow_decision(call, queue, staff, now, waiting_ahead=ahead)
            if decision is not None:
                await apply_overflow(router, call, queue, decision, received)


async def apply_overflow(
    router: Router, call: Call, queue: Queue, decision: Overflow, received: float
) -> bool:
    """Carry out one overflow decision; True if the call left its queue."""
    router.metrics.calls_overflowed.labels(queue.name, decision.label).inc()
    log.info("call overflowed", extra={"call": call.id, "queue": queue.name,
                                       "step": decision.label, "reason": decision.reason.value,
                                       "to": decision.to.value if decision.to else ""})
    await router.publish("call.overflowed", call=call.id, queue=queue.name, step=decision.label,
                         reason=decision.reason.value,
                         to=decision.to.value if decision.to else "")
    if not decision.leaves:
        await router.store.set_call_step(call.id, decision.step)
        await router.route_call(replace(call, step=decision.step), queue, received)
        return False
    if decision.to is FallbackKind.QUEUE:
        target = router.queues.get(decision.target)
        if target is not None and await leave_for_queue(router, call, queue, target):
            await router.route_call(replace(call, queue=target.name, step=0), target, received)
            return True
    now = router.clock()
    if await router.store.finish(call, Outcome.OVERFLOWED, now, decision.label) is None:
        return True
    router.metrics.wait_seconds.labels(queue.name, Outcome.OVERFLOWED.value).observe(
        now - call.arrived_at
    )
    context = decision.target if decision.to is FallbackKind.VOICEMAIL else ""
    reason = "callback" if decision.to is FallbackKind.CALLBACK else "overflow"
    if decision.to is FallbackKind.CALLBACK:
        await router.store.record_callback(call, now)
    try:
        await router.telephony.send_to_fallback(call, reason, context)
    except (AmiError, InvalidInput) as exc:
        log.warning("fallback failed", extra={"call": call.id, "error": str(exc)})
    return True


async def leave_for_queue(
    router: Router, call: Call, source: Queue, target: Queue, counted_as: str = ""
) -> bool:
    """The waiting ``call`` leaves ``source`` for ``target``, keeping its arrival time; False
    if it was no longer waiting.

    Its time in ``source`` ends as overflowed there (counted under step ``counted_as`` unless
    the caller counted it already), and it is offered anew to ``target`` (counted, and
    published with ``from_queue``), so each queue's offered calls add up to its outcomes and
    a target queue's service level never exceeds 100 %. The caller then routes it there.
    """
    if not await router.store.move_call(call, target.name):
        return False
    if counted_as:
        router.metrics.calls_overflowed.labels(source.name, counted_as).inc()
        await router.publish("call.overflowed", call=call.id, queue=source.name,
                             step=counted_as, reason=counted_as, to=FallbackKind.QUEUE.value)
    router.metrics.wait_seconds.labels(source.name, Outcome.OVERFLOWED.value).observe(
        router.clock() - call.arrived_at)
    router.metrics.calls_offered.labels(target.name).inc()
    await router.publish("call.offered", call=call.id, queue=target.name,
                         priority=call.priority, caller_name=call.caller_name,
                         from_queue=source.name)
    return True
