"""A real redis-server killed (SIGKILL, then restarted from its AOF) or frozen (SIGSTOP, then
SIGCONT) while calls talk, wait, end and arrive: every call keeps its outcome, no record is
partial, the API answers 503 while Redis is away and 2xx after. (Redis restarted without its
data: tests/test_redis_data_loss.py.)"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from acd.api.auth import token_hash
from acd.app import AcdApp
from acd.domain.model import AgentState, CallStatus
from acd.redis_server import RedisServer
from acd.sim import Simulator
from acd.store import Store
from tests.support import RecordingSink, contact_centre, log_in, sample

ADMIN = "adm-1"
HTTP = {"tokens": [{"name": "admin", "role": "admin", "sha256": token_hash(ADMIN)}]}


async def partial_records(store: Store) -> list[str]:
    """Agent and call hashes of the site that lack their id (none may ever be written)."""
    found = []
    async for key in store.redis.scan_iter(match=store.keys.prefix + "*"):
        kind = key[len(store.keys.prefix) :].split(":")[0]
        is_hash = kind in ("agent", "call") and await store.redis.type(key) == "hash"
        if is_hash and not await store.redis.hget(key, "id"):
            found.append(key)
    return found


async def api_status(app: AcdApp, path: str) -> int:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    url = f"http://127.0.0.1:{app.http_port}{path}"
    async with aiohttp.ClientSession(headers=headers) as http, http.get(url) as reply:
        return reply.status


@pytest.mark.parametrize("fault", ["killed", "paused"])
async def test_calls_keep_their_outcomes_through_a_redis_fault(
    fault: str, sim: Simulator, site: str, tmp_path: Path
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=600)
    sim.add_phone("1002", answer_after=0.5, talk_for=1.0)
    redis = RedisServer(tmp_path / "redis", persistent=True)
    await redis.start()
    settings = contact_centre(redis.url, sim.port, site=site, http=HTTP)
    app = AcdApp(settings, sink=(sink := RecordingSink()))
    await app.start()
    try:
        await sink.wait_for("telephony.reconciled", reconnect=False)
        await log_in(app, "1001")
        talking = await sim.place_call(queue="sales", caller_name="Ольга", patience=600)
        assert await talking.answered(timeout=10) == "1001"
        waiting = await sim.place_call(queue="sales", caller_name="مریم", patience=600)
        await sink.wait_for("call.offered", call=waiting.uniqueid)
        if fault == "killed":
            await redis.kill()
        else:
            redis.pause()
        # While Redis is away: the API says so, a conversation ends, a caller comes and goes.
        assert await api_status(app, "/api/v1/agents/1001") == 503
        talking.hang_up()
        assert await talking.ended(timeout=10) == "completed"
        brief = await sim.place_call(queue="sales", caller_name="Kees", patience=1)
        assert await brief.ended(timeout=10) == "abandoned"
        if fault == "killed":
            await redis.start()  # from its AOF
        else:
            redis.resume()
        ended = await sink.wait_for("call.ended", call=talking.uniqueid, timeout=20)
        assert ended["agent"] == "1001"
        await sink.wait_for("call.abandoned", call=brief.uniqueid, timeout=20)
        assert await api_status(app, "/api/v1/agents/1001") == 200
        # Freed by the end of the first conversation, Anna takes the caller who waited.
        assert await waiting.answered(timeout=10) == "1001"
        await sink.wait_for("call.answered", call=waiting.uniqueid)
        kept = await app.store.get_call(waiting.uniqueid)
        assert kept is not None and kept.status is CallStatus.CONNECTED
        anna = await app.store.get_agent("1001")
        assert anna is not None and anna.state is AgentState.BUSY
        assert await partial_records(app.store) == []
        assert sample(app, "acd_redis_data_lost_total") == 0  # the data came back with it
        assert sample(app, "acd_calls_answered_total", queue="sales") == 2
        assert sample(app, "acd_calls_abandoned_total", queue="sales") == 1
        assert sample(app, "acd_calls_failed_total", queue="sales", reason="vanished") == 0
    finally:
        await app.stop()
        await redis.stop()


PERSISTENCE_WARNING = "set 'appendonly yes' in redis.conf"


@pytest.mark.parametrize(
    ("persistent", "extra", "warned"),
    [
        (False, [], True),
        (False, ["--save", "3600 1"], True),
        (True, [], False),
        (False, ["--rename-command", "CONFIG", ""], False),  # managed Redis: CONFIG disabled
    ],
    ids=["no-persistence", "snapshots-only", "aof", "config-disabled"],
)
async def test_start_warns_once_when_redis_would_lose_its_data(
    persistent: bool,
    extra: list[str],
    warned: bool,
    sim: Simulator,
    site: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = RedisServer(tmp_path / "redis", persistent=persistent, extra_args=extra)
    await redis.start()
    app = AcdApp(contact_centre(redis.url, sim.port, site=site))
    try:
        with caplog.at_level("INFO", logger="acd"):
            await app.start()
        warnings = [r for r in caplog.records if PERSISTENCE_WARNING in r.getMessage()]
        assert len(warnings) == (1 if warned else 0), [r.getMessage() for r in warnings]
        assert all(r.levelname == "WARNING" for r in warnings)
    finally:
        await app.stop()
        await redis.stop()
