"""The Redis repository of calls, agents and queues.

Every change that touches several keys is one Lua script from ``lua/``, loaded once and run by
SHA; reads are pipelined. Failures raise :class:`StoreUnavailable` and are counted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from acd.domain.model import (
    ESCALATED_PRIORITY,
    MIN_PRIORITY,
    Agent,
    AgentState,
    Call,
    CallStatus,
    Outcome,
    Queue,
    Role,
)
from acd.domain.skills import format_skills
from acd.domain.state_machine import ON_CALL, TRANSITIONS
from acd.errors import Conflict, NotFound, StoreUnavailable
from acd.metrics import Metrics
from acd.store.codec import (
    agent_from_fields,
    agent_profile_fields,
    agent_state_fields,
    call_from_fields,
    call_score,
    call_to_fields,
    priority_band,
    queue_from_json,
    queue_to_json,
)
from acd.store.connection import is_cluster
from acd.store.event_stream import stream_entries
from acd.store.keys import Keys
from acd.store.round_trips import round_trip
from acd.store.side_writes import SideWrites

log = logging.getLogger("acd.store")
T = TypeVar("T")
# A call's history outlives the call's hash a little, for the day's reports.
HISTORY_GRACE_SECONDS = 86_400
Fields = dict[str, str]
# The client is created with decode_responses=True: every reply is text.
Arg = str | int | float

# For each target state, the states the table allows reaching it from, as the Lua script wants.
_ALLOWED_FROM = {
    target: " ".join(sorted(s.value for s, targets in TRANSITIONS.items() if target in targets))
    for target in AgentState
}


FEED_LENGTH = 10_000  # entries the change feed keeps (as in lua/_changes.lua)
# A hash's content as a change-feed entry or a script's snapshot: kind ('a' agent, 'c' call,
# 'agent' / 'queue' a configuration to read again, 'gone-agent' / 'gone-queue' deleted).
Change = tuple[str, Fields]
ChangeHook = Callable[[str, Fields], None]


# Admin writes compare what they read with what is stored, and read again when another
# process changed it in between; a few rounds, then the API answers 409.
PROFILE_RETRIES = 5
# The states in which an agent is on a call and may not be deleted, as delete_agent.lua wants.
_ON_CALL = " ".join(sorted(s.value for s in ON_CALL))


# The fields without which a hash is not a record (codec.py reads them unconditionally).
_REQUIRED = {
    "agent": ("id", "dial"),
    "call": ("id", "channel", "queue", "priority", "arrived_at"),
}


def _profile_seen(fields: Fields) -> str:
    """The stored fields that decide an agent's ready indexes, as the scripts compare them."""
    if not fields.get("id"):
        return ""
    return "\n".join(fields.get(name, "") for name in ("queues", "team", "role"))


def _flat(fields: Fields) -> list[Arg]:
    return [x for pair in fields.items() for x in pair]


def _load_script(redis: Redis, name: str) -> AsyncScript:
    lua = resources.files("acd.store").joinpath("lua")
    prelude = lua.joinpath("_changes.lua").read_text("utf-8")
    return redis.register_script(prelude + lua.joinpath(f"{name}.lua").read_text("utf-8"))


def _pairs(flat: Sequence[str]) -> Fields:
    return dict(zip(flat[::2], flat[1::2], strict=True))


@dataclass(frozen=True, slots=True)
class Ended:
    """What ending a call found and did: the status it had, its agent ('' if none), the talk
    time counted (0 unless it was connected), whether that agent was freed with it, and the
    state it took then (None if not freed)."""

    previous: CallStatus
    agent: str
    talk: float
    agent_freed: bool
    agent_state: AgentState | None = None


