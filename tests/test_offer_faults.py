"""Offers settled only by events about that very offer: late, repeated and reordered dial
results, two acd processes on one Redis racing over the same calls and agents, and agents
whose dial string rings several devices (a ring group), one of them busy.

What is checked comes from the simulated Asterisk's own events (its event bus, before any
manager.conf filter): no caller's Dial rings two agents at once, and no agent phone is rung
while it has another call.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from acd.app import AcdApp
from acd.domain.model import AgentState
from acd.sim import Simulator
from acd.sim.callers import SimCall
from acd.sim.events import AmiEvent
from tests.conftest import MakeAcd
from tests.support import RecordingSink, contact_centre, log_in, sample

TERMINAL = ("call.ended", "call.abandoned", "call.failed", "call.overflowed")


def _endpoint(channel: str) -> str:
    """``PJSIP/1001-0000002a`` -> ``1001``."""
    return channel.removeprefix("PJSIP/").rsplit("-", 1)[0]


class Wire:
    """Every event the simulated Asterisk publishes, and the invariants of its calls: each
    DialBegin is checked against the legs open at that moment (no caller rings two agents,
    no phone is rung while it has a call, no conversation is cut to ring someone else)."""

    def __init__(self, sim: Simulator, groups: dict[str, str] | None = None) -> None:
        self.events: list[AmiEvent] = []
        self.groups = groups or {}  # endpoint -> agent, for ring groups (default: itself)
        self.ringing: dict[str, set[str]] = {}  # caller uniqueid -> open agent legs
        self.phone_channels: dict[str, set[str]] = {}  # endpoint -> its live channels
        self.answered: set[str] = set()  # callers an agent answered (no escalation here)
        self.problems: list[str] = []
        self._changed = asyncio.Event()
        sim.pbx.bus.subscribe(self)

    def deliver(self, events: Sequence[AmiEvent]) -> None:
        for event in events:
            self.events.append(event)
            self._check(event.name, dict(event.headers))
        self._changed.set()

    def _check(self, name: str, headers: dict[str, str]) -> None:
        if name == "DialBegin" and "Uniqueid" in headers:
            caller, leg = headers["Uniqueid"], headers["DestChannel"]
            endpoint = _endpoint(leg)
            agent = self.groups.get(endpoint, endpoint)
            others = {
                self.groups.get(_endpoint(c), _endpoint(c)) for c in self.ringing.get(caller, ())
            }
            if others - {agent}:
                self.problems.append(f"{caller} rings {agent} and {sorted(others)} at once")
            busy = self.phone_channels.get(endpoint, set()) - {leg}
            if busy:
                self.problems.append(f"{endpoint} rung for {caller} while on {sorted(busy)}")
            if caller in self.answered:
                self.problems.append(f"{caller} rung at {agent} after its conversation began")
            self.ringing.setdefault(caller, set()).add(leg)
            self.phone_channels.setdefault(endpoint, set()).add(leg)
        elif name == "DialEnd" and "Uniqueid" in headers:
            self.ringing.get(headers["Uniqueid"], set()).discard(headers["DestChannel"])
            if headers.get("DialStatus") == "ANSWER":
                self.answered.add(headers["Uniqueid"])
        elif name == "Hangup" and headers.get("Channel", "").startswith("PJSIP/"):
            channel = headers["Channel"]
            self.phone_channels.get(_endpoint(channel), set()).discard(channel)

    def find(self, name: str, **headers: str) -> list[AmiEvent]:
        return [
            e
            for e in self.events
            if e.name == name and all(dict(e.headers).get(k) == v for k, v in headers.items())
        ]

    async def wait_for(self, name: str, timeout: float = 10.0, **headers: str) -> AmiEvent:
        async with asyncio.timeout(timeout):
            while not self.find(name, **headers):
                self._changed.clear()
                await self._changed.wait()
        return self.find(name, **headers)[0]

    def dial_results(self) -> list[AmiEvent]:
        """What settles or answers offers: DialEnds and the dialplan's own result events."""
        return [
            e
            for e in self.events
            if (e.name == "DialEnd" and "Uniqueid" in dict(e.headers))
            or (
                e.name == "UserEvent"
                and dict(e.headers).get("UserEvent") in ("ACDDialResult", "ACDAnswered")
            )
        ]


async def _nothing() -> None:
    """A command for a worker: once it has run, the events before it are handled."""


