"""The Redis store against a real redis-server: atomic claims, idempotent endings, any script."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from acd.domain.model import Agent, AgentState, Call, CallStatus, Outcome, Queue
from acd.metrics import Metrics
from acd.store import Store

NOW = 1_800_000_000.0


@pytest.fixture
async def store(redis: Redis, site: str) -> Store:
    store = Store(redis, site, Metrics(), finished_call_ttl=60)
    await store.save_queue(Queue("sales"))
    return store


async def ready_agent(store: Store, agent_id: str, idle_since: float, **kw: object) -> Agent:
    agent = Agent(id=agent_id, dial=f"PJSIP/{agent_id}", queues={"sales": 1}, **kw)  # type: ignore[arg-type]
    await store.save_agent_profile(agent)
    assert await store.set_agent_state(agent, AgentState.READY, idle_since) is AgentState.LOGGED_OUT
    return agent


def call(call_id: str, priority: int = 0, arrived: float = NOW, **kw: object) -> Call:
    return Call(
        id=call_id,
        channel=f"PJSIP/trunk-{call_id}",
        queue="sales",
        priority=priority,
        arrived_at=arrived,
        **kw,  # type: ignore[arg-type]
    )


async def test_waiting_calls_are_ordered_by_priority_then_arrival(store: Store) -> None:
    await store.enqueue(call("late-low", 1, NOW + 2))
    await store.enqueue(call("early-low", 1, NOW))
    await store.enqueue(call("late-high", 7, NOW + 5))
    ids = [c.id for c in await store.waiting_calls("sales")]
    assert ids == ["late-high", "early-low", "late-low"]


async def test_duplicate_enqueue_event_changes_nothing(store: Store) -> None:
    assert await store.enqueue(call("c1"))
    assert not await store.enqueue(call("c1", priority=9))
    [stored] = await store.waiting_calls("sales")
    assert stored.priority == 0


async def test_names_in_any_script_round_trip(store: Store) -> None:
    await store.save_queue(Queue("поддержка"))
    original = Call(
        id="c1",
        channel="PJSIP/trunk-1",
        queue="поддержка",
        priority=3,
        arrived_at=NOW,
        skills={"lang:ar": 2},
        attrs={"ملاحظة": "عميل مهم"},
        caller_name="محمد رضایی",
        caller_number="+31201234567",
    )
    await store.enqueue(original)
    assert await store.get_call("c1") == original
    agent = Agent(id="أحمد", dial="PJSIP/2001", name="Ольга ван Дейк", queues={"поддержка": 1})
    await store.save_agent_profile(agent)
    assert await store.get_agent("أحمد") == agent


async def test_two_claims_racing_for_one_call_one_wins(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    bram = await ready_agent(store, "bram", NOW - 5)
    await store.enqueue(call("c1"))
    c1 = await store.get_call("c1")
    assert c1 is not None
    fences = await asyncio.gather(
        store.claim(c1, anna, NOW, NOW + 20), store.claim(c1, bram, NOW, NOW + 20)
    )
    assert sorted(f > 0 for f in fences) == [False, True]
    assert await store.waiting_calls("sales") == []


async def test_one_agent_never_gets_two_calls(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    await store.enqueue(call("c1"))
    await store.enqueue(call("c2", arrived=NOW + 1))
    c1, c2 = await store.get_calls(["c1", "c2"])
    fences = await asyncio.gather(
        store.claim(c1, anna, NOW, NOW + 20), store.claim(c2, anna, NOW, NOW + 20)
    )
    assert sorted(f > 0 for f in fences) == [False, True]
    after = await store.get_agent("anna")
    assert after is not None and after.state is AgentState.RESERVED
    assert await store.ready_agents("sales") == []


async def test_device_busy_agent_cannot_be_claimed(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    await store.set_device_busy("anna", True)
    await store.enqueue(call("c1"))
    c1 = await store.get_call("c1")
    assert c1 is not None
    assert await store.claim(c1, anna, NOW, NOW + 20) == 0


async def test_a_reserved_call_is_claimed_only_by_its_agent_until_the_reservation_ends(
    store: Store,
) -> None:
    # Another acd process whose view missed the reservation still cannot give the call away.
    anna = await ready_agent(store, "anna", NOW - 10)
    bram = await ready_agent(store, "bram", NOW - 5)
    await store.enqueue(call("c1"))
    assert await store.reserve_call("c1", "anna", NOW + 30)
    c1 = await store.get_call("c1")
    assert c1 is not None and (c1.reserved_for, c1.reserved_until) == ("anna", NOW + 30)
    assert [c.id for c in await store.waiting_calls("sales")] == ["c1"]  # keeps its place
    assert await store.claim(c1, bram, NOW + 1, NOW + 20) == 0
    assert await store.claim(c1, bram, NOW + 31, NOW + 50) > 0  # over: anyone's
    await store.enqueue(call("c2"))
    assert await store.reserve_call("c2", "ghost", NOW + 30) is False  # no such agent
    assert await store.reserve_call("c2", "anna", NOW + 30)
    assert await store.end_reservation("c2", "anna", NOW + 29) is False  # not that one
    c2 = await store.get_call("c2")
    assert c2 is not None
    fence = await store.claim(c2, anna, NOW + 1, NOW + 20)
    assert fence > 0
    fields = await store.get_call_fields("c2")
    assert "reserved_for" not in fields and "reserved_until" not in fields  # taken: over


async def test_released_call_keeps_its_place_in_line(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    await store.enqueue(call("first", arrived=NOW))
    await store.enqueue(call("second", arrived=NOW + 1))
    first = await store.get_call("first")
    assert first is not None
    fence = await store.claim(first, anna, NOW + 2, NOW + 20)
    assert [c.id for c in await store.waiting_calls("sales")] == ["second"]
    assert await store.release(first, fence) == "anna"
    assert await store.release(first, fence) is None  # settled once only
    assert [c.id for c in await store.waiting_calls("sales")] == ["first", "second"]


async def test_stale_fence_cannot_release_a_newer_offer(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    bram = await ready_agent(store, "bram", NOW - 5)
    await store.enqueue(call("c1"))
    c1 = await store.get_call("c1")
    assert c1 is not None
    old = await store.claim(c1, anna, NOW, NOW + 20)
    await store.release(c1, old)
    new = await store.claim(c1, bram, NOW, NOW + 20)
    assert new > old
    assert await store.release(c1, old) is None
    assert await store.release(c1, new, "anna") is None  # the fence, but not anna's offer
    fields = await store.get_call_fields("c1")
    assert fields["status"] == "offered" and fields["agent"] == "bram"


async def test_only_the_offered_agent_and_offer_can_connect_a_call(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    bram = await ready_agent(store, "bram", NOW - 5)
    await store.enqueue(call("c1"))
    c1 = await store.get_call("c1")
    assert c1 is not None
    old = await store.claim(c1, anna, NOW, NOW + 20)
    await store.release(c1, old, "anna")
    new = await store.claim(c1, bram, NOW, NOW + 20)
    # A late answer of anna's earlier offer, or one naming its fence: refused.
    assert await store.connect("c1", NOW + 1, "anna") is None
    assert await store.connect("c1", NOW + 1, "bram", fence=old) is None
    fields = await store.get_call_fields("c1")
    assert (fields["status"], fields["agent"]) == ("offered", "bram")
    assert await store.connect("c1", NOW + 2, "bram", fence=new) == ("bram", new)
    assert await store.connect("c1", NOW + 3, "bram", fence=new) is None  # once
    agent = await store.get_agent("bram")
    assert agent is not None and agent.state is AgentState.BUSY


async def test_a_call_ends_once_and_connected_calls_end_answered(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    await store.enqueue(call("c1"))
    c1 = await store.get_call("c1")
    assert c1 is not None
    await store.claim(c1, anna, NOW, NOW + 20)
    assert await store.connect("c1", NOW + 3, "anna") is not None
    assert await store.finish(c1, Outcome.ABANDONED, NOW + 60) == (CallStatus.CONNECTED, "anna")
    assert await store.finish(c1, Outcome.ABANDONED, NOW + 61) is None
    fields = await store.get_call_fields("c1")
    assert fields["outcome"] == "answered"
    assert await store.active_call_ids() == []
    assert 0 < await store.redis.ttl(store.keys.call("c1")) <= 60


async def test_agent_state_follows_the_transition_table(store: Store) -> None:
    agent = Agent(id="anna", dial="PJSIP/1001", queues={"sales": 1})
    await store.save_agent_profile(agent)
    assert await store.set_agent_state(agent, AgentState.BUSY, NOW) is None
    assert await store.set_agent_state(agent, AgentState.PAUSED, NOW, reason="lunch")
    paused = await store.get_agent("anna")
    assert paused is not None and paused.pause_reason == "lunch"
    assert await store.ready_agents("sales") == []
    assert await store.set_agent_state(agent, AgentState.READY, NOW + 1)
    assert [a.id for a in await store.ready_agents("sales")] == ["anna"]


async def test_agent_change_about_an_old_call_does_not_touch_a_new_one(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    await store.enqueue(call("new"))
    new = await store.get_call("new")
    assert new is not None
    await store.claim(new, anna, NOW, NOW + 20)
    assert await store.set_agent_state(anna, AgentState.READY, NOW, expected_call="old") is None
    after = await store.get_agent("anna")
    assert after is not None and after.state is AgentState.RESERVED and after.call == "new"


async def test_wrap_up_timer_is_found_when_due(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    await store.enqueue(call("c1"))
    c1 = await store.get_call("c1")
    assert c1 is not None
    await store.claim(c1, anna, NOW, NOW + 20)
    await store.connect("c1", NOW + 1, "anna")
    await store.set_agent_state(anna, AgentState.BUSY, NOW + 1, expected_call="c1", call="c1")
    await store.set_agent_state(
        anna, AgentState.WRAP_UP, NOW + 9, expected_call="c1", wrap_up_until=NOW + 19
    )
    assert await store.due_wrap_ups(NOW + 18) == []
    assert await store.due_wrap_ups(NOW + 19) == ["anna"]
    await store.set_agent_state(anna, AgentState.READY, NOW + 19)
    assert await store.due_wrap_ups(NOW + 30) == []


async def test_offers_that_never_settle_are_found(store: Store) -> None:
    anna = await ready_agent(store, "anna", NOW - 10)
    await store.enqueue(call("c1"))
    c1 = await store.get_call("c1")
    assert c1 is not None
    await store.claim(c1, anna, NOW, NOW + 20)
    assert await store.overdue_offers(NOW + 19) == []
    assert await store.overdue_offers(NOW + 20) == ["c1"]
    await store.connect("c1", NOW + 5, "anna")
    assert await store.overdue_offers(NOW + 30) == []


async def test_agents_call_counts_start_again_each_day(store: Store) -> None:
    agent = await ready_agent(store, "1001", NOW)
    await store.count_handled(agent.id, 30.0, "2026-11-28")
    await store.count_handled(agent.id, 12.5, "2026-11-28")
    counted = await store.get_agent(agent.id)
    assert counted is not None
    assert (counted.calls_taken, counted.talk_seconds, counted.counts_day) == (
        2,
        42.5,
        "2026-11-28",
    )
    await store.count_handled(agent.id, 5.0, "2026-11-29")
    counted = await store.get_agent(agent.id)
    assert counted is not None
    assert (counted.calls_taken, counted.talk_seconds, counted.counts_day) == (1, 5.0, "2026-11-29")


async def test_escalated_calls_wait_ahead_of_every_priority_and_keep_their_arrival(
    store: Store,
) -> None:
    await store.enqueue(call("urgent", 9, NOW))
    agent = await ready_agent(store, "1001", NOW, team="north")
    live = call("live", 0, NOW + 10)
    await store.enqueue(live)
    assert await store.claim(live, agent, NOW + 11, NOW + 40)
    assert await store.connect("live", NOW + 12, "1001", "PJSIP/1001-00000001")
    assert not await store.escalate(live, Agent("1002", "PJSIP/1002"), NOW + 20)
    assert await store.escalate(live, agent, NOW + 20)
    assert not await store.escalate(live, agent, NOW + 21)  # once: it is waiting now
    waiting = await store.waiting_calls("sales")
    assert [c.id for c in waiting] == ["live", "urgent"]
    assert (waiting[0].escalated_by, waiting[0].escalation_team) == ("1001", "north")
    assert waiting[0].arrived_at == NOW + 10 and waiting[0].agent == ""


async def test_a_waiting_call_moves_queue_and_priority_keeping_its_arrival(
    store: Store,
) -> None:
    await store.save_queue(Queue("billing"))
    await store.enqueue(call("a", 1, NOW))
    await store.enqueue(call("b", 1, NOW + 1))
    b = await store.get_call("b")
    assert b is not None and await store.move_call(b, "sales", 5)
    assert [c.id for c in await store.waiting_calls("sales")] == ["b", "a"]
    a = await store.get_call("a")
    assert a is not None and await store.move_call(a, "billing")
    [moved] = await store.waiting_calls("billing")
    assert (moved.id, moved.priority, moved.arrived_at) == ("a", 1, NOW)
    await store.add_history("a", {"at": NOW, "event": "call.moved", "to": "биллинг"})
    assert (await store.history("a"))[0]["to"] == "биллинг"


async def test_routable_calls_reach_the_oldest_of_each_priority_beyond_the_first_ones(
    store: Store,
) -> None:
    await store.enqueue(call("old-low", 0, NOW))
    for n in range(60):
        await store.enqueue(call(f"new-high-{n}", 7, NOW + 100 + n))
    first = [c.id for c in await store.waiting_calls("sales", 50)]
    assert "old-low" not in first  # 60 calls of priority 7 stand before it in stored order
    routable = [c.id for c in await store.routable_calls("sales", 50, 5)]
    assert "old-low" in routable and len(routable) == len(set(routable)) == 51
