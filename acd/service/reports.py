"""The read model for supervisors: teams and their leads, real-time queue and team figures.

Definitions (the same in the README):

- service level: calls answered within the queue's ``service_level_seconds`` over the calls
  offered to the queue today (a call overflowed or moved in counts as offered); ``None``
  while none was. The same definition as deploy/prometheus's recording rules, so a
  supervisor's wallboard and the NOC's Grafana agree.
- abandon rate: abandoned over the same offered calls.
- ASA (average speed of answer): the average wait of today's answered calls.
- AHT (average handle time): talk plus the queue's wrap-up, averaged over today's answered
  calls that have ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from acd.domain.model import Agent, AgentState, Queue, Role
from acd.service.daily_stats import DailyStats, DayCounters, Scope
from acd.store import Store
from acd.store.codec import arrival_from_score


@dataclass(frozen=True, slots=True)
class TeamRoster:
    """A team: every agent in it (leads and supervisors too), who leads, what it serves."""

    name: str
    leads: list[str]
    supervisors: list[str]
    members: list[str]
    queues: list[str]  # queues whose ``teams`` include this one


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A queue now and today."""

    queue: str
    day: str
    waiting: int
    oldest_wait_seconds: float
    agents: dict[str, int]  # agents serving the queue, by state
    offered: int
    answered: int
    answered_within_sl: int
    abandoned: int
    short_abandoned: int
    overflowed: int
    failed: int
    handled: int
    service_level_seconds: float
    service_level: float | None
    abandon_rate: float | None
    asa_seconds: float | None
    aht_seconds: float | None


@dataclass(frozen=True, slots=True)
class TeamStats:
    """A team now (members by state) and today (calls its agents answered and handled)."""

    team: str
    day: str
    leads: list[str]
    supervisors: list[str]
    members: list[str]
    queues: list[str]
    agents: dict[str, int]
    answered: int
    answered_within_sl: int
    handled: int
    asa_seconds: float | None
    aht_seconds: float | None


def team_rosters(agents: Iterable[Agent], queues: Iterable[Queue]) -> list[TeamRoster]:
    """Every team named by an agent's ``team`` or a queue's ``teams``, by name."""
    staff: dict[str, list[Agent]] = {}
    served: dict[str, list[str]] = {}
    for agent in sorted(agents, key=lambda a: a.id):
        if agent.team:
            staff.setdefault(agent.team, []).append(agent)
    for queue in sorted(queues, key=lambda q: q.name):
        for team in queue.teams:
            served.setdefault(team, []).append(queue.name)
    return [
        TeamRoster(
            name=name,
            leads=[a.id for a in staff.get(name, []) if a.role is Role.LEAD],
            supervisors=[a.id for a in staff.get(name, []) if a.role is Role.SUPERVISOR],
            members=[a.id for a in staff.get(name, [])],
            queues=served.get(name, []),
        )
        for name in sorted(set(staff) | set(served))
    ]


def by_state(agents: Iterable[Agent]) -> dict[str, int]:
    """How many agents are in each state (every state listed, zeros included)."""
    counts = Counter(a.state for a in agents)
    return {state.value: counts[state] for state in AgentState}


def ratio(part: float, whole: float, digits: int = 4) -> float | None:
    """``part / whole`` rounded, or None when ``whole`` is 0."""
    return round(part / whole, digits) if whole else None


def service_level(counters: DayCounters) -> float | None:
    """Answered within the threshold over offered calls (None if none): the definition of
    deploy/prometheus's recording rules, so the API and Grafana show the same figure."""
    return ratio(counters.answered_within_sl, counters.offered)


def abandon_rate(counters: DayCounters) -> float | None:
    """Abandoned over offered calls (None if none), as the recording rules compute it."""
    return ratio(counters.abandoned, counters.offered)


async def queue_stats(store: Store, stats: DailyStats, queue: Queue, now: float) -> QueueStats:
    """A queue's waiting calls and agents from Redis now, and its counters of today."""
    scores = await store.waiting_scores(queue.name)
    oldest = min((arrival_from_score(s) for s in scores), default=now)
    serving = [a for a in await store.list_agents() if queue.name in a.queues]
    day = stats.day_of(now)
    c = await stats.read(day, Scope.QUEUE, queue.name)
    return QueueStats(
        queue=queue.name,
        day=day,
        waiting=len(scores),
        oldest_wait_seconds=round(max(0.0, now - oldest), 3),
        agents=by_state(serving),
        offered=c.offered,
        answered=c.answered,
        answered_within_sl=c.answered_within_sl,
        abandoned=c.abandoned,
        short_abandoned=c.short_abandoned,
        overflowed=c.overflowed,
        failed=c.failed,
        handled=c.handled,
        service_level_seconds=queue.service_level_seconds,
        service_level=service_level(c),
        abandon_rate=abandon_rate(c),
        asa_seconds=ratio(c.wait_answered_sum, c.answered, 3),
        aht_seconds=ratio(c.handle_sum, c.handled, 3),
    )


async def team_stats(store: Store, stats: DailyStats, roster: TeamRoster, now: float) -> TeamStats:
    """A team's members by state now, and what its agents answered and handled today."""
    members = await store.get_agents(roster.members)
    day = stats.day_of(now)
    c = await stats.read(day, Scope.TEAM, roster.name)
    return TeamStats(
        team=roster.name,
        day=day,
        leads=roster.leads,
        supervisors=roster.supervisors,
        members=roster.members,
        queues=roster.queues,
        agents=by_state(members),
        answered=c.answered,
        answered_within_sl=c.answered_within_sl,
        handled=c.handled,
        asa_seconds=ratio(c.wait_answered_sum, c.answered, 3),
        aht_seconds=ratio(c.handle_sum, c.handled, 3),
    )
