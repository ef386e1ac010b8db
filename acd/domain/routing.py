"""Routing decisions: which agent takes a call, which call a freed agent takes.

Pure functions over snapshots handed in by the service; the clock is a parameter. These are
the reference implementation: plain scans, easy to read. ``agent_index`` and ``call_index``
give the same answers without scanning everyone, and the property tests hold them to it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

from acd.domain.model import MAX_RANK, Agent, Assignment, Call, CallStatus, Queue
from acd.domain.priority import call_order_key
from acd.domain.steps import eligibility, escalation_tier
from acd.domain.strategies import is_available, pick_agent

# Where a queue ranks for a lead or supervisor who serves it only through its team: after
# every queue the agent is a member of.
OVERFLOW_RANK = MAX_RANK + 1

CallKey = tuple[int, int, float, str]


def can_take(
    agent: Agent, call: Call, queue: Queue | None = None, now: float | None = None
) -> bool:
    """True if ``agent`` is available and may take ``call`` at the step it is in at ``now``."""
    who = eligibility(call, queue or Queue(call.queue), now)
    return who is not None and is_available(agent) and who.admits(agent)


def choose_agent_for_call(
    call: Call,
    queue: Queue,
    agents: Iterable[Agent],
    *,
    now: float | None = None,
    rng: random.Random | None = None,
    cursor: str = "",
) -> Assignment | None:
    """Pick the agent who takes ``call`` by the queue's strategy, among those who may.

    ``now`` None ignores time (the call's recorded step); ``rng`` is for the random strategy
    and ``cursor`` (the agent this queue offered to last) for round robin.
    """
    if call.status is not CallStatus.WAITING:
        return None
    who = eligibility(call, queue, now)
    if who is None:
        return None
    candidates: Iterable[Agent] = (
        agent for agent in agents if is_available(agent) and who.admits(agent)
    )
    if call.escalated_by:
        admitted = list(candidates)
        first = min((escalation_tier(call, agent) for agent in admitted), default=0)
        candidates = [agent for agent in admitted if escalation_tier(call, agent) == first]
    best = pick_agent(
        queue.strategy, candidates, skills=who.ranked_skills, rng=rng, cursor=cursor, seed=call.id
    )
    if best is None:
        return None
    return Assignment(call_id=call.id, agent_id=best.id, queue=queue.name, step=who.step)


def agent_rank(agent: Agent, queue: str) -> int:
    """The agent's rank for ``queue``: its membership rank, else after all its own queues."""
    return agent.queues.get(queue, OVERFLOW_RANK)


def choose_call_for_agent(
    agent: Agent,
    waiting: Mapping[str, Sequence[Call]],
    *,
    now: float | None = None,
    queues: Mapping[str, Queue] | None = None,
) -> Assignment | None:
    """Pick the call a freed agent takes: better-ranked queue, then priority, then wait.

    ``waiting`` maps queues to their waiting calls in any order: the agent's own queues, and
    for a lead or supervisor the queues its team serves. ``queues`` gives their configuration
    (steps, teams, aging); without it, defaults. ``now`` None ignores time.
    """
    if not is_available(agent):
        return None
    best: tuple[CallKey, Call, int] | None = None
    for queue_name, calls in waiting.items():
        queue = (queues or {}).get(queue_name) or Queue(queue_name)
        rank = agent_rank(agent, queue_name)
        for call in calls:
            if call.status is not CallStatus.WAITING:
                continue
            who = eligibility(call, queue, now)
            if who is None or not who.admits(agent):
                continue
            key = (rank, *call_order_key(call, queue, now))
            if best is None or key < best[0]:
                best = (key, call, who.step)
    if best is None:
        return None
    _, call, step = best
    return Assignment(call_id=call.id, agent_id=agent.id, queue=call.queue, step=step)
