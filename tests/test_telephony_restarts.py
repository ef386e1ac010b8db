"""acd and Asterisk die under live calls, on both tiers: what happened meanwhile ends right.

acd runs as ``acd serve`` in a process of its own and is SIGKILLed; the simulator runs in real
time for these tests (``realtime``) so that both tiers live through the same moments.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from acd.store.keys import Keys
from tests.conftest import MakeAcd
from tests.pbx.acd_process import AcdProcess, stream_event
from tests.pbx.tiers import Pbx
from tests.support import log_in, sample

CONFIG = """
[[queues]]
name = "sales"
ring_timeout_seconds = 8
wrap_up_seconds = 0

[[agents]]
id = "1001"
name = "Anna"
dial = "PJSIP/1001"
queues = { sales = 1 }

[[agents]]
id = "1002"
name = "Bram"
dial = "PJSIP/1002"
queues = { sales = 1 }
"""


@pytest.mark.realtime
async def test_acd_killed_while_agents_talk_and_ring_picks_up_where_asterisk_is(
    pbx: Pbx, redis: Redis, redis_url: str, site: str, tmp_path: Path
) -> None:
    """Killed with one call talking, one ringing and one waiting; while acd is away the first
    conversation ends and the ringing agent answers. After restart: the free agent gets the
    waiting caller, the answered call stays with its agent, and talk is what Asterisk saw."""
    await pbx.add_phone("1001", answer_after=0.2, talk_for=2.0)
    await pbx.add_phone("1002", answer_after=2.5, talk_for=4.0)
    acd = AcdProcess(tmp_path, ami_port=pbx.port, redis_url=redis_url, site=site, config=CONFIG)
    await acd.start()
    try:
        for agent in ("1001", "1002"):
            status, _ = await acd.api("POST", f"/agents/{agent}/state", {"state": "ready"})
            assert status == 200
        talking = await pbx.place_call("sales", caller_name="Анна Каренина", patience=60)
        assert await talking.answered(timeout=10) == "1001"
        ringing = await pbx.place_call("sales", caller_name="سارا", patience=60)
        await pbx.event("DialBegin", DestChannel="PJSIP/1002-", timeout=10)
        waiting = await pbx.place_call("sales", caller_name="Daan", patience=60)
        await pbx.event("UserEvent", UserEvent="ACDEnqueue", Uniqueid=waiting.uniqueid)
        await acd.kill()
        # Meanwhile: 1001's conversation ends, 1002 answers the ringing call.
        assert await talking.ended(timeout=10) == "completed"
        assert await ringing.answered(timeout=10) == "1002"
        await acd.start()
        assert await waiting.answered(timeout=15) == "1001"
        assert await ringing.ended(timeout=15) == "completed"
        assert await waiting.ended(timeout=15) == "completed"
        ended = {
            call.uniqueid: await stream_event(redis, site, "call.ended", call=call.uniqueid)
            for call in (talking, ringing, waiting)
        }
        # The talk Asterisk recorded (2 s), not the time until acd came back to look.
        assert 1.5 <= ended[talking.uniqueid]["talk_seconds"] <= 3.0, ended[talking.uniqueid]
        kept = await redis.hgetall(Keys(site).call(ringing.uniqueid))
        assert (kept["outcome"], kept["agent"]) == ("answered", "1002")
        assert pbx.phone("1002").calls_rung == 1  # never taken from 1002 and rung elsewhere
        status, bram = await acd.api("GET", "/agents/1002")
        assert status == 200 and bram["state"] != "paused"  # not paused for "no answer"
        metrics = await acd.metrics()
        assert 'acd_calls_answered_total{queue="sales"} 2.0' in metrics  # ringing + waiting
    finally:
        await acd.kill()


async def test_asterisk_restarted_under_acd_ends_its_calls_as_failures_and_routing_goes_on(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    await pbx.add_phone("1001", answer_after=0.3, talk_for=1.0)
    app, sink = await make_tier_acd(queues=[{"name": "sales", "ring_timeout_seconds": 2}])
    waiting = await pbx.place_call("sales", caller_name="Ольга", patience=60)
    await sink.wait_for("call.offered", call=waiting.uniqueid)
    await pbx.restart(graceful=True)
    assert await waiting.ended(timeout=30) == "dropped"
    failed = await sink.wait_for("call.failed", call=waiting.uniqueid, timeout=30)
    assert failed["detail"] == "telephony-shutdown"
    assert sample(app, "acd_calls_abandoned_total", queue="sales") == 0  # not the caller's fault
    await sink.wait_for("telephony.reconciled", reconnect=True, timeout=30)
    await log_in(app, "1001")
    call = await pbx.place_call("sales", caller_name="Fatima", patience=60)
    assert await call.answered(timeout=15) == "1001"
