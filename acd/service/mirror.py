"""The process's in-memory view of Redis: queues, agents and live calls, with the indexes that
routing decisions read instead of Redis.

Redis stays the truth. The view is loaded once, then kept current by the snapshots the
process's own scripts return and by the change feed (``acd:{site}:changes``) that every
script of every acd process appends to. Each hash carries a version (``v``), so a snapshot
older than the one applied (the feed brings back the process's own changes later) is skipped.
A decision read from a view a moment stale is safe: the claim script refuses a call or an
agent that is no longer free, and the next candidate is tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from acd.domain.agent_index import AgentIndex
from acd.domain.answer_rate import EWT_CAP_SECONDS, AnswerRates, estimated_wait
from acd.domain.call_index import WaitingCalls
from acd.domain.counts import counted_today
from acd.domain.devices import dial_devices
from acd.domain.model import Agent, AgentState, Call, CallStatus, Queue, Role
from acd.domain.steps import is_logged_in, routing_steps
from acd.domain.strategies import is_available
from acd.errors import StoreUnavailable
from acd.store import Store
from acd.store.codec import agent_from_fields, call_from_fields, queue_from_json
from acd.store.redis_store import Fields

log = logging.getLogger("acd.mirror")

FOLLOW_BATCH = 1_000  # feed entries read at once
FOLLOW_BLOCK_MS = 1_000  # a follower's XREAD waits this long for news (below socket timeout)
# After each read the follower pauses this long, so that at a high rate one read takes many
# changes instead of one read per change (the process's own changes are applied already).
FOLLOW_BATCH_WINDOW = 0.05


@dataclass(order=True, frozen=True, slots=True)
class Deadline:
    """Something due at ``at``: a wrap-up's end (``wrap``), an offer's settle-by (``offer``),
    a waiting call's next routing step or maximum wait (``step``) or the end of its
    reservation for a named agent (``reserve``), of version ``v``; an
    offer's deadline is for the offer ``fence``, never a later one of the call."""

    at: float
    kind: str
    id: str
    v: int
    fence: int = 0


