"""What happens to an offer: the agent's phone rings, the agent answers (the call is
connected and counted), or does not (the call goes back to its place, the agent is paused
for no-answer), or nothing comes back in time (a lost offer counts as a no-answer).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from acd.domain.events import AgentAnswered, AgentMissed, AgentRinging
from acd.domain.model import AgentState, Call, CallStatus, Outcome, Queue
from acd.domain.state_machine import PauseReason

if TYPE_CHECKING:
    from acd.service.router import Router

log = logging.getLogger("acd.router")


async def agent_ringing(router: Router, event: AgentRinging) -> None:
    call = await router.store.get_call(event.call_id)
    if call is None or call.status is not CallStatus.OFFERED:
        return
    agent = await router.store.get_agent(call.agent)
    if agent is not None:
        await router.store.set_agent_state(agent, AgentState.RINGING, router.clock(),
                                         expected_call=call.id, call=call.id)


async def agent_answered(router: Router, event: AgentAnswered, answered_at: float = 0.0) -> None:
    """``answered_at``: when the agent answered, if acd learns of it later (a reconciliation
    finding caller and agent already bridged); else now."""
    now = answered_at or router.clock()
    call = await router.store.get_call(event.call_id)
    connected = (
        await router.store.connect(event.call_id, now, event.agent_channel) if call else None
    )
    if call is None or connected is None:
        return
    agent_id, _fence = connected
    agent = await router.store.get_agent(agent_id)
    if agent is not None:
        await router.store.set_agent_state(agent, AgentState.BUSY, now,
                                         expected_call=call.id, call=call.id)
    team = agent.team if agent is not None else ""
    wait = now - call.arrived_at
    await router.store.add_history(call.id, {"at": now, "event": "call.answered",
                                           "agent": agent_id})
    if call.escalated_by:
        # Counted answered (and its wait and first response) when the first agent took it.
        log.info("escalated call answered", extra={"call": call.id, "agent": agent_id,
                                                   "queue": call.queue})
        await router.publish("call.answered", call=call.id, agent=agent_id, queue=call.queue,
                           team=team, wait_seconds=round(wait, 3), escalated=True)
        return
    router.metrics.calls_answered.labels(call.queue).inc()
    router.metrics.wait_seconds.labels(call.queue, Outcome.ANSWERED.value).observe(wait)
    router.metrics.first_response_seconds.labels(call.queue, "voice").observe(wait)
    log.info("call answered", extra={"call": call.id, "agent": agent_id,
                                     "queue": call.queue, "wait": round(wait, 3)})
    within = wait <= router.queue_of(call).service_level_seconds
    await router.publish("call.answered", call=call.id, agent=agent_id, queue=call.queue,
                       team=team, wait_seconds=round(wait, 3),
                       within_service_level=within)


async def agent_missed(router: Router, event: AgentMissed, received: float) -> None:
    if event.status == "CANCEL":
        return  # the caller hung up while ringing; their Hangup settles call and agent
    fields = await router.store.get_call_fields(event.call_id)
    if not fields or fields.get("status") != CallStatus.OFFERED.value:
        return
    if event.agent and fields.get("agent") != event.agent:
        return  # about an earlier offer of this call, to another agent
    call = await router.store.get_call(event.call_id)
    assert call is not None
    agent_id = await router.store.release(call, int(fields.get("fence", "0")))
    if agent_id is None:
        return
    now = router.clock()
    agent = await router.store.get_agent(agent_id)
    queue = router.queues.get(call.queue) or Queue(call.queue)
    pause = router.settings.no_answer_pause and queue.no_answer_pause
    if agent is not None:
        if pause:
            # The wrap-up timer doubles as the no-answer pause's automatic end.
            resume = router.settings.no_answer_pause_seconds
            await router.store.set_agent_state(agent, AgentState.PAUSED, now,
                                             expected_call=call.id,
                                             reason=PauseReason.NO_ANSWER.value,
                                             wrap_up_until=now + resume if resume else 0.0)
        else:
            await router.store.set_agent_state(agent, AgentState.READY, now,
                                             expected_call=call.id)
    log.info("agent did not answer, call back in line",
             extra={"call": call.id, "agent": agent_id, "status": event.status})
    await router.publish("agent.missed", call=call.id, agent=agent_id, status=event.status)
    await router.store.add_history(call.id, {"at": now, "event": "agent.missed",
                                           "agent": agent_id, "status": event.status})
    await router.route_call(replace_status(call, CallStatus.WAITING), queue, received)
    if not pause:
        await router.route_agent(agent_id, received)


async def settle_lost_offer(router: Router, call_id: str, received: float) -> None:
    """No answer and no no-answer came back in time: the offer is lost, retry."""
    log.warning("offer lost, calling it a no-answer", extra={"call": call_id})
    await agent_missed(router, AgentMissed(call_id, "LOST"), received)


def replace_status(call: Call, status: CallStatus) -> Call:
    """``call`` with another status (calls are frozen)."""
    return replace(call, status=status, agent="")
