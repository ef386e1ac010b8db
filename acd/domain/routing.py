"""Routing decisions: which agent takes a call, which call a freed agent takes.

Pure functions over snapshots handed in by the service; the clock is a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from acd.domain.model import Agent, AgentState, Assignment, Call, CallStatus, Queue
from acd.domain.skills import meets


def call_order_key(call: Call) -> tuple[int, float, str]:
    """Higher priority first, then first come first served; the id breaks exact ties."""
    return (-call.priority, call.arrived_at, call.id)


def can_take(agent: Agent, call: Call) -> bool:
    """True if ``agent`` is ready, serves the call's queue and has the call's skills."""
    return (
        agent.state is AgentState.READY
        and call.queue in agent.queues
        and meets(agent.skills, call.skills)
    )


def choose_agent_for_call(call: Call, queue: Queue, agents: Iterable[Agent]) -> Assignment | None:
    """Pick the agent who has been idle longest among those who can take ``call``."""
    if call.status is not CallStatus.WAITING:
        return None
    best: Agent | None = None
    for agent in agents:
        if not can_take(agent, call):
            continue
        if best is None or (agent.idle_since, agent.id) < (best.idle_since, best.id):
            best = agent
    if best is None:
        return None
    return Assignment(call_id=call.id, agent_id=best.id, queue=queue.name)


def choose_call_for_agent(
    agent: Agent, waiting: Mapping[str, Sequence[Call]]
) -> Assignment | None:
    """Pick the call a freed agent takes: better-ranked queue, then priority, then wait.

    ``waiting`` maps each of the agent's queues to its waiting calls in any order.
    """
    if agent.state is not AgentState.READY:
        return None
    best: tuple[tuple[int, int, float, str], Call] | None = None
    for queue_name, calls in waiting.items():
        rank = agent.queues.get(queue_name)
        if rank is None:
            continue
        for call in calls:
            if call.status is not CallStatus.WAITING or not meets(agent.skills, call.skills):
                continue
            key = (rank, *call_order_key(call))
            if best is None or key < best[0]:
                best = (key, call)
    if best is None:
        return None
    call = best[1]
    return Assignment(call_id=call.id, agent_id=agent.id, queue=call.queue)
