"""Redis that comes back without its data (restarted with no AOF, or flushed): acd notices,
seeds the configuration again and adopts the callers Asterisk still has, those on hold as
waiting and those with an agent as connected; the API answers 503 meanwhile."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from acd.api.auth import token_hash
from acd.app import AcdApp
from acd.domain.model import AgentState, CallStatus
from acd.redis_server import RedisServer
from acd.service import seeding
from acd.sim import Simulator
from tests.conftest import acd_factory
from tests.pbx.tiers import Pbx
from tests.sim_client import AmiClient
from tests.support import RecordingSink, contact_centre, log_in, sample

ADMIN = "adm-1"
HTTP = {"tokens": [{"name": "admin", "role": "admin", "sha256": token_hash(ADMIN)}]}


async def test_redis_restarted_empty_is_seeded_again_and_callers_are_adopted(
    sim: Simulator, site: str, tmp_path: Path
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=600)
    sim.add_phone("1002", answer_after=0.5, talk_for=1.0)
    redis = RedisServer(tmp_path / "redis", persistent=False)
    await redis.start()
    app = AcdApp(
        contact_centre(redis.url, sim.port, site=site, http=HTTP), sink=(sink := RecordingSink())
    )
    await app.start()
    try:
        await sink.wait_for("telephony.reconciled", reconnect=False)
        await log_in(app, "1001")
        talking = await sim.place_call(queue="sales", caller_name="Ольга", patience=600)
        assert await talking.answered(timeout=10) == "1001"
        waiting = await sim.place_call(queue="sales", caller_name="مریم", patience=600)
        await sink.wait_for("call.offered", call=waiting.uniqueid)
        await redis.kill()
        await redis.start()  # no AOF: nothing comes back
        await sink.wait_for("telephony.reconciled", reconnect=True, timeout=15)
        assert sample(app, "acd_redis_data_lost_total") == 1
        assert await app.store.get_queue("sales") is not None
        assert await app.store.is_seeded()
        adopted = await app.store.get_call(waiting.uniqueid)
        assert adopted is not None and adopted.status is CallStatus.WAITING
        assert adopted.caller_name == "مریم"
        connected = await app.store.get_call(talking.uniqueid)
        assert connected is not None and connected.status is CallStatus.CONNECTED
        assert connected.agent == "1001"
        anna = await app.store.get_agent("1001")
        assert anna is not None and anna.state is AgentState.BUSY
        # The API answers again, and routing goes on.
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{app.http_port}/api/v1/agents/1002"
            async with http.get(url, headers={"Authorization": f"Bearer {ADMIN}"}) as reply:
                assert reply.status == 200, await reply.text()
        await log_in(app, "1002")
        assert await waiting.answered(timeout=10) == "1002"
        talking.hang_up()
        ended = await sink.wait_for("call.ended", call=talking.uniqueid)  # answered, talked
        assert ended["agent"] == "1001"
        assert not sink.find("call.failed")
        anna = await app.store.get_agent("1001")
        assert anna is not None and anna.state is AgentState.READY
    finally:
        await app.stop()
        await redis.stop()


async def test_api_answers_503_while_the_lost_data_is_seeded_again(
    sim: Simulator, site: str, tmp_path: Path, redis_url: str
) -> None:
    app = AcdApp(contact_centre(redis_url, sim.port, site=site, http=HTTP))
    await app.start()
    headers = {"Authorization": f"Bearer {ADMIN}"}
    base = f"http://127.0.0.1:{app.http_port}"
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            app.data_watch.recovering = True
            for method, path in [
                ("GET", "/api/v1/agents/1001"),
                ("POST", "/api/v1/agents/1001/state"),
                ("GET", "/api/v1/queues"),
            ]:
                async with http.request(method, base + path, json={"state": "ready"}) as reply:
                    assert reply.status == 503, (method, path, reply.status)
            async with http.get(base + "/health") as reply:
                assert reply.status == 503
                assert (await reply.json())["checks"]["redis_data"] is False
            app.data_watch.recovering = False
            async with http.get(base + "/api/v1/agents/1001") as reply:
                assert reply.status == 200
    finally:
        await app.stop()


async def test_start_up_over_a_partial_agent_hash_seeds_the_agent_whole(
    sim: Simulator, site: str, redis_url: str
) -> None:
    """What an older acd left after Redis lost its data: {device_busy: 1} alone. ``acd serve``
    exited with KeyError: 'id'."""
    app = AcdApp(contact_centre(redis_url, sim.port, site=site))
    await app.redis.hset(app.store.keys.agent("1001"), "device_busy", "1")
    await app.redis.sadd(app.store.keys.agents, "1001")
    await app.start()
    try:
        agent = await app.store.get_agent("1001")
        assert agent is not None and agent.dial == "PJSIP/1001"
        assert agent.state is AgentState.LOGGED_OUT and not agent.device_busy
    finally:
        await app.stop()


async def test_a_flushed_redis_is_noticed_without_any_reconnection(
    sim: Simulator, site: str, redis_url: str
) -> None:
    """Same server (same run id), data gone: the marker alone tells."""
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    app = AcdApp(contact_centre(redis_url, sim.port, site=site), sink=(sink := RecordingSink()))
    await app.start()
    try:
        await sink.wait_for("telephony.reconciled", reconnect=False)
        call = await sim.place_call(queue="sales", caller_name="Kees", patience=600)
        await sink.wait_for("call.offered", call=call.uniqueid)
        await app.store.flush_site()
        await sink.wait_for("telephony.reconciled", reconnect=True, timeout=5)
        adopted = await app.store.get_call(call.uniqueid)
        assert adopted is not None and adopted.status is CallStatus.WAITING
        await log_in(app, "1001")
        assert await call.answered(timeout=10) == "1001"
    finally:
        await app.stop()


@pytest.mark.realtime
async def test_callers_asterisk_has_are_adopted_after_redis_lost_its_data(
    pbx: Pbx, site: str, tmp_path: Path
) -> None:
    """On both tiers: one caller talking to an agent, one on hold, when Redis comes back
    empty. The talking one stays that agent's (ended answered, with the talk Asterisk saw),
    the waiting one is answered by the next agent who logs in."""
    await pbx.add_phone("1001", answer_after=0.2, talk_for=4.0)
    await pbx.add_phone("1002", answer_after=0.2, talk_for=1.0)
    redis = RedisServer(tmp_path / "redis", persistent=False)
    await redis.start()
    apps: list[AcdApp] = []
    try:
        app, sink = await acd_factory(redis.url, site, pbx.port, apps)()
        await log_in(app, "1001")
        talking = await pbx.place_call("sales", caller_name="Анна Каренина", patience=60)
        assert await talking.answered(timeout=10) == "1001"
        waiting = await pbx.place_call("sales", caller_name="سارا", patience=60)
        await sink.wait_for("call.offered", call=waiting.uniqueid)
        await redis.kill()
        await redis.start()
        await sink.wait_for("telephony.reconciled", reconnect=True, timeout=15)
        connected = await app.store.get_call(talking.uniqueid)
        assert connected is not None and connected.status is CallStatus.CONNECTED
        assert connected.agent == "1001"
        adopted = await app.store.get_call(waiting.uniqueid)
        assert adopted is not None and adopted.caller_name == "سارا"
        await log_in(app, "1002")
        assert await waiting.answered(timeout=10) == "1002"
        assert await talking.ended(timeout=10) == "completed"
        ended = await sink.wait_for("call.ended", call=talking.uniqueid, timeout=10)
        assert ended["agent"] == "1001"
        assert 2.0 <= ended["talk_seconds"] <= 5.0, ended
        assert not sink.find("call.failed")
    finally:
        for app in apps:
            await app.stop()
        await redis.stop()


async def test_a_caller_being_rung_when_the_data_is_lost_stays_offered_to_that_agent(
    sim: Simulator, site: str, redis_url: str
) -> None:
    sim.add_phone("1001", answer_after=150, talk_for=1.0)  # 3 s of real time
    queues = [{"name": "sales", "ring_timeout_seconds": 300, "wrap_up_seconds": 0}]
    settings = contact_centre(redis_url, sim.port, site=site, queues=queues)
    app = AcdApp(settings, sink=(sink := RecordingSink()))
    await app.start()
    try:
        await sink.wait_for("telephony.reconciled", reconnect=False)
        await log_in(app, "1001")
        watcher = await AmiClient.connect(sim.port)
        await watcher.login()
        call = await sim.place_call(queue="sales", caller_name="Fatima", patience=3000)
        await watcher.find(
            lambda m: (
                m.event == "DialBegin" and (m.get("DestChannel") or "").startswith("PJSIP/1001")
            ),
            10,
        )
        await watcher.close()
        await app.store.flush_site()
        await sink.wait_for("telephony.reconciled", reconnect=True, timeout=5)
        offered = await app.store.get_call(call.uniqueid)
        assert offered is not None and offered.status is CallStatus.OFFERED
        assert offered.agent == "1001"
        anna = await app.store.get_agent("1001")
        assert anna is not None and anna.state is AgentState.RINGING
        assert await call.answered(timeout=10) == "1001"
        await sink.wait_for("call.answered", call=call.uniqueid)
        ended = await sink.wait_for("call.ended", call=call.uniqueid, timeout=10)
        assert ended["agent"] == "1001"
    finally:
        await app.stop()


class _LogSeen(logging.Handler):
    """Sets ``seen`` when a record with ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


