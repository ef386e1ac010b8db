"""Live gauges for the NOC: calls waiting, oldest wait, agents by state per queue and team,
and per agent when enabled.

Set every few seconds from the process's in-memory view, which follows every acd process's
changes: every process sharing one Redis reports the same figures, and no agent is read from
Redis for them. Everything is read first and the gauges are then replaced in one go, with
no await in between: a scrape never sees half an update, and the series of a deleted queue,
team or agent disappear instead of keeping their last value.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from acd.domain.counts import counted_today
from acd.domain.model import AgentState
from acd.metrics import Metrics
from acd.service.mirror import Mirror


def refresh_gauges(
    mirror: Mirror,
    metrics: Metrics,
    clock: Callable[[], float] = time.time,
    *,
    per_agent: bool = False,
    today: str = "",
) -> None:
    """Set the queue and agent gauges from the in-memory view (per agent too if
    ``per_agent``; ``today`` is the local day agents' call counts are kept by)."""
    now = clock()
    by_queue = {key: n for key, n in mirror.agent_counts.items() if n}
    by_team = {key: n for key, n in mirror.team_counts.items() if n}
    queue_names = set(mirror.queues) | {q for q, _ in by_queue}
    teams = {t for t, _ in by_team}
    for gauge in (
        metrics.queue_waiting,
        metrics.queue_oldest_wait,
        metrics.agents,
        metrics.team_agents,
        metrics.agent_state,
        metrics.agent_calls_today,
    ):
        gauge.clear()
    for name in mirror.queues:
        waiting, oldest = mirror.waiting.summary(name)
        metrics.queue_waiting.labels(name).set(waiting)
        metrics.queue_oldest_wait.labels(name).set(max(0.0, now - oldest) if waiting else 0.0)
    for state in AgentState:
        for name in queue_names:
            metrics.agents.labels(name, state.value).set(by_queue.get((name, state.value), 0))
        for team in teams:
            metrics.team_agents.labels(team, state.value).set(by_team.get((team, state.value), 0))
    if per_agent:
        for agent in mirror.all_agents():
            for state in AgentState:
                metrics.agent_state.labels(agent.id, state.value).set(int(agent.state is state))
            metrics.agent_calls_today.labels(agent.id).set(counted_today(agent, today).calls_taken)
