"""Benchmark of the pure routing core: the cost of one decision, reference against index.

Builds 5,000 agents in 200 queues (each agent in 1-5 queues, random skills and languages),
2,000 waiting calls, and times single decisions: a call arrives (which agent?) and an agent
frees up (which call?), for the reference functions and for the indexes, plus the cost of
keeping the indexes current. Prints medians and 99th percentiles in microseconds.
Run from the repository root: ``python -m loadtest.bench_routing``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from acd.domain.agent_index import AgentIndex
from acd.domain.call_index import WaitingCalls
from acd.domain.model import Agent, AgentState, Call, Queue, Role, Step, StepKind, Strategy
from acd.domain.routing import choose_agent_for_call, choose_call_for_agent
from acd.domain.strategies import is_available

T0 = 1_700_000_000.0
LANGUAGES = ("lang:en", "lang:ru", "lang:de", "lang:fr", "lang:es", "lang:ar")
PRODUCTS = ("billing", "tech", "sales", "retention", "mobile", "internet", "tv", "vip")
TEAMS = tuple(f"team{n}" for n in range(40))
# Most queues route by longest idle, as in most contact centres; every strategy is present.
STRATEGIES = [Strategy.LONGEST_IDLE] * 5 + list(Strategy)

T = TypeVar("T")


def build_queues(rng: random.Random, count: int) -> list[Queue]:
    queues = []
    for n in range(count):
        language = rng.choice(LANGUAGES)
        steps: tuple[Step, ...] = ()
        if n % 2:  # half the queues relax their language and overflow to leads
            steps = (
                Step(skills={language: 5}),
                Step(after=30, skills={language: 1}),
                Step(after=90, kind=StepKind.LEADS),
            )
        queues.append(
            Queue(
                f"q{n}",
                strategy=rng.choice(STRATEGIES),
                skills={language: 1},
                steps=steps,
                teams=tuple(rng.sample(TEAMS, 2)),
                aging_seconds=rng.choice([0.0, 60.0]),
            )
        )
    return queues


def build_agents(rng: random.Random, count: int, queues: Sequence[Queue]) -> list[Agent]:
    agents = []
    for n in range(count):
        memberships = rng.sample(list(queues), rng.randint(1, 5))
        skills: dict[str, int] = {}
        for queue in memberships:  # speak the languages of the queues one works in
            for name in queue.skills:
                skills[name] = rng.randint(1, 10)
        for name in rng.sample(PRODUCTS, rng.randint(1, 4)):
            skills[name] = rng.randint(1, 10)
        state = rng.choices(
            [
                AgentState.READY,
                AgentState.BUSY,
                AgentState.WRAP_UP,
                AgentState.PAUSED,
                AgentState.LOGGED_OUT,
            ],
            weights=[30, 45, 10, 10, 5],
        )[0]
        agents.append(
            Agent(
                id=f"a{n:05d}",
                dial=f"PJSIP/{n}",
                team=rng.choice(TEAMS),
                role=Role.LEAD if n % 25 == 0 else Role.AGENT,
                skills=skills,
                queues={q.name: rank for rank, q in enumerate(memberships, 1)},
                state=state,
                idle_since=T0 - rng.uniform(0, 3600),
                calls_taken=rng.randint(0, 40),
                talk_seconds=rng.uniform(0, 20_000),
                call="x" if state is AgentState.BUSY else "",
            )
        )
    return agents


def build_calls(rng: random.Random, count: int, queues: Sequence[Queue]) -> list[Call]:
    calls = []
    for n in range(count):
        queue = rng.choice(queues)
        skills = {name: rng.randint(1, 3) for name in rng.sample(PRODUCTS, rng.randint(0, 2))}
        calls.append(
            Call(
                id=f"c{n:05d}",
                channel=f"PJSIP/trunk-{n}",
                queue=queue.name,
                priority=rng.choice([0, 0, 0, 1, 5, 9]),
                arrived_at=T0 - rng.uniform(0, 300),
                skills=skills,
            )
        )
    return calls


def time_each(samples: Sequence[T], decide: Callable[[T], object]) -> list[float]:
    """Microseconds taken by ``decide`` on each sample."""
    costs = []
    clock = time.perf_counter_ns
    for sample in samples:
        start = clock()
        decide(sample)
        costs.append((clock() - start) / 1000)
    return costs


def report(label: str, costs: list[float]) -> None:
    costs = sorted(costs)
    p99 = costs[min(len(costs) - 1, int(len(costs) * 0.99))]
    print(
        f"{label:<52} median {statistics.median(costs):9.1f} us   p99 {p99:9.1f} us"
        f"   (n={len(costs)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    now = T0 + 1.0

    queues = build_queues(rng, args.queues)
    by_name = {q.name: q for q in queues}
    agents = build_agents(rng, args.agents, queues)
    calls = build_calls(rng, args.calls, queues)
    ready = [a for a in agents if is_available(a)]
    members: dict[str, list[Agent]] = {q.name: [] for q in queues}
    for agent in ready:
        for name in agent.queues:
            members[name].append(agent)
    waiting: dict[str, list[Call]] = {q.name: [] for q in queues}
    for call in calls:
        waiting[call.queue].append(call)
    print(
        f"{len(agents)} agents ({len(ready)} ready) in {len(queues)} queues, "
        f"{len(calls)} waiting calls, {args.decisions} decisions each"
    )

    start = time.perf_counter()
    agent_index = AgentIndex(queues, agents)
    call_index = WaitingCalls(queues, calls)
    print(f"{'building both indexes':<52} {1000 * (time.perf_counter() - start):9.1f} ms")

    arriving = [rng.choice(calls) for _ in range(args.decisions)]
    freed = [rng.choice(ready) for _ in range(args.decisions)]
    few = max(1, args.decisions // 10)  # the full scans are slow: fewer samples suffice

    def to_everyone(call: Call) -> object:
        return choose_agent_for_call(call, by_name[call.queue], agents, now=now)

    def to_queue_members(call: Call) -> object:
        return choose_agent_for_call(call, by_name[call.queue], members[call.queue], now=now)

    def to_indexed(call: Call) -> object:
        return agent_index.choose_agent_for_call(call, now=now)

    print("\ncall arrives -> which agent")
    report("reference, handed all agents", time_each(arriving[:few], to_everyone))
    report("reference, handed the queue's ready agents", time_each(arriving, to_queue_members))
    report("AgentIndex.choose_agent_for_call", time_each(arriving, to_indexed))

    def from_everywhere(agent: Agent) -> object:
        return choose_call_for_agent(agent, waiting, now=now, queues=by_name)

    def from_own_queues(agent: Agent) -> object:
        own = {name: waiting[name] for name in agent.queues}
        return choose_call_for_agent(agent, own, now=now, queues=by_name)

    def from_indexed(agent: Agent) -> object:
        return call_index.choose_call_for_agent(agent, now=now)

    print("\nagent frees up -> which call")
    report("reference, handed every queue's calls", time_each(freed[:few], from_everywhere))
    report("reference, handed the agent's queues' calls", time_each(freed, from_own_queues))
    report("WaitingCalls.choose_call_for_agent", time_each(freed, from_indexed))

    # The full reference also sees team leads outside the queue, as the index does.
    agree = sum(to_everyone(c) == to_indexed(c) for c in arriving[:few]) + sum(
        from_everywhere(a) == from_indexed(a) for a in freed[:few]
    )
    print(f"\nindex and full reference agree on {agree} of {2 * few} decisions")

    print("\nkeeping the indexes current")
    reserved = [replace(a, state=AgentState.RESERVED, call="c") for a in freed]
    back = [replace(a, state=AgentState.READY, idle_since=now) for a in freed]
    report("AgentIndex.update, ready -> reserved", time_each(reserved, agent_index.update))
    report("AgentIndex.update, reserved -> ready", time_each(back, agent_index.update))
    offered = list({c.id: c for c in arriving}.values())
    report(
        "WaitingCalls.remove (call offered)", time_each([c.id for c in offered], call_index.remove)
    )
    report("WaitingCalls.add (call back in line)", time_each(offered, call_index.add))


if __name__ == "__main__":
    main()
