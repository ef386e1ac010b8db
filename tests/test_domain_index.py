"""The agent and call indexes: incremental updates keep them exact."""

from __future__ import annotations

import random
from dataclasses import replace

from acd.domain.agent_index import AgentIndex
from acd.domain.call_index import WaitingCalls
from acd.domain.model import (
    Agent,
    AgentState,
    Assignment,
    Call,
    Queue,
    Role,
    Step,
    StepKind,
    Strategy,
)
from acd.domain.state_machine import transition

NOW = 1_700_000_000.0


def agent(agent_id: str, idle: float, **kw: object) -> Agent:
    fields: dict[str, object] = {
        "queues": {"support": 1},
        "state": AgentState.READY,
        "idle_since": NOW - idle,
    }
    fields.update(kw)
    return Agent(id=agent_id, dial=f"PJSIP/{agent_id}", **fields)  # type: ignore[arg-type]


def call(
    call_id: str, queue: str = "support", arrived: float = NOW, priority: int = 0, **kw: object
) -> Call:
    return Call(
        id=call_id,
        channel=f"PJSIP/t-{call_id}",
        queue=queue,
        priority=priority,
        arrived_at=arrived,
        **kw,  # type: ignore[arg-type]
    )


def chosen(index: AgentIndex, c: Call, **kw: object) -> str | None:
    decision = index.choose_agent_for_call(c, now=NOW, **kw)  # type: ignore[arg-type]
    return decision.agent_id if decision else None


def test_agent_leaves_the_index_while_on_a_call_and_returns_at_the_back() -> None:
    index = AgentIndex([Queue("support")], [agent("a", 300), agent("b", 200)])
    assert chosen(index, call("c1")) == "a"
    index.update(transition(index.get("a"), AgentState.RESERVED, NOW, call="c1"))  # type: ignore[arg-type]
    assert chosen(index, call("c2")) == "b"
    index.update(transition(index.get("a"), AgentState.BUSY, NOW))  # type: ignore[arg-type]
    index.update(transition(index.get("a"), AgentState.READY, NOW + 60))  # type: ignore[arg-type]
    assert chosen(index, call("c3")) == "b"  # a is idle only from now on


def test_phone_busy_with_a_direct_call_takes_the_agent_out() -> None:
    index = AgentIndex([Queue("support")], [agent("a", 300), agent("b", 200)])
    index.update(replace(agent("a", 300), device_busy=True))
    assert chosen(index, call("c1")) == "b"
    index.update(agent("a", 300))
    assert chosen(index, call("c1")) == "a"


def test_removed_agent_gets_no_calls() -> None:
    index = AgentIndex([Queue("support")], [agent("a", 300)])
    index.remove("a")
    assert "a" not in index and len(index) == 0
    assert chosen(index, call("c1")) is None


def test_changing_a_queues_strategy_resorts_its_agents() -> None:
    index = AgentIndex(
        [Queue("support")], [agent("a", 300, calls_taken=9), agent("b", 10, calls_taken=1)]
    )
    assert chosen(index, call("c1")) == "a"
    index.set_queue(Queue("support", strategy=Strategy.FEWEST_CALLS))
    assert chosen(index, call("c1")) == "b"
    index.update(agent("b", 10, calls_taken=20))
    assert chosen(index, call("c1")) == "a"


def test_round_robin_cursor_with_the_index() -> None:
    index = AgentIndex(
        [Queue("support", strategy=Strategy.ROUND_ROBIN)], [agent(n, 0) for n in ("a", "b", "c")]
    )
    assert [chosen(index, call("c1"), cursor=c) for c in ("", "a", "b", "c", "zz")] == [
        "a",
        "b",
        "c",
        "a",
        "a",
    ]


def test_random_with_the_index_is_repeatable() -> None:
    index = AgentIndex(
        [Queue("support", strategy=Strategy.RANDOM)], [agent(f"a{n}", n) for n in range(8)]
    )
    assert chosen(index, call("c1"), rng=random.Random(3)) == chosen(
        index, call("c1"), rng=random.Random(3)
    )


def test_team_lead_outside_the_queue_is_found_through_the_team() -> None:
    q = Queue("support", teams=("blue",), steps=(Step(), Step(after=60, kind=StepKind.LEADS)))
    lead = agent("lead", 5, queues={}, role=Role.LEAD, team="blue")
    index = AgentIndex([q], [lead, agent("red-lead", 900, queues={}, role=Role.LEAD, team="red")])
    assert index.choose_agent_for_call(call("c1", arrived=NOW - 30), now=NOW) is None
    decision = index.choose_agent_for_call(call("c1", arrived=NOW - 60), now=NOW)
    assert decision == Assignment("c1", "lead", "support", step=1)


def test_overflow_sees_logged_in_agents_only() -> None:
    q = Queue("support", teams=("blue",), steps=(Step(), Step(after=60, kind=StepKind.LEADS)))
    index = AgentIndex(
        [q],
        [
            agent("a", 0, state=AgentState.LOGGED_OUT),
            agent("lead", 0, queues={}, role=Role.LEAD, team="blue"),
        ],
    )
    decision = index.overflow_decision(call("c1"), NOW)
    assert decision is not None and decision.step == 1
    index.update(agent("a", 0, state=AgentState.PAUSED, pause_reason="lunch"))
    assert index.overflow_decision(call("c1"), NOW) is None


def test_waiting_calls_serve_a_freed_agent_in_order() -> None:
    waiting = WaitingCalls([Queue("support", aging_seconds=60)])
    waiting.add(call("late-low", arrived=NOW - 10, priority=1))
    waiting.add(call("early-low", arrived=NOW - 130, priority=1))  # aged to 3
    waiting.add(call("vip", arrived=NOW - 5, priority=3))
    anna = agent("anna", 0)
    assert [c.id for c in waiting.in_line("support", NOW)] == ["early-low", "vip", "late-low"]
    assert waiting.waiting_ahead(call("late-low", arrived=NOW - 10, priority=1), NOW) == 2
    decision = waiting.choose_call_for_agent(anna, now=NOW)
    assert decision is not None and decision.call_id == "early-low"
    assert waiting.remove("early-low") is not None and waiting.remove("early-low") is None
    decision = waiting.choose_call_for_agent(anna, now=NOW)
    assert decision is not None and decision.call_id == "vip"
    assert len(waiting) == 2


def test_waiting_calls_follow_the_agents_queue_ranks() -> None:
    waiting = WaitingCalls(
        [Queue("vip"), Queue("support")],
        [call("s", arrived=NOW - 600, priority=9), call("v", "vip")],
    )
    anna = agent("anna", 0, queues={"vip": 1, "support": 2})
    assert waiting.choose_call_for_agent(anna, now=NOW) == Assignment("v", "anna", "vip")


def test_re_adding_a_call_replaces_its_snapshot() -> None:
    waiting = WaitingCalls([Queue("support")], [call("c1")])
    waiting.add(call("c1", priority=5, step=1))
    assert len(waiting) == 1 and waiting.get("c1") == call("c1", priority=5, step=1)