class Store:
    """Calls, agents and queues of one site in Redis."""

    def __init__(self, redis: Redis, site: str, metrics: Metrics, finished_call_ttl: int) -> None:
        self.redis = redis
        self.keys = Keys(site)
        self.metrics = metrics
        self.finished_call_ttl = finished_call_ttl
        self._enqueue = _load_script(redis, "enqueue")
        self._claim = _load_script(redis, "claim")
        self._release = _load_script(redis, "release")
        self._connect = _load_script(redis, "connect")
        self._finish = _load_script(redis, "finish")
        self._agent_state = _load_script(redis, "agent_state")
        self._pending_state = _load_script(redis, "pending_state")
        self._move = _load_script(redis, "move")
        self._escalate = _load_script(redis, "escalate")
        self._count_handled = _load_script(redis, "count_handled")
        self._device = _load_script(redis, "device")
        self._step = _load_script(redis, "step")
        self._save_agent = _load_script(redis, "save_agent")
        self._delete_agent = _load_script(redis, "delete_agent")
        self._delete_queue = _load_script(redis, "delete_queue")
        self._adopt = _load_script(redis, "adopt")
        self._reserve = _load_script(redis, "reserve")
        self._hold = _load_script(redis, "hold")
        self._transfer = _load_script(redis, "transfer")
        # Called with every snapshot a script returns: the process's own changes reach its
        # in-memory view at once, before the change feed brings them back.
        self.on_change: ChangeHook | None = None

    async def _script(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run a script of ``lua/`` (prelude ``_changes.lua``): its result, after handing each
        snapshot it returns to :attr:`on_change`."""
        reply = await self._run(script(keys=list(keys), args=list(args)))
        if self.on_change is not None:
            for kind, flat in reply[1:]:
                self.on_change(kind, _pairs(flat))
        return reply[0]

    def _own(self, kind: str, fields: Fields) -> None:
        if self.on_change is not None:
            self.on_change(kind, fields)

    def _announce(self, pipe: Any, kind: str, name: str) -> None:
        """Add a change-feed entry saying a configuration must be read again."""
        pipe.xadd(self.keys.changes, {"k": kind, "id": name}, maxlen=FEED_LENGTH, approximate=True)

    async def read_changes(
        self, after: str, count: int, block_ms: int | None
    ) -> list[tuple[str, Change]]:
        """Change-feed entries after id ``after`` (``$``: only new ones), waiting up to
        ``block_ms`` for one (None: not at all): (entry id, (kind, fields))."""
        reply = await self._run(
            self.redis.xread({self.keys.changes: after}, count=count, block=block_ms),
            blocking=block_ms is not None,
        )
        rows: list[tuple[str, Change]] = []
        for entry_id, fields in stream_entries(reply):
            entry = dict(fields or {})
            kind = entry.pop("k", "")
            rows.append((entry_id, (kind, entry)))
        return rows

    async def changes_head(self) -> tuple[str, str]:
        """The first and last ids the change feed holds ('0-0' for an empty feed): a follower
        whose position is before the first has missed changes."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.xrange(self.keys.changes, count=1)
        pipe.xrevrange(self.keys.changes, count=1)
        first, last = cast(list[list[tuple[str, Any]]], await self._run(pipe.execute()))
        return (first[0][0] if first else "0-0", last[0][0] if last else "0-0")

    async def _run(self, operation: Awaitable[T], *, blocking: bool = False) -> T:
        """Await a Redis operation, timing it and turning failures into StoreUnavailable."""
        return await round_trip(self.metrics, operation, blocking=blocking)

    async def ping(self) -> bool:
        """True if Redis answers."""
        return bool(await self._run(self.redis.ping()))

    # --- queues -------------------------------------------------------------------------------

    async def save_queue(self, queue: Queue) -> bool:
        """Create or replace a queue's configuration; True if it was created."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.queue(queue.name), queue_to_json(queue))
        pipe.sadd(self.keys.queues, queue.name)
        self._announce(pipe, "queue", queue.name)
        _, added, _ = await self._run(pipe.execute())
        self._own("queue", {"id": queue.name, "config": queue_to_json(queue)})
        return bool(added)

    async def get_queue(self, name: str) -> Queue | None:
        """One queue's configuration, or None."""
        text = cast(str | None, await self._run(self.redis.get(self.keys.queue(name))))
        return queue_from_json(text) if text else None

    async def list_queues(self) -> list[Queue]:
        """Every queue, by name."""
        names = sorted(cast(set[str], await self._run(self.redis.smembers(self.keys.queues))))
        if not names:
            return []
        texts = cast(
            list[str | None], await self._run(self.redis.mget([self.keys.queue(n) for n in names]))
        )
        return [queue_from_json(t) for t in texts if t]

    # --- agents -------------------------------------------------------------------------------

    async def save_agent_profile(self, agent: Agent) -> bool:
        """Create an agent (logged out) or update its profile, keeping its live state; True if
        it was created. One script reads the state and moves the ready indexes, so a claim
        between the read and the write cannot put a reserved agent back in them."""
        for _ in range(PROFILE_RETRIES):
            created = await self._write_agent_profile(agent, await self._agent_fields(agent.id))
            if created is not None:
                return created
        raise Conflict(f"agent {agent.id} kept changing while it was saved: try again")

    async def _write_agent_profile(self, agent: Agent, seen: Fields) -> bool | None:
        """Write ``agent``'s profile over the one ``seen``; None if it changed since."""
        old = agent_from_fields(seen) if seen.get("id") else None
        joins = self.ready_keys(agent)
        leaves = sorted(set(self.ready_keys(old)) - set(joins)) if old else []
        profile = agent_profile_fields(agent)
        keys = [self.keys.agent(agent.id), self.keys.agents, self.keys.roster, *leaves, *joins]
        args: list[Arg] = [
            agent.id,
            _profile_seen(seen),
            len(leaves),
            len(profile),
            *_flat(profile),
            *_flat(agent_state_fields(agent)),
        ]
        created = int(await self._script(self._save_agent, keys, args))
        return None if created < 0 else bool(created)

    async def delete_agent(self, agent_id: str) -> None:
        """Remove an agent and its place in every index; :class:`NotFound` if there is none,
        :class:`Conflict` if it is on a call (checked and done in one script)."""
        for _ in range(PROFILE_RETRIES):
            seen = await self._agent_fields(agent_id)
            if not seen.get("id"):
                raise NotFound(f"agent {agent_id} not found")
            keys = [
                self.keys.agent(agent_id),
                self.keys.agents,
                self.keys.roster,
                self.keys.wrap_ups,
                *self.ready_keys(agent_from_fields(seen)),
            ]
            args = [agent_id, _profile_seen(seen), _ON_CALL]
            outcome = await self._script(self._delete_agent, keys, args)
            if outcome == "deleted":
                self._own("gone-agent", {"id": agent_id})
                return
            if outcome == "missing":
                raise NotFound(f"agent {agent_id} not found")
            if outcome == "on_call":
                raise Conflict(f"agent {agent_id} is on a call")
        raise Conflict(f"agent {agent_id} kept changing while it was deleted: try again")

    async def delete_queue(self, name: str) -> None:
        """Remove a queue's configuration and indexes; :class:`NotFound` if there is none,
        :class:`Conflict` if calls wait in it or agents serve it (checked and done in one
        script, against the roster as read at its version)."""
        for _ in range(PROFILE_RETRIES):
            version = await self.roster_version()  # first: an agent changed after it is seen
            members = [a.id for a in await self.list_agents() if name in a.queues]
            outcome = await self._delete_queue_at(name, version, members)
            if outcome == "deleted":
                self._own("gone-queue", {"id": name})
                return
            if outcome == "missing":
                raise NotFound(f"queue {name} not found")
            if outcome == "waiting":
                raise Conflict(f"calls are waiting in queue {name}")
            if outcome == "served":
                raise Conflict(f"agents still serve queue {name}: {', '.join(members[:10])}")
        raise Conflict(f"agents of queue {name} kept changing while it was deleted: try again")

    async def _delete_queue_at(self, name: str, version: int, members: list[str]) -> str:
        """Run delete_queue.lua for the roster read at ``version``; its outcome."""
        keys = [
            self.keys.queues,
            self.keys.queue(name),
            self.keys.waiting(name),
            self.keys.ready(name),
            self.keys.cursor(name),
            self.keys.roster,
        ]
        args = [name, str(version), "1" if members else "0"]
        return str(await self._script(self._delete_queue, keys, args))

    async def _agent_fields(self, agent_id: str) -> Fields:
        return cast(Fields, await self._run(self.redis.hgetall(self.keys.agent(agent_id))))

    async def roster_version(self) -> int:
        """A number that changes whenever an agent logs in or out, or is created, changed or
        deleted: a process compares it with the one its list of agents was read at."""
        return int(await self._run(self.redis.get(self.keys.roster)) or 0)

    async def get_agent(self, agent_id: str) -> Agent | None:
        """One agent, or None."""
        fields = cast(Fields, await self._run(self.redis.hgetall(self.keys.agent(agent_id))))
        return agent_from_fields(fields) if self._whole("agent", fields) else None

    async def get_agents(self, agent_ids: Iterable[str]) -> list[Agent]:
        """The agents that exist among ``agent_ids``, in the same order."""
        ids = list(agent_ids)
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for agent_id in ids:
            pipe.hgetall(self.keys.agent(agent_id))
        rows = cast(list[Fields], await self._run(pipe.execute()))
        return [agent_from_fields(r) for r in rows if self._whole("agent", r)]

    async def agent_hash(self, agent_id: str) -> Fields:
        """One agent's raw hash (with its version and timers); empty if there is none."""
        return cast(Fields, await self._run(self.redis.hgetall(self.keys.agent(agent_id))))

    async def agent_hashes(self) -> list[Fields]:
        """Every agent's raw hash."""
        ids = sorted(cast(set[str], await self._run(self.redis.smembers(self.keys.agents))))
        return await self._hashes("agent", [self.keys.agent(i) for i in ids])

    async def call_hashes(self, call_ids: Sequence[str]) -> list[Fields]:
        """The raw hashes of the calls that still exist among ``call_ids``."""
        return await self._hashes("call", [self.keys.call(i) for i in call_ids])

    async def _hashes(self, kind: str, keys: Sequence[str]) -> list[Fields]:
        if not keys:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        rows = cast(list[Fields], await self._run(pipe.execute()))
        return [r for r in rows if self._whole(kind, r)]

    def _whole(self, kind: str, fields: Fields) -> bool:
        """True if ``fields`` is a whole record; a hash without its id (what an older acd
        could write after Redis lost its data) is skipped, counted and logged, never read."""
        if not fields:
            return False
        if all(fields.get(name) for name in _REQUIRED[kind]):
            return True
        self.metrics.redis_partial_records.labels(kind).inc()
        log.warning(
            "partial record skipped", extra={"kind": kind, "fields": ",".join(sorted(fields))}
        )
        return False

    async def list_agents(self) -> list[Agent]:
        """Every agent, by id."""
        ids = sorted(cast(set[str], await self._run(self.redis.smembers(self.keys.agents))))
        return await self.get_agents(ids)

    def ready_keys(self, agent: Agent) -> list[str]:
        """Every ready index the agent belongs in: its queues', and its team's if it leads."""
        keys = [self.keys.ready(q) for q in agent.queues]
        if agent.team and agent.role is not Role.AGENT:
            keys.append(self.keys.team_ready(agent.team))
        return keys

    async def ready_staff(self, team: str) -> list[Agent]:
        """The ready leads and supervisors of a team, longest idle first."""
        ids = await self._run(self.redis.zrange(self.keys.team_ready(team), 0, -1))
        return await self.get_agents(cast(list[str], ids))

    async def round_robin_cursor(self, queue: str) -> str:
        """The agent this queue offered a call to last ('' if none)."""
        return cast(str, await self._run(self.redis.get(self.keys.cursor(queue)))) or ""

    async def set_round_robin_cursor(self, queue: str, agent_id: str) -> None:
        """Remember the agent this queue offered a call to last."""
        await self._run(self.redis.set(self.keys.cursor(queue), agent_id))

    async def claim_exit(self, call_id: str, owner: str, seconds: float = 30.0) -> bool:
        """True if this process (``owner``) may move the caller out of acd's dialplan: one
        Redirect to the fallback per caller, however many acd processes decided it (the same
        process may try again). Kept for ``seconds``: the record of the call's end follows
        the Redirect well within them, and a process that died holding it stops no one long."""
        key = self.keys.leaving(call_id)
        if await self._run(self.redis.set(key, owner, nx=True, px=int(seconds * 1000))):
            return True
        # This process's own claim, from a try whose outcome it could not know: try again.
        return bool(await self._run(self.redis.get(key)) == owner)

    async def drop_exit(self, call_id: str, owner: str) -> None:
        """Give up the claim of ``claim_exit`` (the Redirect did not happen): another try,
        by this process or another, may move the caller."""
        key = self.keys.leaving(call_id)
        if await self._run(self.redis.get(key)) == owner:
            await self._run(self.redis.delete(key))

    async def set_call_step(self, call_id: str, step: int) -> None:
        """Record the routing step a call has reached."""
        await self._script(self._step, [self.keys.call(call_id)], [step])

    async def ready_agents(self, queue: str, limit: int = 0) -> list[Agent]:
        """The ready agents of a queue, longest idle first (the first ``limit``; 0 = all)."""
        key = self.keys.ready(queue)
        ids = cast(list[str], await self._run(self.redis.zrange(key, 0, limit - 1)))
        return await self.get_agents(ids)

    async def set_agent_state(
        self,
        agent: Agent,
        target: AgentState,
        now: float,
        *,
        expected_call: str = "",
        reason: str = "",
        call: str = "",
        wrap_up_until: float = 0.0,
        allowed_from: Iterable[AgentState] = (),
    ) -> AgentState | None:
        """Move ``agent`` to ``target`` if the transition table allows it (or only from
        ``allowed_from``, when given); return the old state.

        ``expected_call`` makes the change conditional on the agent still being on that call,
        so a late event about an old call cannot knock the agent off a new one; without it,
        an agent on a call (reserved, ringing, busy) is not moved (None).
        """
        keys = [self.keys.agent(agent.id), self.keys.wrap_ups, self.keys.roster]
        keys += self.ready_keys(agent)
        args = [
            agent.id,
            target.value,
            repr(now),
            " ".join(s.value for s in allowed_from) or _ALLOWED_FROM[target],
            expected_call,
            reason,
            call,
            repr(wrap_up_until) if wrap_up_until else "0",
            _ON_CALL,
        ]
        previous = await self._script(self._agent_state, keys, args)
        return AgentState(previous) if previous and previous != "missing" else None

    async def set_pending_state(
        self, agent: Agent, pending: AgentState | None, reason: str = ""
    ) -> bool:
        """Ask for ``pending`` (paused or logged out; None takes the request back) to be taken
        when the agent's conversation ends; False if the agent is no longer busy on the call
        it was seen with."""
        keys = [self.keys.agent(agent.id)]
        args = [agent.call, pending.value if pending else "", reason]
        return bool(await self._script(self._pending_state, keys, args))

    async def set_device_busy(self, agent_id: str, busy: bool) -> None:
        """Remember that the agent's phone is busy with a call acd did not give it."""
        await self._script(self._device, [self.keys.agent(agent_id)], [int(busy)])

    async def count_handled(self, agent_id: str, talk_seconds: float, day: str) -> None:
        """Add one answered call and its talk time to the agent's figures of ``day`` (the
        first call of a new day starts them again from zero)."""
        keys = [self.keys.agent(agent_id)]
        await self._script(self._count_handled, keys, [day, repr(talk_seconds)])

    async def due_wrap_ups(self, now: float) -> list[str]:
        """Agents whose after-call work time is over."""
        due = await self._run(self.redis.zrangebyscore(self.keys.wrap_ups, 0, now))
        return cast(list[str], due)

    # --- calls --------------------------------------------------------------------------------

    async def enqueue(self, call: Call) -> bool:
        """Add a waiting call; False if it was already known (duplicate event)."""
        fields = call_to_fields(call)
        flat = [x for pair in fields.items() for x in pair]
        keys = [self.keys.call(call.id), self.keys.waiting(call.queue), self.keys.active_calls]
        args: list[Arg] = [call.id, call_score(call), call.arrived_at, *flat]
        return bool(await self._script(self._enqueue, keys, args))

    async def get_call(self, call_id: str) -> Call | None:
        """One call (waiting, offered, connected or recently ended), or None."""
        fields = cast(Fields, await self._run(self.redis.hgetall(self.keys.call(call_id))))
        return call_from_fields(fields) if self._whole("call", fields) else None

    async def get_call_fields(self, call_id: str) -> dict[str, str]:
        """The raw hash of a call, with timestamps and fence."""
        return cast(Fields, await self._run(self.redis.hgetall(self.keys.call(call_id))))

    async def get_calls(self, call_ids: Sequence[str]) -> list[Call]:
        """The calls that still exist among ``call_ids``, in order."""
        if not call_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for call_id in call_ids:
            pipe.hgetall(self.keys.call(call_id))
        rows = cast(list[Fields], await self._run(pipe.execute()))
        return [call_from_fields(r) for r in rows if self._whole("call", r)]

    async def waiting_calls(self, queue: str, limit: int = 0) -> list[Call]:
        """Calls waiting in ``queue``, best first (``limit`` 0 = all)."""
        ids = await self._run(self.redis.zrange(self.keys.waiting(queue), 0, limit - 1))
        return await self.get_calls(cast(list[str], ids))

    async def routable_calls(self, queue: str, limit: int, per_priority: int) -> list[Call]:
        """The first ``limit`` waiting calls of ``queue``, and the first ``per_priority`` of
        every priority level: with aging, the oldest call of a low priority can outrank
        every call ahead of it in the stored order, however long the line."""
        key = self.keys.waiting(queue)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrange(key, 0, limit - 1)
        for priority in range(MIN_PRIORITY, ESCALATED_PRIORITY + 1):
            low, high = priority_band(priority)
            pipe.zrangebyscore(key, low, f"({high!r}", start=0, num=per_priority)
        rows = cast(list[list[str]], await self._run(pipe.execute()))
        ids = list(dict.fromkeys(call_id for row in rows for call_id in row))
        return await self.get_calls(ids)

    async def waiting_count(self, queue: str) -> int:
        """How many calls wait in ``queue``."""
        count: int = await self._run(self.redis.zcard(self.keys.waiting(queue)))
        return count

    async def waiting_scores(self, queue: str) -> list[float]:
        """The scores of every call waiting in ``queue`` (they encode arrival times)."""
        rows = await self._run(self.redis.zrange(self.keys.waiting(queue), 0, -1, withscores=True))
        return [float(score) for _, score in cast(list[tuple[str, float]], rows)]

    async def active_call_ids(self) -> list[str]:
        """Every call that has not ended, oldest first."""
        return cast(list[str], await self._run(self.redis.zrange(self.keys.active_calls, 0, -1)))

    async def claim(self, call: Call, agent: Agent, now: float, settle_by: float) -> int:
        """Atomically give ``call`` to ``agent``; the fencing token, or 0 if either is taken.

        ``settle_by`` is when the offer counts as lost if no answer or no-answer came back.
        """
        keys = [
            self.keys.call(call.id),
            self.keys.agent(agent.id),
            self.keys.waiting(call.queue),
            self.keys.fence,
            self.keys.offers,
            *self.ready_keys(agent),
        ]
        args = [call.id, agent.id, repr(now), repr(settle_by)]
        return int(await self._script(self._claim, keys, args))

    async def reserve_call(self, call_id: str, agent_id: str, until: float) -> bool:
        """Hold a waiting call for ``agent_id`` until ``until`` (it keeps its place in line);
        False if the call is not waiting or the agent is logged out or paused."""
        keys = [self.keys.call(call_id), self.keys.agent(agent_id)]
        return bool(await self._script(self._reserve, keys, ["reserve", agent_id, repr(until)]))

    async def end_reservation(self, call_id: str, agent_id: str, until: float = 0.0) -> bool:
        """End the reservation of a waiting call for ``agent_id`` (the one until ``until``,
        when given: not a newer one); False if there was no such reservation."""
        keys = [self.keys.call(call_id), self.keys.agent(agent_id)]
        args = ["end", agent_id, repr(until) if until else ""]
        return bool(await self._script(self._reserve, keys, args))

    async def release(self, call: Call, fence: int, agent_id: str = "") -> str | None:
        """Put an offered call back at its place if it is still the offer ``fence`` (to
        ``agent_id``, when given); the agent it was offered to, or None."""
        keys = [self.keys.call(call.id), self.keys.waiting(call.queue), self.keys.offers]
        args: list[Arg] = [call.id, fence, call_score(call), agent_id]
        agent_id = await self._script(self._release, keys, args)
        return str(agent_id) if agent_id else None

    async def connect(
        self, call_id: str, now: float, agent_id: str, agent_channel: str = "", fence: int = 0
    ) -> tuple[str, int] | None:
        """Mark a call offered to ``agent_id`` (as the offer ``fence``, when known) answered
        and its agent busy (if still on it); (agent id, fence), or None if the call was not
        being offered so."""
        keys = [self.keys.call(call_id), self.keys.offers, self.keys.agent("")]
        args = [call_id, repr(now), agent_channel, agent_id, str(fence)]
        result = await self._script(self._connect, keys, args)
        if not result:
            return None
        return str(result[0]), int(result[1])

    async def finish(
        self, call: Call, outcome: Outcome, now: float, detail: str = ""
    ) -> tuple[CallStatus, str] | None:
        """End a call once; (status it had, agent id or ''), or None if already ended."""
        ended = await self.end_call(call, outcome, now, detail)
        return None if ended is None else (ended.previous, ended.agent)

    async def end_call(
        self,
        call: Call,
        outcome: Outcome,
        now: float,
        detail: str = "",
        *,
        agent: Agent | None = None,
        after_talk: AgentState = AgentState.READY,
        wrap_up_until: float = 0.0,
        talk: float | None = None,
        day: str = "",
        phone_busy: bool = False,
    ) -> Ended | None:
        """End a call once and, if ``agent`` is still on it, free the agent in the same
        script (an offered call's agent ready; a connected call's counted for ``day`` and
        moved to ``after_talk``, with ``wrap_up_until`` as its timer). ``talk``: the talk
        time Asterisk reported, if known; ``phone_busy``: the agent's phone is still in use
        (recorded with the agent, who then waits for it to be free). None if the call had
        already ended."""
        keys = [
            self.keys.call(call.id),
            self.keys.waiting(call.queue),
            self.keys.active_calls,
            self.keys.offers,
            self.keys.agent(""),
            self.keys.wrap_ups,
            self.keys.roster,
            *(self.ready_keys(agent) if agent is not None else []),
        ]
        args: list[Arg] = [
            call.id,
            repr(now),
            outcome.value,
            self.finished_call_ttl,
            detail,
            agent.id if agent is not None else "",
            after_talk.value,
            repr(wrap_up_until) if wrap_up_until else "0",
            "" if talk is None else repr(talk),
            day,
            int(phone_busy),
        ]
        result = await self._script(self._finish, keys, args)
        if not result:
            return None
        previous, agent_id, talked, freed, took = result
        state = AgentState(took) if took else None
        return Ended(CallStatus(previous), str(agent_id), float(talked), bool(int(freed)), state)

    async def move_call(
        self,
        call: Call,
        queue: str,
        priority: int | None = None,
        skills: dict[str, int] | None = None,
    ) -> bool:
        """Move a waiting call to ``queue`` (and/or ``priority``), keeping its arrival time;
        to another queue, ``skills`` are what it requires there (default: as before). False
        if it was not waiting."""
        priority = call.priority if priority is None else priority
        moved = replace(call, queue=queue, priority=priority)
        keys = [self.keys.call(call.id), self.keys.waiting(call.queue), self.keys.waiting(queue)]
        needs = format_skills(call.skills if skills is None else skills)
        args: list[Arg] = [call.id, queue, call_score(moved), priority, needs]
        return bool(await self._script(self._move, keys, args))

    async def escalate(self, call: Call, agent: Agent, now: float) -> bool:
        """Take a connected call from ``agent`` and put it in line for the leads, first."""
        escalated = replace(call, escalated_by=agent.id, escalation_team=agent.team)
        keys = [self.keys.call(call.id), self.keys.waiting(call.queue)]
        args: list[Arg] = [call.id, agent.id, call_score(escalated), agent.team, repr(now)]
        return bool(await self._script(self._escalate, keys, args))

    async def hold(self, call_id: str, now: float, held: bool, who: str) -> float | None:
        """A connected call's ``who`` ('caller', 'agent') went on hold or came back. Returns
        0.0 when a hold began, its length when it ended, None when nothing changed."""
        result = await self._script(
            self._hold, [self.keys.call(call_id)], [repr(now), "1" if held else "0", who]
        )
        if not result:
            return None
        return float(result[2]) if result[0] == "unheld" else 0.0

    async def record_transfer(
        self, call_id: str, now: float, kind: str, target: str, agent_channel: str
    ) -> str | None:
        """Note on the call (live or just ended) that its agent, on ``agent_channel``,
        transferred it: the agent's id, or None if not the call's agent leg or recorded."""
        result = await self._script(
            self._transfer, [self.keys.call(call_id)], [repr(now), kind, target, agent_channel]
        )
        return str(result[0]) if result else None

    async def add_history(self, call_id: str, entry: dict[str, object]) -> None:
        """Append to a call's history (offers, answers, misses, escalations, moves); it
        expires with the call."""
        await self.add_history_many([(call_id, entry)])

    async def add_history_many(self, entries: Sequence[tuple[str, dict[str, object]]]) -> None:
        """Append entries to calls' histories, in order, in one round trip."""
        await self._run(
            self._history_into(self.redis.pipeline(transaction=False), entries).execute()
        )

    def add_history_into(
        self, writes: SideWrites, entries: Sequence[tuple[str, dict[str, object]]]
    ) -> None:
        """Add history entries to a batch of side writes (sent with it)."""
        self._history_into(writes.pipeline(self.redis, self.metrics), entries)

    def _history_into(self, pipe: Any, entries: Sequence[tuple[str, dict[str, object]]]) -> Any:
        for call_id, entry in entries:
            key = self.keys.history(call_id)
            pipe.rpush(key, json.dumps(entry, ensure_ascii=False, default=str))
            pipe.ltrim(key, -200, -1)
            pipe.expire(key, self.finished_call_ttl + HISTORY_GRACE_SECONDS)
        return pipe

    async def history(self, call_id: str) -> list[dict[str, Any]]:
        """A call's history, oldest first."""
        rows = await self._run(self.redis.lrange(self.keys.history(call_id), 0, -1))
        return [json.loads(row) for row in cast(list[str], rows)]

    async def record_callback(self, call: Call, now: float) -> None:
        """Keep a callback request for the contact centre (newest first, bounded)."""
        entry = json.dumps(
            {
                "call": call.id,
                "queue": call.queue,
                "number": call.caller_number,
                "name": call.caller_name,
                "at": now,
            },
            ensure_ascii=False,
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(self.keys.callbacks, entry)
        pipe.ltrim(self.keys.callbacks, 0, 9_999)
        await self._run(pipe.execute())

    async def adopt_with_agent(
        self,
        call: Call,
        agent: Agent,
        now: float,
        *,
        answered_at: float = 0.0,
        settle_by: float = 0.0,
        agent_channel: str = "",
    ) -> str:
        """Record a caller Asterisk has with ``agent`` and Redis does not know (it lost its
        data): connected since ``answered_at`` if given, else offered until ``settle_by``; the
        agent is put on it. The fence, or 'known', 'missing' (no such agent) or 'busy'."""
        status = CallStatus.CONNECTED if answered_at else CallStatus.OFFERED
        keys = [
            self.keys.call(call.id),
            self.keys.active_calls,
            self.keys.agent(agent.id),
            self.keys.fence,
            self.keys.offers,
            self.keys.roster,
            self.keys.wrap_ups,
            *self.ready_keys(agent),
        ]
        args: list[Arg] = [
            call.id,
            agent.id,
            status.value,
            repr(now),
            repr(answered_at or settle_by),
            agent_channel,
            repr(call.arrived_at),
            *_flat(call_to_fields(call)),
        ]
        return str(await self._script(self._adopt, keys, args))

    # --- the site's marker and the server -----------------------------------------------------

    async def mark_seeded(self, now: float) -> None:
        """Write the marker that says this site's configuration is in Redis: a Redis that
        comes back without it has lost its data."""
        await self._run(self.redis.set(self.keys.seeded, repr(now)))

    async def is_seeded(self) -> bool:
        """True if the marker written at seeding is there."""
        return bool(await self._run(self.redis.exists(self.keys.seeded)))

    async def require_seeded(self) -> None:
        """:class:`StoreUnavailable` unless the marker is there: Redis lost the site's data
        and what it lacks now (a queue) may be back once the configuration is seeded."""
        if not await self.is_seeded():
            raise StoreUnavailable("redis lost this site's data: not seeded again yet")

    async def server_run_id(self) -> str:
        """The Redis server's run id (a new one at every restart); '' if it will not say."""
        if is_cluster(self.redis):
            return ""  # one run id per node: the marker alone tells
        info = await self._run(self.redis.info("server"))
        return str(info.get("run_id", "")) if isinstance(info, dict) else ""

    async def persistence(self) -> dict[str, str] | None:
        """Redis's ``appendonly`` and ``save`` settings, or None if CONFIG is refused
        (renamed or disabled, as managed services do)."""
        try:
            reply = await self.redis.config_get("appendonly")
            reply.update(await self.redis.config_get("save"))
        except (RedisError, OSError):
            return None
        return {str(k): str(v) for k, v in reply.items()}

    async def overdue_offers(self, now: float) -> list[str]:
        """Calls offered to an agent whose offer should have settled by ``now``."""
        due = await self._run(self.redis.zrangebyscore(self.keys.offers, 0, now))
        return cast(list[str], due)

    async def flush_site(self) -> None:
        """Delete every key of this site (tests and demo only)."""
        keys: list[Any] = [k async for k in self.redis.scan_iter(match=self.keys.prefix + "*")]
        if keys:
            await self._run(self.redis.delete(*keys))
