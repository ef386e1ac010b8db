"""Queue strategies: how a queue picks one agent among those who may take a call.

Every strategy is a total order (ties end on the agent id), so a decision is reproducible
from its inputs; the random strategy draws from a ``random.Random`` handed in. Round robin
keeps no hidden cursor: the caller passes the id of the agent the queue offered to last.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from acd.domain.model import Agent, AgentState, Strategy

SortKey = tuple[float, float, str]

# Strategies whose order depends on the agent alone: an index can keep agents sorted by them.
ORDERED = frozenset({Strategy.LONGEST_IDLE, Strategy.FEWEST_CALLS, Strategy.LEAST_TALK_TIME})


def is_available(agent: Agent) -> bool:
    """True if the agent may be offered a call now: ready, and its phone not busy."""
    return agent.state is AgentState.READY and not agent.device_busy


def strategy_key(strategy: Strategy, agent: Agent) -> SortKey:
    """The agent's place in a queue's order, lower first; id order for the other strategies.

    Ties go to whoever has been idle longest, then to the lower id.
    """
    if strategy is Strategy.LONGEST_IDLE:
        return (agent.idle_since, 0.0, agent.id)
    if strategy is Strategy.FEWEST_CALLS:
        return (float(agent.calls_taken), agent.idle_since, agent.id)
    if strategy is Strategy.LEAST_TALK_TIME:
        return (agent.talk_seconds, agent.idle_since, agent.id)
    return (0.0, 0.0, agent.id)


def best_skill_key(agent: Agent, skills: Sequence[str]) -> SortKey:
    """Highest total proficiency on the call's required skills first, then longest idle."""
    score = sum(agent.skills.get(name, 0) for name in skills)
    return (float(-score), agent.idle_since, agent.id)


def round_robin_key(agent: Agent, cursor: str) -> tuple[bool, str]:
    """The agents after ``cursor`` in id order first, then from the start again."""
    return (agent.id <= cursor, agent.id)


def pick_agent(
    strategy: Strategy,
    candidates: Iterable[Agent],
    *,
    skills: Sequence[str] = (),
    rng: random.Random | None = None,
    cursor: str = "",
    seed: str = "",
) -> Agent | None:
    """The agent ``strategy`` picks among ``candidates`` (all of whom may take the call).

    ``skills`` rank agents for best-skill; ``rng`` draws for random (seeded by ``seed``,
    the call id, when not given, so a decision is repeatable); ``cursor`` is round robin's.
    """
    pool = list(candidates)
    if not pool:
        return None
    if strategy is Strategy.RANDOM:
        pool.sort(key=lambda agent: agent.id)  # the draw must not depend on input order
        draw = rng if rng is not None else random.Random(seed)
        return pool[draw.randrange(len(pool))]
    if strategy is Strategy.ROUND_ROBIN:
        return min(pool, key=lambda agent: round_robin_key(agent, cursor))
    if strategy is Strategy.BEST_SKILL:
        return min(pool, key=lambda agent: best_skill_key(agent, skills))
    return min(pool, key=lambda agent: strategy_key(strategy, agent))
