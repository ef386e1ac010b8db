"""Routing in the contact centre's words: strategies, priority, aging, several queues."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from acd.domain.model import (
    Agent,
    AgentState,
    Assignment,
    Call,
    CallStatus,
    Queue,
    Role,
    Strategy,
)
from acd.domain.priority import call_order_key, effective_priority
from acd.domain.routing import can_take, choose_agent_for_call, choose_call_for_agent

NOW = 1_700_000_000.0


def agent(agent_id: str, **kw: object) -> Agent:
    fields: dict[str, object] = {
        "dial": f"PJSIP/{agent_id}",
        "queues": {"support": 1},
        "state": AgentState.READY,
        "idle_since": NOW - 60,
    }
    fields.update(kw)
    return Agent(id=agent_id, **fields)  # type: ignore[arg-type]


def call(
    call_id: str, queue: str = "support", priority: int = 0, arrived: float = NOW, **kw: object
) -> Call:
    return Call(
        id=call_id,
        channel=f"PJSIP/trunk-{call_id}",
        queue=queue,
        priority=priority,
        arrived_at=arrived,
        **kw,  # type: ignore[arg-type]
    )


def chosen(c: Call, q: Queue, agents: list[Agent], **kw: object) -> str | None:
    decision = choose_agent_for_call(c, q, agents, now=NOW, **kw)  # type: ignore[arg-type]
    return decision.agent_id if decision else None


# --- skills and languages -------------------------------------------------------------------


def test_russian_caller_reaches_russian_speaking_agent() -> None:
    agents = [
        agent("anna", skills={"lang:en": 9}, idle_since=NOW - 500),
        agent("boris", skills={"lang:ru": 6}, idle_since=NOW - 10),
    ]
    c = call("c1", skills={"lang:ru": 5})
    assert chosen(c, Queue("support"), agents) == "boris"


def test_queue_default_skills_apply_when_the_dialplan_names_none() -> None:
    q = Queue("billing", skills={"billing": 3})
    agents = [
        agent("novice", queues={"billing": 1}, skills={"billing": 1}, idle_since=NOW - 900),
        agent("expert", queues={"billing": 1}, skills={"billing": 8}),
    ]
    assert chosen(call("c1", "billing"), q, agents) == "expert"


def test_callers_own_level_overrides_the_queue_default() -> None:
    q = Queue("billing", skills={"billing": 8})
    agents = [agent("novice", queues={"billing": 1}, skills={"billing": 2})]
    assert chosen(call("c1", "billing", skills={"billing": 1}), q, agents) == "novice"


def test_nobody_with_the_language_means_no_offer() -> None:
    agents = [agent("anna", skills={"lang:en": 9})]
    assert chosen(call("c1", skills={"lang:de": 1}), Queue("support"), agents) is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"state": AgentState.PAUSED}, "paused"),
        ({"state": AgentState.WRAP_UP}, "in after-call work"),
        ({"state": AgentState.BUSY}, "talking"),
        ({"state": AgentState.LOGGED_OUT}, "gone home"),
        ({"device_busy": True}, "on a direct call"),
        ({"queues": {"sales": 1}}, "not in the queue"),
        ({"role": Role.SUPERVISOR}, "a supervisor, and no step names supervisors"),
    ],
)
def test_agent_who_cannot_take_calls_is_not_offered_one(
    change: dict[str, object], why: str
) -> None:
    busy = replace(agent("anna"), **change)  # type: ignore[arg-type]
    assert chosen(call("c1"), Queue("support"), [busy]) is None, why
    assert not can_take(busy, call("c1"))


def test_call_already_offered_is_not_offered_again() -> None:
    offered = call("c1", status=CallStatus.OFFERED)
    assert chosen(offered, Queue("support"), [agent("anna")]) is None


# --- strategies ------------------------------------------------------------------------------


def test_longest_idle_agent_gets_the_call() -> None:
    agents = [
        agent("a", idle_since=NOW - 10),
        agent("b", idle_since=NOW - 300),
        agent("c", idle_since=NOW - 30),
    ]
    assert chosen(call("c1"), Queue("support"), agents) == "b"


def test_fewest_calls_shares_calls_evenly() -> None:
    q = Queue("support", strategy=Strategy.FEWEST_CALLS)
    agents = {
        a.id: a
        for a in (agent("a", calls_taken=0), agent("b", calls_taken=0), agent("c", calls_taken=0))
    }
    for n in range(9):
        winner = chosen(call(f"c{n}"), q, list(agents.values()))
        assert winner is not None
        agents[winner] = replace(
            agents[winner], calls_taken=agents[winner].calls_taken + 1, idle_since=NOW + n
        )
    assert sorted(a.calls_taken for a in agents.values()) == [3, 3, 3]


def test_fewest_calls_ties_go_to_the_longest_idle() -> None:
    q = Queue("support", strategy=Strategy.FEWEST_CALLS)
    agents = [
        agent("a", calls_taken=2, idle_since=NOW - 900),
        agent("b", calls_taken=1, idle_since=NOW - 5),
        agent("c", calls_taken=1, idle_since=NOW - 50),
    ]
    assert chosen(call("c1"), q, agents) == "c"


def test_least_talk_time_favours_the_agent_who_talked_least() -> None:
    q = Queue("support", strategy=Strategy.LEAST_TALK_TIME)
    agents = [
        agent("a", talk_seconds=3600.0, idle_since=NOW - 900),
        agent("b", talk_seconds=600.0),
        agent("c", talk_seconds=1200.0),
    ]
    assert chosen(call("c1"), q, agents) == "b"


def test_round_robin_goes_round_the_agents_in_turn() -> None:
    q = Queue("support", strategy=Strategy.ROUND_ROBIN)
    agents = [agent("a"), agent("b"), agent("c")]
    cursor, order = "", []
    for n in range(6):
        decision = choose_agent_for_call(call(f"c{n}"), q, agents, now=NOW, cursor=cursor)
        assert decision is not None
        cursor = decision.agent_id  # the service keeps the queue's cursor
        order.append(cursor)
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_round_robin_skips_agents_who_are_not_ready() -> None:
    q = Queue("support", strategy=Strategy.ROUND_ROBIN)
    agents = [agent("a"), agent("b", state=AgentState.PAUSED), agent("c")]
    assert chosen(call("c1"), q, agents, cursor="a") == "c"
    assert chosen(call("c1"), q, agents, cursor="c") == "a"


def test_best_skill_gives_the_call_to_the_most_proficient_agent() -> None:
    q = Queue("support", strategy=Strategy.BEST_SKILL)
    agents = [
        agent("a", skills={"lang:ru": 4}, idle_since=NOW - 900),
        agent("b", skills={"lang:ru": 9}),
        agent("c", skills={"lang:ru": 7}),
    ]
    assert chosen(call("c1", skills={"lang:ru": 3}), q, agents) == "b"


def test_best_skill_ties_go_to_the_longest_idle() -> None:
    q = Queue("support", strategy=Strategy.BEST_SKILL)
    agents = [
        agent("a", skills={"billing": 7}, idle_since=NOW - 5),
        agent("b", skills={"billing": 7}, idle_since=NOW - 50),
    ]
    assert chosen(call("c1", skills={"billing": 1}), q, agents) == "b"


def test_random_is_repeatable_with_a_seeded_generator() -> None:
    q = Queue("support", strategy=Strategy.RANDOM)
    agents = [agent(f"a{n}") for n in range(10)]
    first = [chosen(call(f"c{n}"), q, agents, rng=random.Random(7)) for n in range(5)]
    again = [chosen(call(f"c{n}"), q, agents, rng=random.Random(7)) for n in range(5)]
    assert first == again
    reversed_input = chosen(call("c0"), q, agents[::-1], rng=random.Random(7))
    assert reversed_input == first[0]  # the draw does not depend on the order agents came in


def test_random_spreads_calls_over_every_agent() -> None:
    q = Queue("support", strategy=Strategy.RANDOM)
    agents = [agent(f"a{n}") for n in range(4)]
    rng = random.Random(1)
    winners = {chosen(call(f"c{n}"), q, agents, rng=rng) for n in range(100)}
    assert winners == {"a0", "a1", "a2", "a3"}


# --- priority and aging ----------------------------------------------------------------------


def test_higher_priority_caller_is_served_first() -> None:
    waiting = {
        "support": [
            call("early", priority=1, arrived=NOW - 100),
            call("vip", priority=5, arrived=NOW - 1),
        ]
    }
    decision = choose_call_for_agent(agent("anna"), waiting, now=NOW)
    assert decision == Assignment("vip", "anna", "support")


def test_first_come_first_served_within_a_priority() -> None:
    waiting = {"support": [call("second", arrived=NOW - 10), call("first", arrived=NOW - 20)]}
    decision = choose_call_for_agent(agent("anna"), waiting, now=NOW)
    assert decision is not None and decision.call_id == "first"


@pytest.mark.parametrize(
    ("priority", "waited", "aging", "expected"),
    [
        (0, 0, 60, 0),
        (0, 59, 60, 0),
        (0, 60, 60, 1),
        (2, 300, 60, 7),
        (5, 3600, 60, 9),  # capped at the top level
        (3, 3600, 0, 3),  # no aging configured
        (9, 10, 1, 9),
    ],
)
def test_priority_ages_one_level_per_aging_period(
    priority: int, waited: float, aging: float, expected: int
) -> None:
    q = Queue("support", aging_seconds=aging)
    c = call("c1", priority=priority, arrived=NOW - waited)
    assert effective_priority(c, q, NOW) == expected


def test_aging_lets_a_long_waiting_low_priority_call_overtake() -> None:
    q = Queue("support", aging_seconds=30)
    old = call("old", priority=1, arrived=NOW - 120)  # aged to 5
    new_vip = call("vip", priority=4, arrived=NOW - 1)
    decision = choose_call_for_agent(
        agent("anna"), {"support": [new_vip, old]}, now=NOW, queues={"support": q}
    )
    assert decision is not None and decision.call_id == "old"
    assert call_order_key(old, q, NOW) < call_order_key(new_vip, q, NOW)


def test_without_aging_the_urgent_call_still_goes_first() -> None:
    old = call("old", priority=1, arrived=NOW - 120)
    new_vip = call("vip", priority=4, arrived=NOW - 1)
    decision = choose_call_for_agent(agent("anna"), {"support": [old, new_vip]}, now=NOW)
    assert decision is not None and decision.call_id == "vip"


# --- agents in several queues ----------------------------------------------------------------


def test_freed_agent_serves_its_first_ranked_queue_first() -> None:
    anna = agent("anna", queues={"vip": 1, "support": 2})
    waiting = {
        "support": [call("old", arrived=NOW - 600, priority=9)],
        "vip": [call("new", "vip", arrived=NOW - 1)],
    }
    decision = choose_call_for_agent(anna, waiting, now=NOW)
    assert decision == Assignment("new", "anna", "vip")


def test_freed_agent_takes_the_next_queue_when_the_first_is_empty() -> None:
    anna = agent("anna", queues={"vip": 1, "support": 2})
    waiting = {"support": [call("old", arrived=NOW - 600)], "vip": []}
    decision = choose_call_for_agent(anna, waiting, now=NOW)
    assert decision == Assignment("old", "anna", "support")


def test_equal_ranks_compare_priority_then_wait_across_queues() -> None:
    anna = agent("anna", queues={"vip": 1, "support": 1})
    waiting = {
        "support": [call("s", arrived=NOW - 600, priority=2)],
        "vip": [call("v", "vip", arrived=NOW - 1, priority=3)],
    }
    assert choose_call_for_agent(anna, waiting, now=NOW) == Assignment("v", "anna", "vip")
    waiting["vip"] = [call("v", "vip", arrived=NOW - 1, priority=2)]
    assert choose_call_for_agent(anna, waiting, now=NOW) == Assignment("s", "anna", "support")


def test_freed_agent_skips_calls_it_lacks_the_language_for() -> None:
    anna = agent("anna", skills={"lang:en": 5})
    waiting = {
        "support": [
            call("ru", arrived=NOW - 600, skills={"lang:ru": 1}),
            call("en", arrived=NOW - 1, skills={"lang:en": 3}),
        ]
    }
    decision = choose_call_for_agent(anna, waiting, now=NOW)
    assert decision is not None and decision.call_id == "en"


def test_agent_ignores_queues_it_is_not_in() -> None:
    waiting = {"sales": [call("c1", "sales")]}
    assert choose_call_for_agent(agent("anna"), waiting, now=NOW) is None


def test_agent_who_is_not_ready_takes_no_call() -> None:
    paused = agent("anna", state=AgentState.PAUSED)
    assert choose_call_for_agent(paused, {"support": [call("c1")]}, now=NOW) is None
    phone_busy = agent("anna", device_busy=True)
    assert choose_call_for_agent(phone_busy, {"support": [call("c1")]}, now=NOW) is None


def test_service_can_still_call_without_a_clock() -> None:
    """The original signatures keep working: no ``now`` means the call's recorded step."""
    assert choose_agent_for_call(call("c1"), Queue("support"), [agent("anna")]) == Assignment(
        "c1", "anna", "support"
    )
    assert choose_call_for_agent(agent("anna"), {"support": [call("c1")]}) == Assignment(
        "c1", "anna", "support"
    )