def _without_fence(event: AmiEvent) -> AmiEvent:
    """``event`` as a dialplan older than the fence would have sent it."""
    headers = [(k, v) for k, v in event.headers if k != "Fence"]
    return AmiEvent.build(event.name, event.category, headers, event.privileged)


def _dial_results_of(wire: Wire, caller: str) -> list[AmiEvent]:
    return [e for e in wire.dial_results() if dict(e.headers).get("Uniqueid") == caller]


async def test_a_late_and_repeated_no_answer_never_settles_the_next_offer(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """The first agent's no-answer comes again (twice, in reverse order) while the second
    agent's phone rings: that offer stands, and the second agent's answer counts."""
    sim.add_phone("1001", answers=False)
    sim.add_phone("1002", answer_after=20.0, talk_for=1.0)
    wire = Wire(sim)
    queues = [{"name": "sales", "ring_timeout_seconds": 30, "wrap_up_seconds": 0}]
    app, sink = await make_acd(queues=queues)
    await log_in(app, "1001", "1002")  # 1001 idle longest: offered first
    call = await sim.place_call(queue="sales", caller_name="Ольга", patience=300)
    await sink.wait_for("agent.missed", call=call.uniqueid, agent="1001")
    first = _dial_results_of(wire, call.uniqueid)
    assert first, "the first Dial's results were seen"
    await wire.wait_for("DialBegin", Uniqueid=call.uniqueid, DialString="1002")
    sim.replay(first)
    sim.replay(first[::-1])
    sim.replay([_without_fence(e) for e in first if e.name == "UserEvent"])  # an old dialplan's
    answered = await sink.wait_for("call.answered", call=call.uniqueid, timeout=15)
    assert answered["agent"] == "1002"
    assert await call.answered(timeout=5) == "1002"
    assert [m["agent"] for m in sink.find("agent.missed", call=call.uniqueid)] == ["1001"]
    assert sim.phone("1002").calls_rung == 1
    await sink.wait_for("call.ended", call=call.uniqueid)
    # Replayed once more after the end, the old results change nothing either.
    sim.replay(_dial_results_of(wire, call.uniqueid))
    await app.router.call(_nothing)
    fields = await app.store.get_call_fields(call.uniqueid)
    assert (fields["status"], fields["outcome"], fields["agent"]) == ("ended", "answered", "1002")
    assert wire.problems == []


async def _settled(sinks: list[RecordingSink], call_id: str) -> None:
    """Wait until one of the processes has ended the call."""

    async def ended(sink: RecordingSink) -> None:
        await sink.wait_for_any(TERMINAL, timeout=30, call=call_id)

    waits = [asyncio.create_task(ended(s)) for s in sinks]
    done, pending = await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    assert done, f"{call_id} never ended in acd"


async def _callers_and_replays(
    sim: Simulator, wire: Wire, rng: random.Random, count: int
) -> tuple[list[SimCall], int]:
    """``count`` callers, a quarter of them impatient, arriving at random moments; now and
    then some old dial results are replayed (late, out of order). Returns the callers and
    the number of events replayed."""
    calls, replayed = [], 0
    for _ in range(count):
        patience = rng.choice([600.0, 600.0, 600.0, rng.uniform(3.0, 40.0)])
        calls.append(await sim.place_call(queue="sales", patience=patience))
        results = wire.dial_results()
        if results and rng.random() < 0.3:
            again = rng.sample(results, min(3, len(results)))
            sim.replay(again)
            replayed += len(again)
        # Arrivals spread over simulated time (not a wait for any condition).
        await asyncio.sleep(sim.pbx.clock.real(rng.uniform(0.0, 1.0)))
    return calls, replayed


def _ended_once_as_lived(sinks: list[RecordingSink], call: SimCall, outcome: str) -> None:
    """One ending in all of acd, the one the caller lived, answered by the agent who did."""
    ends = [k for s in sinks for k, d in s.events if k in TERMINAL and d["call"] == call.uniqueid]
    answers = [d["agent"] for s in sinks for d in s.find("call.answered", call=call.uniqueid)]
    assert len(ends) == 1, (call.uniqueid, ends)
    if outcome == "completed":
        assert (ends[0], answers) == ("call.ended", [call.answered_by])
    else:
        assert (outcome, ends[0], answers) == ("abandoned", "call.abandoned", [])


async def test_two_routers_racing_over_calls_with_no_answers_never_steal_a_ring(
    sim: Simulator, redis_url: str, site: str
) -> None:
    """Two acd processes on one Redis and one Asterisk, 12 agents whose phones answer half
    the time, 240 callers (some hang up while waiting or ringing), dial results replayed late
    and twice: every call ends exactly once with the outcome the caller lived, the answering
    agent is the one acd records, no Dial rings two agents, no phone is rung while busy."""
    rng = random.Random(12)
    agents: list[dict[str, Any]] = [
        {"id": f"{2001 + i}", "dial": f"PJSIP/{2001 + i}", "queues": {"sales": 1}}
        for i in range(12)
    ]
    for agent in agents:
        phone = sim.add_phone(
            str(agent["id"]), answer_after=2.0, talk_for=3.0, rng=random.Random(rng.random())
        )
        phone.answer_chance = 0.5
    wire = Wire(sim)
    settings = contact_centre(
        redis_url,
        sim.port,
        site=site,
        agents=agents,
        queues=[{"name": "sales", "ring_timeout_seconds": 4, "wrap_up_seconds": 0}],
        routing={"no_answer_pause": False},  # a missed agent may be offered the same call again
    )
    sinks = [RecordingSink(), RecordingSink()]
    apps = [AcdApp(settings, sink=sink) for sink in sinks]
    for app in apps:
        await app.start()
        await app.ami.wait_connected(10)
    try:
        for agent in agents:
            await log_in(apps[rng.randrange(2)], str(agent["id"]))
        calls, replayed = await _callers_and_replays(sim, wire, rng, 240)
        async with asyncio.timeout(60):
            outcomes = await asyncio.gather(*(c.ended() for c in calls))
            for call in calls:
                await _settled(sinks, call.uniqueid)
        # The last events are in: both processes are idle.
        for app in apps:
            await app.router.call(_nothing)
        assert replayed > 20
        assert wire.problems == []
        claims = len(wire.find("DialBegin"))
        misses = sum(len(s.find("agent.missed")) for s in sinks)
        assert claims >= 250 and misses >= 100, (claims, misses)  # the race did happen
        for call, outcome in zip(calls, outcomes, strict=True):
            _ended_once_as_lived(sinks, call, outcome)
        assert await apps[0].store.active_call_ids() == []
        for agent in agents:
            state = await apps[0].store.get_agent(str(agent["id"]))
            assert state is not None and state.state is AgentState.READY, state
            assert sim.phone(str(agent["id"])).calls_busy == 0
    finally:
        for app in apps:
            await app.stop()


async def test_two_routers_send_a_caller_to_the_fallback_once(
    sim: Simulator, redis_url: str, site: str
) -> None:
    """Both processes see each caller whose queue sends it to the fallback (a step nobody is
    logged in for, or a queue that does not exist), and both decide it must leave: only one
    moves it, so the caller hears the fallback once (one ACDFallback of Asterisk's own per
    caller) and acd counts one ending."""
    wire = Wire(sim)
    settings = contact_centre(
        redis_url,
        sim.port,
        site=site,
        agents=[{"id": "2101", "dial": "PJSIP/2101", "queues": {"sales": 1}}],
        queues=[{"name": "sales", "steps": [{"after": 0}, {"after": 2, "kind": "fallback"}]}],
    )
    sinks = [RecordingSink(), RecordingSink()]
    apps = [AcdApp(settings, sink=sink) for sink in sinks]
    for app in apps:
        await app.start()
        await app.ami.wait_connected(10)
    try:
        calls = [
            await sim.place_call(queue=queue, patience=600.0) for queue in ["sales", "nowhere"] * 10
        ]
        async with asyncio.timeout(30):
            assert set(await asyncio.gather(*(c.ended() for c in calls))) == {"fallback"}
            for call in calls[::2]:
                await _settled(sinks, call.uniqueid)
        for app in apps:
            await app.router.call(_nothing)
        unknown = [
            sample(a, "acd_calls_failed_total", queue="_unknown", reason="unknown_queue")
            for a in apps
        ]
        assert sum(unknown) == 10, unknown
        for n, call in enumerate(calls):
            heard = [
                e
                for e in wire.events
                if e.name == "UserEvent"
                and dict(e.headers).get("UserEvent") == "ACDFallback"
                and dict(e.headers).get("Uniqueid") == call.uniqueid
            ]
            assert len(heard) == 1, (call.uniqueid, len(heard))
            if n % 2:
                continue  # a caller for the queue that does not exist: counted above
            ends = [
                k
                for s in sinks
                for k, d in s.events
                if k in TERMINAL and d["call"] == call.uniqueid
            ]
            assert ends == ["call.overflowed"], (call.uniqueid, ends)
    finally:
        for app in apps:
            await app.stop()