async def test_the_broken_change_feed_alone_finds_the_lost_data(
    sim: Simulator, site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the once-a-second check out of the way, the follower that lost the change feed
    is what has the data checked (and recovered) once Redis is back."""
    monkeypatch.setattr(seeding, "CHECK_SECONDS", 3600.0)
    redis = RedisServer(tmp_path / "redis", persistent=False)
    await redis.start()
    app = AcdApp(contact_centre(redis.url, sim.port, site=site), sink=(sink := RecordingSink()))
    broken = _LogSeen("change feed unreadable")
    logging.getLogger("acd.mirror").addHandler(broken)
    try:
        await app.start()
        await sink.wait_for("telephony.reconciled", reconnect=False)
        waiting = await sim.place_call(queue="sales", caller_name="Дарья", patience=3000)
        await sink.wait_for("call.offered", call=waiting.uniqueid)
        await redis.kill()
        async with asyncio.timeout(10):
            await broken.seen.wait()
        await redis.start()
        await sink.wait_for("telephony.reconciled", reconnect=True, timeout=10)
        assert sample(app, "acd_redis_data_lost_total") == 1
        adopted = await app.store.get_call(waiting.uniqueid)
        assert adopted is not None and adopted.status is CallStatus.WAITING
    finally:
        logging.getLogger("acd.mirror").removeHandler(broken)
        await app.stop()
        await redis.stop()


async def test_a_caller_arriving_before_the_loss_is_noticed_waits_for_the_queue_to_return(
    sim: Simulator, site: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the loss and its recovery the view may have been read again without the
    queue: the caller is held, not sent to the fallback as one for an unknown queue."""
    monkeypatch.setattr(seeding, "CHECK_SECONDS", 3600.0)
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    app = AcdApp(contact_centre(redis_url, sim.port, site=site), sink=(sink := RecordingSink()))
    held = _LogSeen("holding the event")
    logging.getLogger("acd.router").addHandler(held)
    try:
        await app.start()
        await sink.wait_for("telephony.reconciled", reconnect=False)
        await app.store.flush_site()
        await app.router.call(app.router.mirror.load)  # the view, read again: nothing
        call = await sim.place_call(queue="sales", caller_name="Ольга", patience=3000)
        async with asyncio.timeout(10):
            await held.seen.wait()
        app.data_watch.poke()
        await sink.wait_for("call.offered", call=call.uniqueid, timeout=10)
        await log_in(app, "1001")
        assert await call.answered(timeout=10) == "1001"
        assert not sink.find("call.failed")
    finally:
        logging.getLogger("acd.router").removeHandler(held)
        await app.stop()
