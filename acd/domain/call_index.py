"""An in-memory index of waiting calls, so a freed agent's decision does not scan every call.

Per queue, one line per priority level, each in order of arrival (``bisect`` on plain lists).
Aging cannot reorder a line (an older call has aged at least as much), so the first call in a
line that the agent may take is the best of that line: a decision looks at the heads of the
agent's queues' lines and walks on only past calls the agent may not take.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from acd.domain.model import (
    ESCALATED_PRIORITY,
    MAX_PRIORITY,
    MIN_PRIORITY,
    Agent,
    Assignment,
    Call,
    CallStatus,
    Queue,
    Role,
)
from acd.domain.priority import call_order_key
from acd.domain.routing import CallKey, agent_rank
from acd.domain.steps import eligibility
from acd.domain.strategies import is_available

_Line = list[tuple[float, str]]  # (arrived_at, call id), oldest first


class WaitingCalls:
    """Waiting calls by queue and priority, kept current by :meth:`add` and :meth:`remove`."""

    def __init__(self, queues: Iterable[Queue] = (), calls: Iterable[Call] = ()) -> None:
        self._queues: dict[str, Queue] = {}
        self._team_queues: dict[str, set[str]] = {}  # team -> queues it serves
        self._calls: dict[str, Call] = {}
        self._lines: dict[str, list[_Line]] = {}
        self._count: dict[str, int] = {}  # queue -> calls waiting there (none: absent)
        for queue in queues:
            self.set_queue(queue)
        for call in calls:
            self.add(call)

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def get(self, call_id: str) -> Call | None:
        """The indexed snapshot of a waiting call."""
        return self._calls.get(call_id)

    def queue(self, name: str) -> Queue:
        """The configuration the index orders ``name`` by (defaults if never set)."""
        return self._queues.get(name) or Queue(name)

    def set_queue(self, queue: Queue) -> None:
        """Add or change a queue's configuration (its teams decide which leads it reaches)."""
        for team in self.queue(queue.name).teams:
            self._team_queues.get(team, set()).discard(queue.name)
        self._queues[queue.name] = queue
        for team in queue.teams:
            self._team_queues.setdefault(team, set()).add(queue.name)

    def add(self, call: Call) -> None:
        """A call starts waiting (or its snapshot changed: step, skills)."""
        self.remove(call.id)
        self._calls[call.id] = call
        self._count[call.queue] = self._count.get(call.queue, 0) + 1
        lines = self._lines.setdefault(call.queue, [[] for _ in range(ESCALATED_PRIORITY + 1)])
        insort(lines[_level(call)], (call.arrived_at, call.id))

    def remove(self, call_id: str) -> Call | None:
        """A call stops waiting (offered, ended, moved); returns what was indexed."""
        call = self._calls.pop(call_id, None)
        if call is not None:
            self._count[call.queue] -= 1
            if not self._count[call.queue]:
                del self._count[call.queue]
            line = self._lines[call.queue][_level(call)]
            del line[bisect_left(line, (call.arrived_at, call.id))]
        return call

    def summary(self, queue: str) -> tuple[int, float]:
        """How many calls wait in ``queue``, and the arrival of the oldest (0 if none)."""
        lines = [line for line in self._lines.get(queue, ()) if line]
        return sum(map(len, lines)), min((line[0][0] for line in lines), default=0.0)

    def has_waiting(self, queue: str) -> bool:
        """True if some call waits in ``queue``."""
        return queue in self._count

    def queues_with_calls(self) -> set[str]:
        """The queues where some call waits (without looking at the others)."""
        return set(self._count)

    def in_line(self, queue: str, now: float | None = None) -> list[Call]:
        """The queue's waiting calls in the order they are served at ``now``."""
        config = self.queue(queue)
        calls = [self._calls[cid] for line in self._lines.get(queue, []) for _, cid in line]
        return sorted(calls, key=lambda call: call_order_key(call, config, now))

    def waiting_ahead(self, call: Call, now: float | None = None) -> int:
        """How many calls of its queue are served before ``call`` at ``now``."""
        config = self.queue(call.queue)
        mine = call_order_key(call, config, now)
        return sum(
            1
            for line in self._lines.get(call.queue, [])
            for _, cid in line
            if cid != call.id and call_order_key(self._calls[cid], config, now) < mine
        )

    def position(self, call_id: str, now: float | None = None) -> int | None:
        """A waiting call's place in its queue's line at ``now`` (1 = next), or None.

        Aging never reorders a line (an older call has aged at least as much), so the calls
        of a line served before ``call`` are a prefix of it: a bisect per priority line.
        """
        call = self._calls.get(call_id)
        if call is None:
            return None
        config = self.queue(call.queue)
        mine = call_order_key(call, config, now)

        def after(item: tuple[float, str]) -> bool:
            return not call_order_key(self._calls[item[1]], config, now) < mine

        ahead = sum(bisect_left(line, True, key=after) for line in self._lines[call.queue])
        return ahead + 1

    def choose_call_for_agent(self, agent: Agent, *, now: float | None = None) -> Assignment | None:
        """:func:`routing.choose_call_for_agent` over the agent's queues, and its team's."""
        if not is_available(agent):
            return None
        names = set(agent.queues)
        if agent.role in (Role.LEAD, Role.SUPERVISOR) and agent.team:
            names |= self._team_queues.get(agent.team, set())
        best: tuple[CallKey, Call, int] | None = None
        for name in sorted(names, key=lambda n: (agent_rank(agent, n), n)):
            rank = agent_rank(agent, name)
            if best is not None and rank > best[0][0]:
                break  # every queue left ranks worse than the call in hand
            queue = self.queue(name)
            for line in self._lines.get(name, []):
                if not line:
                    continue
                head = (rank, *call_order_key(self._calls[line[0][1]], queue, now))
                if best is not None and head[:3] > best[0][:3]:
                    continue  # even this line's oldest call comes after the call in hand
                found = self._first_admitting(line, queue, agent, now)
                if found is not None:
                    call, step = found
                    key = (rank, *call_order_key(call, queue, now))
                    if best is None or key < best[0]:
                        best = (key, call, step)
        if best is None:
            return None
        _, call, step = best
        return Assignment(call_id=call.id, agent_id=agent.id, queue=call.queue, step=step)

    def _first_admitting(
        self, line: _Line, queue: Queue, agent: Agent, now: float | None
    ) -> tuple[Call, int] | None:
        """The first call of ``line`` that ``agent`` may take, with its step (later calls of
        the line come after it)."""
        for _, call_id in line:
            call = self._calls[call_id]
            if now is not None and call.held_from(agent.id, now):
                continue  # reserved for a named agent: not this one's to take
            who = eligibility(call, queue, now)
            if call.status is CallStatus.WAITING and who and who.admits(agent):
                return call, who.step
        return None


def _level(call: Call) -> int:
    # Escalated calls have a line of their own: they come before every ordinary call, so a
    # line stays in serving order.
    if call.escalated_by:
        return ESCALATED_PRIORITY
    return min(MAX_PRIORITY, max(MIN_PRIORITY, call.priority))
