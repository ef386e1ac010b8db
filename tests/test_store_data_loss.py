"""After Redis lost its data, no script writes a partial agent, call or queue record, and a
partial record left by an older acd never crashes a read (nor start-up)."""

from __future__ import annotations

from redis.asyncio import Redis

from acd.domain.model import Agent, AgentState, Call, Outcome
from acd.metrics import Metrics
from acd.store import Store

NOW = 1_800_000_000.0


def _agent(agent_id: str = "1001") -> Agent:
    return Agent(id=agent_id, dial=f"PJSIP/{agent_id}", queues={"sales": 1})


def _call(call_id: str = "c1") -> Call:
    return Call(
        id=call_id, channel=f"PJSIP/trunk-{call_id}", queue="sales", priority=0, arrived_at=NOW
    )


async def _records(redis: Redis, store: Store) -> list[str]:
    """Keys of agent, call and queue records (not feeds, counters or indexes)."""
    found = []
    async for key in redis.scan_iter(match=store.keys.prefix + "*"):
        kind = key[len(store.keys.prefix) :].split(":")[0]
        if kind in ("agent", "call", "queue") and await redis.type(key) in ("hash", "string"):
            found.append(key)
    return sorted(found)


async def test_no_script_writes_a_partial_record_of_an_agent_or_call_that_is_gone(
    redis: Redis, site: str
) -> None:
    store = Store(redis, site, Metrics(), finished_call_ttl=60)
    agent, call = _agent(), _call()
    await store.set_device_busy(agent.id, True)
    await store.count_handled(agent.id, 12.0, "2026-12-02")
    assert await store.set_agent_state(agent, AgentState.READY, NOW) is None
    assert await store.claim(call, agent, NOW, NOW + 5) == 0
    assert await store.connect(call.id, NOW, "PJSIP/1001-1") is None
    assert await store.release(call, 1) is None
    await store.set_call_step(call.id, 1)
    assert not await store.move_call(call, "sales", 3)
    assert not await store.escalate(call, agent, NOW)
    assert await store.end_call(call, Outcome.ABANDONED, NOW, agent=agent) is None
    assert await _records(redis, store) == []


async def test_a_partial_agent_hash_is_skipped_with_a_warning_not_a_crash(
    redis: Redis, site: str
) -> None:
    metrics = Metrics()
    store = Store(redis, site, metrics, finished_call_ttl=60)
    await redis.hset(store.keys.agent("1001"), "device_busy", "1")  # what an old acd left
    await redis.sadd(store.keys.agents, "1001")
    assert await store.get_agent("1001") is None
    assert await store.list_agents() == []
    assert (
        metrics.registry.get_sample_value("acd_redis_partial_records_total", {"kind": "agent"}) == 2
    )
    # Saving the agent again replaces the partial hash by a whole one.
    assert await store.save_agent_profile(_agent())
    fields = await store.agent_hash("1001")
    assert fields["id"] == "1001" and "device_busy" not in fields
    saved = await store.get_agent("1001")
    assert saved is not None and saved.state is AgentState.LOGGED_OUT