class Mirror:
    """See the module docstring."""

    def __init__(
        self, store: Store, clock: Callable[[], float], day_of: Callable[[float], str]
    ) -> None:
        self.store = store
        self.clock = clock
        self.day_of = day_of
        self.queues: dict[str, Queue] = {}
        self.agents = AgentIndex()
        self.waiting = WaitingCalls()
        self.calls: dict[str, Call] = {}  # every call that has not ended
        self.call_fields: dict[str, Fields] = {}  # ... and its raw hash (fence, times)
        self.devices: dict[str, str] = {}  # agent's dial string -> agent id
        self._device_owners: dict[str, str] = {}  # each device of a dial string -> agent id
        self.busy_phones: set[str] = set()  # agents whose phone is in use, as last heard
        self._versions: dict[str, int] = {}  # 'a:<id>' / 'c:<id>' -> version applied
        self._deadlines: list[Deadline] = []
        # Waiting calls reserved for a named agent: agent id -> call ids, and call -> agent.
        self.reservations: dict[str, set[str]] = {}
        self._reserved: dict[str, str] = {}
        self._day = ""
        self._position = "0-0"  # the last feed entry applied
        # Queues whose calls may need an overflow check (someone left, a queue changed).
        self.dirty_queues: set[str] = set()
        # Agents another process freed: they may take a waiting call.
        self.freed_elsewhere: set[str] = set()
        self.loaded = asyncio.Event()
        self.agent_counts: Counter[tuple[str, str]] = Counter()  # (queue, state) -> agents
        self.team_counts: Counter[tuple[str, str]] = Counter()  # (team, state) -> agents
        # Called before the view is read again because the feed broke (Redis went away, or
        # the feed was trimmed past this follower): Redis may have lost its data.
        self.before_reload: Callable[[], None] | None = None
        # Each queue's recent answers, seen by this process (its own and, through the change
        # feed, every other's), for estimated waits; kept across reloads of the view.
        self.answer_rates = AnswerRates(since=clock())
        store.on_change = self._own_change

    # --- loading ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read everything from Redis (at start, and when the feed has lost track)."""
        _first, last = await self.store.changes_head()  # first: changes after it are seen
        queues = await self.store.list_queues()
        agents = await self.store.agent_hashes()
        calls = await self.store.call_hashes(await self.store.active_call_ids())
        self._day = self.day_of(self.clock())
        self.queues = {q.name: q for q in queues}
        self.agents = AgentIndex(queues)
        self.waiting = WaitingCalls(queues)
        self.calls, self.call_fields, self.devices, self._versions = {}, {}, {}, {}
        self._device_owners = {}
        self.reservations, self._reserved = {}, {}
        self.agent_counts.clear()
        self.team_counts.clear()
        self._deadlines = []
        for fields in agents:
            self._apply_agent(fields)
        for fields in calls:
            self._apply_call(fields)
        self.dirty_queues = set(self.queues)
        self._position = last
        self.loaded.set()
        log.info(
            "view loaded", extra={"queues": len(queues), "agents": len(agents), "calls": len(calls)}
        )

    async def reload_queue(self, name: str) -> None:
        queue = await self.store.get_queue(name)
        if queue is None:
            self.queues.pop(name, None)
            return
        self._set_queue(queue)

    async def reload_agent(self, agent_id: str) -> None:
        fields = await self.store.agent_hash(agent_id)
        if fields:
            self._versions.pop(f"a:{agent_id}", None)
            self._apply_agent(fields)
        else:
            self._forget_agent(agent_id)

    async def reload_call(self, call_id: str) -> None:
        fields = await self.store.get_call_fields(call_id)
        if fields:
            self._versions.pop(f"c:{call_id}", None)
            self._apply_call(fields)
        else:
            self.waiting.remove(call_id)
            self.calls.pop(call_id, None)
            self.call_fields.pop(call_id, None)
            self._note_reservation(call_id, "")

    # --- following the feed -------------------------------------------------------------------

    async def follow(self) -> None:
        """Apply what other processes (and this one) append to the change feed, for ever."""
        while True:
            try:
                position = self._position
                rows = await self.store.read_changes(position, FOLLOW_BATCH, FOLLOW_BLOCK_MS)
                if len(rows) == FOLLOW_BATCH and await self._missed(position):
                    self._before_reload()
                    await self.load()
                    continue
                for entry_id, (kind, fields) in rows:
                    await self._apply_entry(kind, fields)
                    self._position = entry_id
            except StoreUnavailable as exc:
                log.warning("change feed unreadable", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
                # Redis may have restarted (and lost or trimmed the feed): read it all again.
                await self._reload_quietly()
                continue
            if rows:
                await asyncio.sleep(FOLLOW_BATCH_WINDOW)

    async def _missed(self, position: str) -> bool:
        """True if the feed was trimmed past ``position`` (checked when this follower reads
        full batches, i.e. lags: only then can it fall ``FEED_LENGTH`` entries behind)."""
        first, _last = await self.store.changes_head()
        return _id(first) > _id(position)

    async def _reload_quietly(self) -> None:
        self._before_reload()
        with contextlib.suppress(StoreUnavailable):
            await self.load()

    def _before_reload(self) -> None:
        if self.before_reload is not None:
            self.before_reload()

    async def _apply_entry(self, kind: str, fields: Fields) -> None:
        if kind == "a":
            if self._apply_agent(fields):
                self._note_freed(fields.get("id", ""))
        elif kind == "c":
            self._apply_call(fields)
        elif kind == "agent":
            await self.reload_agent(fields.get("id", ""))
        elif kind == "gone-agent":
            self._forget_agent(fields.get("id", ""))
        elif kind in ("queue", "gone-queue"):
            await self.reload_queue(fields.get("id", ""))

    def _own_change(self, kind: str, fields: Fields) -> None:
        if kind == "a":
            self._apply_agent(fields)
        elif kind == "c":
            self._apply_call(fields)
        elif kind == "queue" and "config" in fields:
            self._set_queue(queue_from_json(fields["config"]))
        elif kind == "gone-queue":
            self.queues.pop(fields.get("id", ""), None)
        elif kind == "gone-agent":
            self._forget_agent(fields.get("id", ""))

    def _set_queue(self, queue: Queue) -> None:
        self.queues[queue.name] = queue
        self.agents.set_queue(queue)
        self.waiting.set_queue(queue)
        self.dirty_queues.add(queue.name)

    def _note_freed(self, agent_id: str) -> None:
        agent = self.agents.get(agent_id)
        if agent is not None and is_available(agent):
            self.freed_elsewhere.add(agent_id)

    def _newer(self, key: str, fields: Fields) -> bool:
        version = int(fields.get("v") or 0)
        if version and version <= self._versions.get(key, 0):
            return False
        self._versions[key] = version
        return True

    # --- agents -------------------------------------------------------------------------------

    def _apply_agent(self, fields: Fields) -> bool:
        """Take in an agent's snapshot; True if it was news."""
        if (
            "id" not in fields
            or "dial" not in fields
            or not self._newer(f"a:{fields['id']}", fields)
        ):
            return False
        agent = counted_today(agent_from_fields(fields), self._day)
        previous = self.agents.get(agent.id)
        if previous is not None:
            self._count(previous, -1)
            if previous.dial != agent.dial:
                self._forget_devices(previous)
            if (is_logged_in(previous) and not is_logged_in(agent)) or (
                previous.queues != agent.queues or previous.skills != agent.skills
            ):
                # Someone left (or changed): calls of their queues may now have nobody.
                self.dirty_queues.update(previous.queues)
                self.dirty_queues.update(self._team_queues(previous))
        self.agents.update(agent)
        self.devices[agent.dial] = agent.id
        for device in dial_devices(agent.dial):
            self._device_owners[device] = agent.id
        self._count(agent, 1)
        until = float(fields.get("wrap_up_until") or 0)
        if until and agent.state in (AgentState.WRAP_UP, AgentState.PAUSED):
            heapq.heappush(
                self._deadlines, Deadline(until, "wrap", agent.id, int(fields.get("v") or 0))
            )
        return True

    def _forget_agent(self, agent_id: str) -> None:
        previous = self.agents.get(agent_id)
        if previous is None:
            return
        self._count(previous, -1)
        self._forget_devices(previous)
        self.agents.remove(agent_id)
        self._versions.pop(f"a:{agent_id}", None)
        self.dirty_queues.update(previous.queues)

    def _forget_devices(self, agent: Agent) -> None:
        if self.devices.get(agent.dial) == agent.id:
            del self.devices[agent.dial]
        for device in dial_devices(agent.dial):
            if self._device_owners.get(device) == agent.id:
                del self._device_owners[device]

    def device_owner(self, device: str) -> str | None:
        """The agent whose dial string rings ``device`` (``PJSIP/1001``), if any."""
        return self._device_owners.get(device)

    def _count(self, agent: Agent, delta: int) -> None:
        for queue in agent.queues:
            self.agent_counts[(queue, agent.state.value)] += delta
        if agent.team:
            self.team_counts[(agent.team, agent.state.value)] += delta

    def _team_queues(self, agent: Agent) -> list[str]:
        if not agent.team or agent.role is Role.AGENT:
            return []
        return [q.name for q in self.queues.values() if agent.team in q.teams]

    def agent(self, agent_id: str) -> Agent | None:
        """The agent as last seen (figures of an earlier day read as zero)."""
        return self.agents.get(agent_id)

    def all_agents(self) -> Iterator[Agent]:
        return (a for a in (self.agents.get(i) for i in list(self.agents.ids())) if a)

    def new_day(self) -> None:
        """At local midnight: yesterday's call counts read as zero from now on."""
        today = self.day_of(self.clock())
        if today == self._day:
            return
        self._day = today
        for agent in list(self.all_agents()):
            self.agents.update(counted_today(agent, today))

    # --- calls --------------------------------------------------------------------------------

    def _apply_call(self, fields: Fields) -> None:
        if (
            "id" not in fields
            or "queue" not in fields
            or not self._newer(f"c:{fields['id']}", fields)
        ):
            return
        call = call_from_fields(fields)
        self._note_answer(self.calls.get(call.id), call, fields)
        self.waiting.remove(call.id)
        waiting = call.status is CallStatus.WAITING
        self._note_reservation(call.id, call.reserved_for if waiting else "")
        if call.status is CallStatus.ENDED:
            self.calls.pop(call.id, None)
            self.call_fields.pop(call.id, None)
            self._versions.pop(f"c:{call.id}", None)
            return
        self.calls[call.id] = call
        self.call_fields[call.id] = fields
        version = int(fields.get("v") or 0)
        if call.status is CallStatus.WAITING:
            self.waiting.add(call)
            due = self._next_step_at(call)
            if due:
                heapq.heappush(self._deadlines, Deadline(due, "step", call.id, version))
            if call.reserved_for:
                ends = Deadline(call.reserved_until, "reserve", call.id, version)
                heapq.heappush(self._deadlines, ends)
        elif call.status is CallStatus.OFFERED:
            settle_by = float(fields.get("settle_by") or 0)
            if settle_by:
                fence = int(fields.get("fence") or 0)
                offer = Deadline(settle_by, "offer", call.id, version, fence)
                heapq.heappush(self._deadlines, offer)

    def _note_answer(self, before: Call | None, call: Call, fields: Fields) -> None:
        # Only an answer seen happening: a view (re)loaded with calls already connected would
        # count them again (and the feed can bring a call's snapshots back after it ended).
        if call.status is CallStatus.CONNECTED and before and before.status is not call.status:
            when = fields.get("answered_at", "")
            self.answer_rates.answered(call.queue, f"{call.id} {when}", float(when or 0))

    def _note_reservation(self, call_id: str, agent_id: str) -> None:
        previous = self._reserved.pop(call_id, "")
        if previous:
            held = self.reservations.get(previous, set())
            held.discard(call_id)
            if not held:
                self.reservations.pop(previous, None)
        if agent_id:
            self._reserved[call_id] = agent_id
            self.reservations.setdefault(agent_id, set()).add(call_id)

    def reserved_for(self, agent_id: str) -> list[Call]:
        """The waiting calls held for ``agent_id`` now, in the order they arrived."""
        now = self.clock()
        calls = [self.calls.get(i) for i in self.reservations.get(agent_id, ())]
        held = [c for c in calls if c and c.reserved_at(now) == agent_id]
        return sorted(held, key=lambda c: (c.arrived_at, c.id))

    def place_in_line(self, call_id: str) -> tuple[int | None, int | None]:
        """A waiting call's position in its queue's line (1 = next) and estimated wait in
        seconds, from the queue's recent answer rate; None for what is not known."""
        call = self.waiting.get(call_id)
        if call is None:
            return None, None
        position = self.waiting.position(call_id, self.clock()) or 1
        return position, self.estimated_wait(call.queue, position)

    def estimated_wait(self, queue_name: str, position: int) -> int | None:
        """Seconds until the call at ``position`` of ``queue_name`` is answered at the
        queue's recent pace, at most its maximum wait; None while that pace is unknown."""
        queue = self.queues.get(queue_name)
        cap = EWT_CAP_SECONDS
        if queue is not None and queue.max_wait_seconds:
            cap = min(cap, float(queue.max_wait_seconds))
        return estimated_wait(position, self.answer_rates.per_second(queue_name, self.clock()), cap)

    def _next_step_at(self, call: Call) -> float:
        """When the waiting ``call`` may next move to another step or time out (0: never)."""
        queue = self.queues.get(call.queue)
        if queue is None or call.escalated_by:
            return 0.0
        times = [call.arrived_at + step.after for step in routing_steps(queue) if step.after > 0]
        if queue.max_wait_seconds:
            times.append(call.arrived_at + queue.max_wait_seconds)
        now = self.clock()
        later = [t for t in times if t > now]
        return min(later) if later else 0.0

    def call(self, call_id: str) -> Call | None:
        return self.calls.get(call_id)

    def waiting_in(self, queue: str) -> list[Call]:
        """The queue's waiting calls in the order it serves them now."""
        return self.waiting.in_line(queue, self.clock())

    # --- deadlines ----------------------------------------------------------------------------

    def due(self, now: float) -> list[Deadline]:
        """Deadlines reached by ``now`` that still hold (their object has not changed since)."""
        found: list[Deadline] = []
        while self._deadlines and self._deadlines[0].at <= now:
            deadline = heapq.heappop(self._deadlines)
            prefix = "a" if deadline.kind == "wrap" else "c"
            if self._versions.get(f"{prefix}:{deadline.id}", -1) == deadline.v:
                found.append(deadline)
        return found

    def next_deadline(self) -> float:
        """When the earliest deadline falls (infinity if none; it may have gone stale)."""
        return self._deadlines[0].at if self._deadlines else math.inf

    def reschedule(self, call: Call) -> None:
        """Look again later at a waiting call whose step deadline was handled."""
        due = self._next_step_at(call)
        if due:
            version = self._versions.get(f"c:{call.id}", 0)
            heapq.heappush(self._deadlines, Deadline(due, "step", call.id, version))


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def with_status(call: Call, status: CallStatus) -> Call:
    """``call`` with another status (calls are frozen)."""
    return replace(call, status=status, agent="")
