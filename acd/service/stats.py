"""Live gauges for the NOC: calls waiting, oldest wait, agents by state per queue and team,
and per agent when enabled.

Recomputed from Redis every few seconds, so every acd process sharing one Redis reports the
same, true, figures. Everything is read first and the gauges are then replaced in one go, with
no await in between: a scrape never sees half an update, and the series of a deleted queue,
team or agent disappear instead of keeping their last value.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from acd.domain.model import AgentState
from acd.metrics import Metrics
from acd.store import Store
from acd.store.codec import arrival_from_score


async def refresh_gauges(store: Store, metrics: Metrics, clock: Callable[[], float] = time.time,
                         *, per_agent: bool = False, today: str = "") -> None:
    """Set the queue and agent gauges from Redis (per agent too if ``per_agent``; ``today``
    is the local day agents' call counts are kept by)."""
    queues = await store.list_queues()
    scores = {queue.name: await store.waiting_scores(queue.name) for queue in queues}
    agents = await store.list_agents()
    now = clock()
    by_queue: Counter[tuple[str, str]] = Counter()
    by_team: Counter[tuple[str, str]] = Counter()
    for agent in agents:
        for queue_name in agent.queues:
            by_queue[(queue_name, agent.state.value)] += 1
        if agent.team:
            by_team[(agent.team, agent.state.value)] += 1
    queue_names = set(scores) | {q for q, _ in by_queue}
    teams = {t for t, _ in by_team}
    for gauge in (metrics.queue_waiting, metrics.queue_oldest_wait, metrics.agents,
                  metrics.team_agents, metrics.agent_state, metrics.agent_calls_today):
        gauge.clear()
    for name, waiting in scores.items():
        metrics.queue_waiting.labels(name).set(len(waiting))
        oldest = min((arrival_from_score(s) for s in waiting), default=now)
        metrics.queue_oldest_wait.labels(name).set(max(0.0, now - oldest))
    for state in AgentState:
        for name in queue_names:
            metrics.agents.labels(name, state.value).set(by_queue[(name, state.value)])
        for team in teams:
            metrics.team_agents.labels(team, state.value).set(by_team[(team, state.value)])
    if per_agent:
        for agent in agents:
            for state in AgentState:
                metrics.agent_state.labels(agent.id, state.value).set(
                    int(agent.state is state))
            # An agent's count is of the day it was last counted: yesterday's reads as 0.
            taken = agent.calls_taken if agent.counts_day == today else 0
            metrics.agent_calls_today.labels(agent.id).set(taken)
