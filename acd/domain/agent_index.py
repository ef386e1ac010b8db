"""An in-memory index of agents, so a call's decision does not scan every agent.

Per queue, the available members are kept sorted in the queue's strategy order (``bisect`` on
plain lists); per team, the logged-in leads and supervisors. An agent's change costs a few
list insertions per queue it belongs to. The answers are those of ``routing`` (the
reference); the property tests check that on random workloads.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator

from acd.domain.model import Agent, Assignment, Call, CallStatus, Queue, Role, Strategy
from acd.domain.steps import (
    Eligibility,
    Overflow,
    eligibility,
    is_logged_in,
    plan_overflow,
)
from acd.domain.strategies import ORDERED, SortKey, is_available, pick_agent, strategy_key

_STAFF = frozenset({Role.LEAD, Role.SUPERVISOR})


class AgentIndex:
    """Agents by queue and team, kept current by :meth:`update` on every agent change."""

    def __init__(self, queues: Iterable[Queue] = (), agents: Iterable[Agent] = ()) -> None:
        self._queues: dict[str, Queue] = {}
        self._agents: dict[str, Agent] = {}
        # queue -> ids of its logged-in members; queue -> available members, strategy order
        self._logged_in: dict[str, set[str]] = {}
        self._ready: dict[str, list[SortKey]] = {}
        # team -> ids of its logged-in leads and supervisors (few: scanned, not sorted)
        self._staff: dict[str, set[str]] = {}
        for queue in queues:
            self.set_queue(queue)
        for agent in agents:
            self.update(agent)

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents

    def ids(self) -> list[str]:
        """Every indexed agent's id."""
        return list(self._agents)

    def has_available(self, queue: str) -> bool:
        """True if some member of ``queue`` is available (its teams' staff not counted)."""
        return bool(self._ready.get(queue))

    def available_staff(self, team: str) -> bool:
        """True if some logged-in lead or supervisor of ``team`` is available."""
        return any(is_available(self._agents[i]) for i in self._staff.get(team, ()))

    def get(self, agent_id: str) -> Agent | None:
        """The indexed snapshot of an agent."""
        return self._agents.get(agent_id)

    def queue(self, name: str) -> Queue:
        """The configuration the index routes ``name`` by (defaults if never set)."""
        return self._queues.get(name) or Queue(name)

    def set_queue(self, queue: Queue) -> None:
        """Add or change a queue's configuration; a new strategy re-sorts its agents."""
        previous = self.queue(queue.name)
        self._queues[queue.name] = queue
        if previous.strategy is not queue.strategy:
            self._ready[queue.name] = sorted(
                strategy_key(queue.strategy, agent)
                for agent in self._members(queue.name)
                if is_available(agent)
            )

    def update(self, agent: Agent) -> None:
        """Take in an agent's new snapshot (state, skills, queues, counters: any change)."""
        previous = self._agents.get(agent.id)
        if previous is not None:
            self._forget(previous)
        self._agents[agent.id] = agent
        self._remember(agent)

    def remove(self, agent_id: str) -> None:
        """Forget an agent (deleted from the configuration)."""
        previous = self._agents.pop(agent_id, None)
        if previous is not None:
            self._forget(previous)

    def _remember(self, agent: Agent) -> None:
        if not is_logged_in(agent):
            return
        for name in agent.queues:
            self._logged_in.setdefault(name, set()).add(agent.id)
            if is_available(agent):
                insort(self._ready.setdefault(name, []), self._key(name, agent))
        if agent.role in _STAFF and agent.team:
            self._staff.setdefault(agent.team, set()).add(agent.id)

    def _forget(self, agent: Agent) -> None:
        if not is_logged_in(agent):
            return
        for name in agent.queues:
            self._logged_in[name].discard(agent.id)
            if is_available(agent):
                keys = self._ready[name]
                del keys[bisect_left(keys, self._key(name, agent))]
        if agent.role in _STAFF and agent.team:
            self._staff[agent.team].discard(agent.id)

    def _key(self, queue: str, agent: Agent) -> SortKey:
        return strategy_key(self.queue(queue).strategy, agent)

    def _members(self, queue: str) -> Iterator[Agent]:
        for agent_id in self._logged_in.get(queue, ()):
            yield self._agents[agent_id]

    def _team_staff(self, who: Eligibility) -> Iterator[Agent]:
        """Logged-in leads and supervisors of the queue's teams who are not its members."""
        if not (who.leads or who.supervisors):
            return
        for team in who.teams:
            for agent_id in self._staff.get(team, ()):
                agent = self._agents[agent_id]
                if who.queue not in agent.queues:
                    yield agent

    # --- decisions ----------------------------------------------------------------------------

    def choose_agent_for_call(
        self,
        call: Call,
        *,
        now: float | None = None,
        rng: random.Random | None = None,
        cursor: str = "",
    ) -> Assignment | None:
        """:func:`routing.choose_agent_for_call` for the call's queue as the index knows it."""
        if call.status is not CallStatus.WAITING:
            return None
        queue = self.queue(call.queue)
        who = eligibility(call, queue, now)
        if who is None:
            return None
        pool = [a for a in self._team_staff(who) if is_available(a) and who.admits(a)]
        keys = self._ready.get(queue.name, [])
        if queue.strategy in ORDERED:
            pool += self._first_admitted(keys, 0, who)
        elif queue.strategy is Strategy.ROUND_ROBIN:
            pool += self._first_admitted(keys, bisect_right(keys, (0.0, 0.0, cursor)), who)
        else:  # best skill and random weigh every candidate
            pool += (self._agents[key[2]] for key in keys if who.admits(self._agents[key[2]]))
        best = pick_agent(
            queue.strategy, pool, skills=who.ranked_skills, rng=rng, cursor=cursor, seed=call.id
        )
        if best is None:
            return None
        return Assignment(call_id=call.id, agent_id=best.id, queue=queue.name, step=who.step)

    def _first_admitted(self, keys: list[SortKey], start: int, who: Eligibility) -> list[Agent]:
        """The first agent in ``keys`` from ``start`` (wrapping round) whom ``who`` admits."""
        count = len(keys)
        for offset in range(count):
            agent = self._agents[keys[(start + offset) % count][2]]
            if who.admits(agent):
                return [agent]
        return []

    def overflow_decision(
        self, call: Call, now: float, *, waiting_ahead: int = 0
    ) -> Overflow | None:
        """:func:`steps.overflow_decision` over the indexed agents."""

        def someone_could_take(who: Eligibility) -> bool:
            members = (agent for agent in self._members(who.queue) if who.admits(agent))
            staff = (agent for agent in self._team_staff(who) if who.admits(agent))
            return next(members, None) is not None or next(staff, None) is not None

        queue = self.queue(call.queue)
        return plan_overflow(call, queue, now, someone_could_take, waiting_ahead=waiting_ahead)
