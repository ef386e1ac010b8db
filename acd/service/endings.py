"""How calls end: a caller hangs up, the dialplan falls back, or a conversation completes.

Every call that entered ends here exactly once (the store's ``finish`` script decides which
process and which event gets to end it) and is counted as answered, abandoned, overflowed or
failed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from acd.domain.events import CallFellBack, ChannelGone, ChannelShutDown
from acd.domain.model import Agent, AgentState, Call, CallStatus, Outcome, Queue

if TYPE_CHECKING:
    from acd.service.router import Router

log = logging.getLogger("acd.router")

# The failure reason of calls Asterisk hung up while shutting down.
TELEPHONY_SHUTDOWN = "telephony-shutdown"
# Fallback reasons become a metric label: keep the set closed.
FALLBACK_REASONS = frozenset(
    {"timeout", "overflow", "callback", "no-agents", "queue-full", "unknown-queue"}
)


async def channel_gone(router: Router, event: ChannelGone, received: float) -> None:
    call = await router.store.get_call(event.call_id)
    if call is None or call.status is CallStatus.ENDED or call.channel != event.channel:
        return  # not a caller's channel (an agent leg, another application's call)
    await end_call(router, call, Outcome.ABANDONED, f"cause {event.cause}", received)


async def channel_shut_down(router: Router, event: ChannelShutDown, received: float) -> None:
    """Asterisk is going down and hangs up the caller: a technical failure, not an abandon.
    Its Hangup follows and finds the call ended; a connected call completes as answered."""
    call = await router.store.get_call(event.call_id)
    if call is None or call.status is CallStatus.ENDED or call.channel != event.channel:
        return
    await end_call(router, call, Outcome.FAILED, TELEPHONY_SHUTDOWN, received)


async def call_fell_back(router: Router, event: CallFellBack, received: float) -> None:
    call = await router.store.get_call(event.call_id)
    if call is None or call.status is CallStatus.ENDED:
        return
    reason = event.reason if event.reason in FALLBACK_REASONS else "other"
    await end_call(router, call, Outcome.OVERFLOWED, reason, received)


async def end_call(
    router: Router, call: Call, outcome: Outcome, detail: str, received: float,
    talk: float | None = None,
) -> None:
    """End ``call`` with ``outcome`` unless it already ended; count it and free its agent.

    ``talk`` is the talk time Asterisk reported for a conversation that ended while acd was
    away; without it, a connected call has talked until now."""
    now = router.clock()
    ended = await router.store.finish(call, outcome, now, detail)
    if ended is None:
        return  # already ended, by this process or another
    previous, agent_id = ended
    queue = router.queues.get(call.queue) or Queue(call.queue)
    wait = now - call.arrived_at
    if previous is CallStatus.CONNECTED:
        await _call_completed(router, call, queue, agent_id, now, received, talk)
        return
    if outcome is Outcome.ABANDONED:
        router.metrics.calls_abandoned.labels(call.queue).inc()
        if wait <= router.settings.short_abandon_seconds:
            router.metrics.calls_short_abandoned.labels(call.queue).inc()
    elif outcome is Outcome.OVERFLOWED:
        router.metrics.calls_overflowed.labels(call.queue, detail).inc()
    elif outcome is Outcome.FAILED:
        router.metrics.calls_failed.labels(call.queue, detail).inc()
    router.metrics.wait_seconds.labels(call.queue, outcome.value).observe(wait)
    log.info("call ended", extra={"call": call.id, "queue": call.queue,
                                  "outcome": outcome.value, "detail": detail,
                                  "wait": round(wait, 3)})
    await router.publish(f"call.{outcome.value}", call=call.id, queue=call.queue,
                        wait_seconds=round(wait, 3), detail=detail)
    await router.store.add_history(call.id, {"at": now, "event": f"call.{outcome.value}",
                                             "detail": detail})
    if previous is CallStatus.OFFERED and agent_id:
        agent = await router.store.get_agent(agent_id)
        if agent is not None:
            await router.store.set_agent_state(agent, AgentState.READY, now,
                                             expected_call=call.id)
            await router.route_agent(agent_id, received)


async def _call_completed(
    router: Router, call: Call, queue: Queue, agent_id: str, now: float, received: float,
    talked: float | None,
) -> None:
    talk, agent = await handover_agent(router, call, queue, agent_id, now, received, talked)
    log.info("call completed", extra={"call": call.id, "agent": agent_id,
                                      "queue": call.queue, "talk": round(talk, 3)})
    await router.publish("call.ended", call=call.id, agent=agent_id, queue=call.queue,
                         team=agent.team if agent is not None else "",
                         talk_seconds=round(talk, 3),
                         handle_seconds=round(talk + queue.wrap_up_seconds, 3))
    await router.store.add_history(call.id, {"at": now, "event": "call.ended",
                                             "agent": agent_id, "outcome": "answered"})


async def handover_agent(
    router: Router, call: Call, queue: Queue, agent_id: str, now: float, received: float,
    talked: float | None = None,
) -> tuple[float, Agent | None]:
    """The agent's part of ``call`` is over (it ended, or went to a lead): count the talk
    (``talked`` if Asterisk reported it, else since the answer), start wrap-up or make the
    agent ready. Returns the talk time, and the agent."""
    if talked is None:
        fields = await router.store.get_call_fields(call.id)
        talked = now - float(fields.get("answered_at") or now)
    talk = max(0.0, talked)
    wrap_up = queue.wrap_up_seconds
    router.metrics.talk_seconds.labels(call.queue).observe(talk)
    router.metrics.handle_seconds.labels(call.queue).observe(talk + wrap_up)
    router.metrics.wrapup_seconds.labels(call.queue).observe(wrap_up)
    agent = await router.store.get_agent(agent_id) if agent_id else None
    if agent is None:
        return talk, None
    await router.store.count_handled(agent.id, talk, router.day_of(now))
    if wrap_up > 0:
        await router.store.set_agent_state(agent, AgentState.WRAP_UP, now,
                                         expected_call=call.id, wrap_up_until=now + wrap_up)
        return talk, agent
    await router.store.set_agent_state(agent, AgentState.READY, now, expected_call=call.id)
    await router.route_agent(agent.id, received)
    return talk, agent
