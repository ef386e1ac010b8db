"""Live gauges for the NOC: calls waiting, oldest wait, agents by state per queue and team.

Recomputed from Redis every few seconds, so every acd process sharing one Redis reports the
same, true, figures.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from acd.domain.model import AgentState
from acd.metrics import Metrics
from acd.store import Store
from acd.store.codec import arrival_from_score


async def refresh_gauges(store: Store, metrics: Metrics, clock: Callable[[], float] = time.time
                         ) -> None:
    """Set the queue and agent gauges from Redis."""
    now = clock()
    queues = await store.list_queues()
    for queue in queues:
        scores = await store.waiting_scores(queue.name)
        metrics.queue_waiting.labels(queue.name).set(len(scores))
        oldest = min((arrival_from_score(s) for s in scores), default=now)
        metrics.queue_oldest_wait.labels(queue.name).set(max(0.0, now - oldest))
    by_queue: Counter[tuple[str, str]] = Counter()
    by_team: Counter[tuple[str, str]] = Counter()
    for agent in await store.list_agents():
        for queue_name in agent.queues:
            by_queue[(queue_name, agent.state.value)] += 1
        if agent.team:
            by_team[(agent.team, agent.state.value)] += 1
    queue_names = {q.name for q in queues} | {q for q, _ in by_queue}
    teams = {t for t, _ in by_team}
    for state in AgentState:
        for name in queue_names:
            metrics.agents.labels(name, state.value).set(by_queue[(name, state.value)])
        for team in teams:
            metrics.team_agents.labels(team, state.value).set(by_team[(team, state.value)])
