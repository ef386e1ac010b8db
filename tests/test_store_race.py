"""Three acd processes on one Redis, at the store level: each its own connection and its own
(stale) view of agents and calls, driving the real Lua scripts over thousands of claims as the
service's handlers do (offer, ring, answer, no-answer, caller hang-up, end of conversation,
end of wrap-up), with the telephony results delivered late, out of order, to one or both
processes, and replayed (old fences, other agents). A seeded random schedule, interleaved by
asyncio at every round trip.

Checked against consistent snapshots of Redis while it runs: a call is offered or connected to
an agent who is on that very call (an agent names one call: so no agent holds two calls, and a
call names one agent), no ready agent names a call, every index agrees with the hashes.
Checked from what the scripts answered: no offer (fence) settles twice, none by another agent,
a call connects at most once; at the end every call ended exactly once with the outcome its
path implies, every offer is settled, no call or agent is left on a call, and no partial
record exists.

It found that a process whose view still had an agent in wrap-up could end that timer after
another process had made the agent ready and offered it a call: the agent became ready with
the call offered to it (agent_state.lua now moves an agent on a call only by a change naming
that call).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field, replace

from redis.asyncio import Redis

from acd.domain.model import Agent, AgentState, Call, CallStatus, Outcome, Queue
from acd.domain.outcomes import after_conversation, after_no_answer, after_timer
from acd.metrics import Metrics
from acd.store import Store
from acd.store.codec import agent_from_fields, call_from_fields

SEED = 20261202
ROUTERS = 3
AGENTS = 12
CLAIMS = 3000  # offers made (successful claims) before the schedule drains
LIVE = 24  # callers in the system at once, at most
NOW = 1_800_000_000.0
DAY = "2027-01-15"
ON_CALL = {"reserved", "ringing", "busy"}
S = AgentState


@dataclass
class Event:
    """What Asterisk tells the routers: an offer answered or not, a caller gone."""

    kind: str  # "answer", "no-answer", "hangup"
    call: str
    agent: str = ""
    fence: int = 0


@dataclass
class Ledger:
    """The truth the test keeps outside Redis, from what each script answered."""

    calls: dict[str, Call] = field(default_factory=dict)  # as they arrived
    live: set[str] = field(default_factory=set)  # arrived, not ended (as far as answered)
    enqueued: Counter[str] = field(default_factory=Counter)
    offers: dict[int, tuple[str, str]] = field(default_factory=dict)  # fence -> call, agent
    settled: dict[int, list[str]] = field(default_factory=dict)  # fence -> by what
    connected: dict[str, list[int]] = field(default_factory=dict)  # call -> fences
    ends: dict[str, list[tuple[CallStatus, Outcome]]] = field(default_factory=dict)
    pending: list[Event] = field(default_factory=list)  # not delivered yet
    delivered: list[Event] = field(default_factory=list)  # kept for replays
    problems: list[str] = field(default_factory=list)
    ticks: int = 0
    replays: int = 0
    stale_refused: int = 0

    def now(self) -> float:
        self.ticks += 1
        return NOW + self.ticks * 0.01

    def settle(self, fence: int, how: str, agent: str) -> None:
        self.settled.setdefault(fence, []).append(how)
        call, offered_to = self.offers[fence]
        if agent != offered_to:
            self.problems.append(f"offer {fence} of {call} to {offered_to} settled by {agent}")
        if len(self.settled[fence]) > 1:
            self.problems.append(f"offer {fence} of {call} settled twice: {self.settled[fence]}")


class Router:
    """One acd process: a Store on its own connection, a view fed by its own scripts'
    snapshots and by occasional reloads (another process's changes arrive late), and the
    service's handlers reduced to their store calls."""

    def __init__(self, name: str, store: Store, ledger: Ledger, rng: random.Random) -> None:
        self.name = name
        self.store = store
        self.ledger = ledger
        self.rng = rng
        self.agents: dict[str, Agent] = {}
        self.calls: dict[str, Call] = {}
        self.peers: list[Router] = []  # every router, this one too: they see the same events
        store.on_change = self._seen

    def _seen(self, kind: str, fields: dict[str, str]) -> None:
        if kind == "a" and fields.get("id"):
            self.agents[fields["id"]] = agent_from_fields(fields)
        elif kind == "c" and fields.get("id"):
            if fields.get("status") == "ended":
                self.calls.pop(fields["id"], None)
            else:
                self.calls[fields["id"]] = call_from_fields(fields)

    async def reload(self) -> None:
        for agent in await self.store.list_agents():
            self.agents[agent.id] = agent
        found = await self.store.get_calls(sorted(self.ledger.live))
        self.calls = {c.id: c for c in found if c.status is not CallStatus.ENDED}

    # --- the handlers -------------------------------------------------------------------------

    async def arrive(self, call: Call) -> None:
        if await self.store.enqueue(call):
            self.ledger.enqueued[call.id] += 1

    async def offer(self) -> None:
        """routing: a waiting call to a ready agent, both as this view has them."""
        waiting = [c for c in self.calls.values() if c.status is CallStatus.WAITING]
        ready = [a for a in self.agents.values() if a.state is S.READY and not a.device_busy]
        if not waiting or not ready:
            return
        call, agent = self.rng.choice(waiting), self.rng.choice(ready)
        now = self.ledger.now()
        fence = await self.store.claim(call, agent, now, now + 30)
        if not fence:
            return
        ledger = self.ledger
        if fence in ledger.offers:
            ledger.problems.append(f"fence {fence} given twice")
        ledger.offers[fence] = (call.id, agent.id)
        if self.rng.random() < 0.7:  # AgentRinging (the dialplan's ACDRinging)
            await self.store.set_agent_state(
                agent, S.RINGING, self.ledger.now(), expected_call=call.id, call=call.id
            )
        kind = "answer" if self.rng.random() < 0.35 else "no-answer"
        ledger.pending.append(Event(kind, call.id, agent.id, fence))

    async def handle(self, event: Event) -> None:
        if event.kind == "answer":
            await self.answered(event)
        elif event.kind == "no-answer":
            await self.missed(event)
        else:
            await self.hung_up(event.call)

    async def answered(self, event: Event) -> None:
        """offers.agent_answered: connect only the offer standing, by its agent."""
        connected = await self.store.connect(
            event.call, self.ledger.now(), event.agent, f"PJSIP/{event.agent}-1", event.fence
        )
        if connected is None:
            self.ledger.stale_refused += 1
            return
        if connected != (event.agent, event.fence):
            self.ledger.problems.append(f"{event} connected as {connected}")
        self.ledger.settle(event.fence, "connect", connected[0])
        self.ledger.connected.setdefault(event.call, []).append(event.fence)
        self.ledger.pending.append(Event("hangup", event.call))  # the conversation ends

    async def missed(self, event: Event) -> None:
        """offers.agent_missed: release the offer standing, then the agent as the view (or a
        reload) has it."""
        call = self.ledger.calls[event.call]
        agent_id = await self.store.release(call, event.fence, event.agent)
        if agent_id is None:
            self.ledger.stale_refused += 1
            return
        self.ledger.settle(event.fence, "release", event.agent)
        if agent_id != event.agent:
            self.ledger.problems.append(f"{event} released the offer to {agent_id}")
        agent = self.agents.get(agent_id)
        if agent is None or agent.call != call.id:
            agent = await self.store.get_agent(agent_id)
        if agent is not None and agent.state in (S.RESERVED, S.RINGING):
            change = after_no_answer(
                agent, self.ledger.now(), pause=self.rng.random() < 0.3, pause_seconds=5
            )
            await self.store.set_agent_state(
                agent,
                change.agent.state,
                self.ledger.now(),
                expected_call=call.id,
                reason=change.agent.pause_reason,
                wrap_up_until=change.resume_at,
            )

    async def hung_up(self, call_id: str, outcome: Outcome = Outcome.ABANDONED) -> None:
        """endings.end_call: the caller hung up (an abandon, or the end of a conversation),
        or was sent elsewhere; the agent freed with it if the view has it on the call, else
        the long way after."""
        call = self.calls.get(call_id) or self.ledger.calls[call_id]
        now = self.ledger.now()
        agent = self.agents.get(call.agent) if call.agent else None
        after = (
            after_conversation(agent, now, talk=3.0, wrap_up_seconds=2, today=DAY)
            if agent is not None and agent.state is S.BUSY
            else None
        )
        ended = await self.store.end_call(
            call,
            outcome,
            now,
            "cause 16",
            agent=agent,
            after_talk=after.agent.state if after else S.READY,
            wrap_up_until=after.resume_at if after else 0.0,
            day=DAY,
        )
        if ended is None:
            return
        ledger = self.ledger
        final = Outcome.ANSWERED if ended.previous is CallStatus.CONNECTED else outcome
        ledger.ends.setdefault(call_id, []).append((ended.previous, final))
        ledger.live.discard(call_id)
        if ended.previous is CallStatus.CONNECTED and not ended.agent_freed and ended.agent:
            await self._handover(call_id, ended.agent, now)
        elif ended.previous is CallStatus.OFFERED and ended.agent and not ended.agent_freed:
            other = self.agents.get(ended.agent)
            if other is not None:
                await self.store.set_agent_state(other, S.READY, now, expected_call=call_id)

    async def _handover(self, call_id: str, agent_id: str, now: float) -> None:
        """endings.handover_agent: count the talk, wrap-up (or ready) if still on the call."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        await self.store.count_handled(agent.id, 3.0, DAY)
        change = (
            after_conversation(agent, now, talk=3.0, wrap_up_seconds=2, today=DAY)
            if agent.state is S.BUSY
            else None
        )
        await self.store.set_agent_state(
            agent,
            change.agent.state if change else S.READY,
            now,
            expected_call=call_id,
            wrap_up_until=change.resume_at if change else 0.0,
        )

    async def timer(self) -> None:
        """housekeeping._wrap_up_over: a wrap-up or no-answer pause in this view is over."""
        resting = [a for a in self.agents.values() if a.state in (S.WRAP_UP, S.PAUSED)]
        if not resting:
            return
        agent = self.rng.choice(resting)
        now = self.ledger.now()
        change = after_timer(agent, now)
        await self.store.set_agent_state(agent, change.agent.state, now)

    # --- the schedule -------------------------------------------------------------------------

    async def step(self, serial: list[int]) -> None:
        """One thing happens, drawn from this router's seeded generator."""
        ledger, rng = self.ledger, self.rng
        roll = rng.random()
        if roll < 0.12 and len(ledger.live) < LIVE:
            serial[0] += 1
            call = Call(
                id=f"c{serial[0]}",
                channel=f"PJSIP/trunk-{serial[0]}",
                queue="sales",
                priority=rng.choice((0, 0, 0, 5)),
                arrived_at=ledger.now(),
                caller_name="محمد رضایی",
            )
            ledger.calls[call.id] = call
            ledger.live.add(call.id)
            await self.arrive(call)
            if rng.random() < 0.4:  # the other process saw the same ACDEnqueue
                await rng.choice(self.peers).arrive(call)
        elif roll < 0.40:
            await self.offer()
        elif roll < 0.72 and ledger.pending:
            event = ledger.pending.pop(rng.randrange(len(ledger.pending)))  # any order
            if event.kind != "hangup" and rng.random() < 0.15:
                # About this very offer, from another agent (a phone of a ring group, say).
                other = f"a{(int(event.agent[1:]) + rng.randrange(1, AGENTS)) % AGENTS}"
                ledger.replays += 1
                await self.handle(replace(event, agent=other))
            await self.handle(event)
            if rng.random() < 0.3:
                ledger.delivered.append(event)
        elif roll < 0.78 and ledger.delivered:
            event = rng.choice(ledger.delivered)  # late, again, or about another agent
            if event.kind != "hangup" and rng.random() < 0.3:
                event = replace(event, agent=f"a{rng.randrange(AGENTS)}")
            ledger.replays += 1
            await self.handle(event)
        elif roll < 0.84 and ledger.live:
            call_id = rng.choice(sorted(ledger.live))  # the caller gives up, at any moment
            outcome = Outcome.ABANDONED if rng.random() < 0.8 else Outcome.OVERFLOWED
            await self.hung_up(call_id, outcome)
            if rng.random() < 0.5:  # both processes see the Hangup
                ledger.pending.append(Event("hangup", call_id))
        elif roll < 0.94:
            await self.timer()
        else:
            await self.reload()


async def snapshot_check(redis: Redis, store: Store, ledger: Ledger, *, final: bool) -> None:
    """Every call offered or connected to an agent on that very call, and nowhere else; the
    indexes as the hashes say. In one MULTI: a consistent view of Redis. ``final``: besides,
    nothing is left on a call or in an index, and no record is partial."""
    keys = store.keys
    agent_ids = [f"a{i}" for i in range(AGENTS)]
    call_ids = sorted(ledger.calls) if final else sorted(ledger.live)
    pipe = redis.pipeline(transaction=True)
    for agent_id in agent_ids:
        pipe.hgetall(keys.agent(agent_id))
    for call_id in call_ids:
        pipe.hgetall(keys.call(call_id))
    for index in (keys.waiting("sales"), keys.offers, keys.active_calls, keys.ready("sales")):
        pipe.zrange(index, 0, -1)
    rows = await pipe.execute()
    agents = dict(zip(agent_ids, rows[:AGENTS], strict=True))
    calls = {c: f for c, f in zip(call_ids, rows[AGENTS:-4], strict=True) if f}
    indexes = dict(zip(("waiting", "offered", "active", "ready"), map(set, rows[-4:]), strict=True))
    ledger.problems += _call_problems(calls, agents, indexes)
    ledger.problems += _agent_problems(agents, indexes["ready"], final=final)
    if final:
        for call_id, fields in calls.items():
            if not all(fields.get(n) for n in ("id", "channel", "queue", "priority")):
                ledger.problems.append(f"partial record {call_id}: {sorted(fields)}")
        left = {k: v for k, v in indexes.items() if v and k != "ready"}
        if left:
            ledger.problems.append(f"left in the indexes: {left}")


def _call_problems(
    calls: dict[str, dict[str, str]],
    agents: dict[str, dict[str, str]],
    indexes: dict[str, set[str]],
) -> list[str]:
    problems = []
    for call_id, fields in calls.items():
        status, agent_id = fields["status"], fields.get("agent", "")
        for index, member in (
            ("waiting", status == "waiting"),
            ("offered", status == "offered"),
            ("active", status != "ended"),
        ):
            if member != (call_id in indexes[index]):
                problems.append(f"{call_id} {status}, in the {index} index: {not member}")
        if status in ("offered", "connected"):
            agent = agents[agent_id]
            want = {"reserved", "ringing"} if status == "offered" else {"busy"}
            if agent.get("state") not in want or agent.get("call") != call_id:
                problems.append(
                    f"{call_id} {status} to {agent_id}, who is {agent.get('state')} "
                    f"on {agent.get('call')!r}"
                )
    return problems


def _agent_problems(
    agents: dict[str, dict[str, str]], ready: set[str], *, final: bool
) -> list[str]:
    # An agent may still be on a call offered to another since: its no-answer released the
    # call, and the change of the agent follows (naming that call). Never at the end.
    problems = []
    for agent_id, fields in agents.items():
        state = fields.get("state")
        if (state == "ready") != (agent_id in ready):
            problems.append(f"{agent_id} {state}, in the ready index: {agent_id in ready}")
        if state == "ready" and fields.get("call"):
            problems.append(f"{agent_id} ready with call {fields['call']}")
        if final and state in ON_CALL:
            problems.append(f"{agent_id} left {state} on {fields.get('call')!r}")
    return problems


async def test_a_stale_timer_cannot_free_an_agent_on_a_call(redis: Redis, site: str) -> None:
    """A process still seeing an agent in wrap-up ends the timer after another made it ready
    and offered it a call: refused (before, the agent became ready with the call offered to
    it, and could be given a second one)."""
    store = Store(redis, site, Metrics(), finished_call_ttl=60)
    await store.save_queue(Queue("sales"))
    agent = Agent(id="a0", dial="PJSIP/a0", queues={"sales": 1})
    await store.save_agent_profile(agent)
    await store.set_agent_state(agent, S.READY, NOW)
    call = Call(id="c1", channel="PJSIP/trunk-1", queue="sales", priority=0, arrived_at=NOW)
    await store.enqueue(call)
    assert await store.claim(call, agent, NOW + 1, NOW + 30)
    seen = replace(agent, state=S.WRAP_UP)  # the stale view
    assert await store.set_agent_state(seen, after_timer(seen, NOW + 2).agent.state, NOW) is None
    stored = await store.get_agent("a0")
    assert stored is not None and (stored.state, stored.call) == (S.RESERVED, "c1")
    # Changes naming the call still move it.
    assert await store.set_agent_state(agent, S.READY, NOW + 3, expected_call="c1") is S.RESERVED


async def test_routers_racing_over_thousands_of_claims(redis_url: str, site: str) -> None:
    clients = [Redis.from_url(redis_url, decode_responses=True) for _ in range(ROUTERS + 1)]
    observer = clients[-1]
    try:
        await _race(clients, observer, site)
    finally:
        for client in clients:
            await client.aclose()


async def _race(clients: list[Redis], observer: Redis, site: str) -> None:
    ledger = Ledger()
    stores = [Store(c, site, Metrics(), finished_call_ttl=600) for c in clients[:ROUTERS]]
    setup = stores[0]
    await setup.save_queue(Queue("sales"))
    for i in range(AGENTS):
        agent = Agent(id=f"a{i}", dial=f"PJSIP/a{i}", name="Ольга", queues={"sales": 1})
        await setup.save_agent_profile(agent)
        await setup.set_agent_state(agent, S.READY, NOW)
    routers = [Router(f"r{i}", s, ledger, random.Random(SEED + i)) for i, s in enumerate(stores)]
    for router in routers:
        router.peers = routers
        await router.reload()
    serial = [0]

    async def run(router: Router) -> None:
        while len(ledger.offers) < CLAIMS and not ledger.problems:
            await router.step(serial)
            if router.rng.random() < 0.05:
                await snapshot_check(observer, setup, ledger, final=False)

    await asyncio.wait_for(asyncio.gather(*(run(r) for r in routers)), 60)
    assert ledger.problems == []

    await _drain(routers, ledger)
    await snapshot_check(observer, setup, ledger, final=True)
    await _check_ends(setup, ledger)
    assert ledger.problems == []
    outcomes = Counter(o for ends in ledger.ends.values() for _, o in ends)
    # Bounded and not vacuous: thousands of offers, every path taken many times.
    assert len(ledger.offers) >= CLAIMS
    assert len(ledger.connected) > 300 and outcomes[Outcome.ABANDONED] > 100
    assert outcomes[Outcome.OVERFLOWED] > 10 and ledger.replays > 300
    assert ledger.stale_refused > 300


async def _drain(routers: list[Router], ledger: Ledger) -> None:
    """Every result still on its way arrives, every caller left hangs up, every timer ends;
    each router with a fresh view."""
    for router in routers:
        await router.reload()
    while ledger.pending:
        await routers[0].handle(ledger.pending.pop())
    for call_id in sorted(ledger.live):
        await routers[1].reload()
        await routers[1].hung_up(call_id)
    await routers[2].reload()
    for agent in routers[2].agents.values():
        if agent.state in (S.WRAP_UP, S.PAUSED):
            await routers[2].store.set_agent_state(agent, S.READY, ledger.now())


async def _check_ends(store: Store, ledger: Ledger) -> None:
    """Each call entered once and ended once, as its path says (answered if and only if it
    was connected, by its last offer), as stored; every offer settled once."""
    fences: dict[str, list[int]] = {}
    for fence, (call_id, _) in sorted(ledger.offers.items()):
        fences.setdefault(call_id, []).append(fence)
    problems = ledger.problems
    for call_id in ledger.calls:
        if ledger.enqueued[call_id] != 1:
            problems.append(f"{call_id} enqueued {ledger.enqueued[call_id]} times")
        ends = ledger.ends.get(call_id, [])
        if len(ends) != 1:
            problems.append(f"{call_id} ended {len(ends)} times: {ends}")
            continue
        [(previous, outcome)] = ends
        stored = await store.get_call_fields(call_id)
        if (stored.get("status"), stored.get("outcome")) != ("ended", outcome.value):
            problems.append(f"{call_id} stored {stored.get('status')} {stored.get('outcome')}")
        offers = fences.get(call_id, [])
        if previous is CallStatus.OFFERED:  # the call ended while its last offer stood
            ledger.settle(offers[-1], "finish", ledger.offers[offers[-1]][1])
        connects = ledger.connected.get(call_id, [])
        if (previous is CallStatus.CONNECTED) != bool(connects) or connects not in (
            [],
            offers[-1:],
        ):
            problems.append(f"{call_id} connected on {connects}, offers {offers}, {previous}")
    problems += [f"offer {f} never settled" for f in ledger.offers if f not in ledger.settled]
