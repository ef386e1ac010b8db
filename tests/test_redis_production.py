"""acd on Redis as users run it in production: a master found through real Sentinels, which
fail over under load, and a real three-master Cluster. Each topology is a handful of local
redis-server processes started by the test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis

from acd.app import AcdApp
from acd.config import settings_from_dict
from acd.domain.model import Agent, AgentState, Call, Queue
from acd.errors import ConfigError
from acd.metrics import Metrics
from acd.sim import Simulator
from acd.store import Store
from acd.store.connection import MultiHostUrl, parse_multi_host_url
from acd.store.keys import Keys
from tests.redis_topologies import Cluster, FeatureMissing, SentinelSet
from tests.support import RecordingSink, contact_centre, log_in, sample

AGENTS = [
    {"id": f"{1001 + i}", "dial": f"PJSIP/{1001 + i}", "queues": {"sales": 1}} for i in range(3)
]
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("url", "read"),
    [
        (
            "redis+sentinel://:pa%40ss@10.0.0.1:26379,10.0.0.2:26380/acd-main/2",
            MultiHostUrl(
                "redis+sentinel",
                (("10.0.0.1", 26379), ("10.0.0.2", 26380)),
                "acd-main",
                2,
                None,
                "pa@ss",
            ),
        ),
        (
            "redis+sentinel://s1:26379/acd?sentinel_password=x",
            MultiHostUrl("redis+sentinel", (("s1", 26379),), "acd", sentinel_password="x"),
        ),
        (
            "redis+cluster://n1:7000,n2:7001",
            MultiHostUrl("redis+cluster", (("n1", 7000), ("n2", 7001))),
        ),
    ],
)
def test_sentinel_and_cluster_urls_are_read(url: str, read: MultiHostUrl) -> None:
    assert parse_multi_host_url(url) == read
    settings = settings_from_dict({"ami": {"secret": "s"}, "redis": {"url": url}})
    assert settings.redis.url == url


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://s1:26379",  # no service name
        "redis+sentinel://s1:notaport/acd",
        "redis+sentinel://s1:99999/acd",
        "redis+sentinel:///acd",
        "redis+sentinel://s1:26379/acd/x",
        "redis+cluster://n1:7000/0",
    ],
)
def test_a_bad_sentinel_or_cluster_url_is_named_in_one_line(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^redis\.url: ") as caught:
        settings_from_dict({"ami": {"secret": "s"}, "redis": {"url": url}})
    assert "\n" not in str(caught.value)


def test_every_key_of_a_site_carries_its_hash_tag() -> None:
    """One site, one Redis Cluster slot: every key, streams and daily figures included."""
    keys = Keys("main")
    names = [value for value in vars(keys).values() if isinstance(value, str)]
    names += [keys.call("c"), keys.history("c"), keys.agent("a"), keys.queue("q")]
    names += [keys.waiting("q"), keys.team_ready("t"), keys.cursor("q"), keys.ready("q")]
    names += [keys.daily_figures("2026-12-02", "queue", "q")]
    assert len(names) > 20
    assert all(name.startswith("acd:{main}:") for name in names), names


async def _start_or_skip(topology: SentinelSet | Cluster, name: str) -> None:
    try:
        await topology.start()
    except FeatureMissing as exc:
        await topology.stop()
        pytest.skip(f"Redis {name} tier: {exc}")


async def _fence_claim(store: Store, call_id: str, agent_id: str) -> int:
    agent = await store.get_agent(agent_id)
    call = await store.get_call(call_id)
    assert agent is not None and call is not None
    return await store.claim(call, agent, NOW, NOW + 30)


async def _ready(store: Store, agent_id: str) -> None:
    agent = Agent(id=agent_id, dial=f"PJSIP/{agent_id}", queues={"sales": 1})
    await store.save_agent_profile(agent)
    assert await store.set_agent_state(agent, AgentState.READY, NOW) is not None


async def test_sentinel_failover_under_load_loses_no_call_and_refuses_stale_fences(
    sim: Simulator, site: str, tmp_path: Path
) -> None:
    sentinels = SentinelSet(tmp_path)
    await _start_or_skip(sentinels, "Sentinel")
    for agent in AGENTS:
        sim.add_phone(str(agent["id"]), answer_after=0.5, talk_for=2.0)
    app = AcdApp(
        contact_centre(sentinels.url, sim.port, site=site, agents=AGENTS),
        sink=(sink := RecordingSink()),
    )
    try:
        await app.start()
        await sink.wait_for("telephony.reconciled")
        await log_in(app, *(str(a["id"]) for a in AGENTS))
        # A claim of another site's call, made before the failover: its fence is old after.
        fenced = Store(app.redis, f"{site}-fence", Metrics(), finished_call_ttl=60)
        await fenced.save_queue(Queue("sales"))
        await _ready(fenced, "9001")
        await fenced.enqueue(Call("f1", "PJSIP/trunk-f1", "sales", 0, NOW))
        old_fence = await _fence_claim(fenced, "f1", "9001")
        assert old_fence > 0
        calls = [
            await sim.place_call(queue="sales", caller_name=f"Звонок {i}", patience=3000)
            for i in range(6)
        ]
        await app.redis.wait(1, 2000)  # the replica has it all
        await sentinels.master.kill()
        calls += [
            await sim.place_call(queue="sales", caller_name=f"مكالمة {i}", patience=3000)
            for i in range(6)
        ]
        for sentinel in sentinels.sentinels:
            await sentinel.wait_for(r"\+switch-master acd", timeout=20)
        answered = await asyncio.gather(*(c.answered(timeout=60) for c in calls))
        assert all(answered), answered
        await asyncio.gather(*(c.ended(timeout=60) for c in calls))
        for call in calls:
            await sink.wait_for("call.ended", call=call.uniqueid, timeout=30)
        assert sample(app, "acd_calls_answered_total", queue="sales") == 12
        assert sample(app, "acd_redis_data_lost_total") == 0
        role = await app.redis.role()
        assert role[0] == "master"
        info = await app.redis.info("server")
        assert int(info["tcp_port"]) == sentinels.replica.port  # the new master
        # The offer made before the failover is released with its fence, the call offered
        # again: a late release with the old fence is refused, the new offer stands.
        offered = await fenced.get_call("f1")
        assert offered is not None
        assert await fenced.release(offered, old_fence) == "9001"
        await _ready(fenced, "9002")
        new_fence = await _fence_claim(fenced, "f1", "9002")
        assert new_fence > old_fence
        assert await fenced.release(offered, old_fence) is None
        stored = await fenced.get_call("f1")
        assert stored is not None and (stored.status.value, stored.agent) == ("offered", "9002")
        assert await fenced.connect("f1", NOW + 1, "9002", fence=new_fence) == ("9002", new_fence)
    finally:
        await app.stop()
        await sentinels.stop()


async def test_calls_are_routed_on_a_three_master_cluster_with_the_site_in_one_slot(
    sim: Simulator, site: str, tmp_path: Path
) -> None:
    cluster = Cluster(tmp_path)
    await _start_or_skip(cluster, "Cluster")
    for agent in AGENTS:
        sim.add_phone(str(agent["id"]), answer_after=0.5, talk_for=1.0)
    app = AcdApp(
        contact_centre(cluster.url, sim.port, site=site, agents=AGENTS),
        sink=(sink := RecordingSink()),
    )
    try:
        await app.start()
        await sink.wait_for("telephony.reconciled")
        await log_in(app, "1001", "1002")
        calls = [
            await sim.place_call(queue="sales", caller_name=f"Caller {i} Ольга", patience=600)
            for i in range(5)
        ]
        answered = await asyncio.gather(*(c.answered(timeout=30) for c in calls))
        assert set(answered) <= {"1001", "1002"} and all(answered)
        for call in calls:
            await sink.wait_for("call.ended", call=call.uniqueid, timeout=30)
        assert sample(app, "acd_calls_answered_total", queue="sales") == 5
        # Every key of the site (streams, figures, histories, indexes) in one slot.
        slots: set[int] = set()
        holders = 0
        for node in cluster.nodes:
            client = Redis(host="127.0.0.1", port=node.port, decode_responses=True)
            try:
                keys = [k async for k in client.scan_iter(match=f"acd:{{{site}}}:*", count=1000)]
                holders += bool(keys)
                for key in keys:
                    slots.add(int(await client.cluster("KEYSLOT", key)))
            finally:
                await client.aclose()
        assert len(slots) == 1 and holders == 1
        _, events = await app.event_stream.read("0-0")
        assert "call.answered" in {e.kind for e in events}
    finally:
        await app.stop()
        await cluster.stop()
