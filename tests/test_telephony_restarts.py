"""acd and Asterisk die under live calls, on both tiers: what happened meanwhile ends right.

acd runs as ``acd serve`` in a process of its own and is SIGKILLed; the simulator runs in real
time for these tests (``realtime``) so that both tiers live through the same moments.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path

import pytest
from redis.asyncio import Redis

from acd.metrics import Metrics
from acd.store.event_stream import EventStream, stream_entries
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


def _many_agents(count: int, ring_timeout: int) -> str:
    """A config of one queue and ``count`` agents 1001, 1002, ..."""
    lines = [
        "[[queues]]",
        'name = "sales"',
        f"ring_timeout_seconds = {ring_timeout}",
        "wrap_up_seconds = 0",
    ]
    for n in range(count):
        agent = str(1001 + n)
        lines += ["", "[[agents]]", f'id = "{agent}"', f'dial = "PJSIP/{agent}"']
        lines.append("queues = { sales = 1 }")
    return "\n".join(lines) + "\n"


async def _until_all_ended(redis: Redis, site: str, ids: set[str], timeout: float) -> None:
    """Follow acd's change feed (blocking reads) until every call of ``ids`` has ended."""
    keys = Keys(site)
    pending = {i for i in ids if await redis.hget(keys.call(i), "status") != "ended"}
    position = "$" if pending else "0-0"
    async with asyncio.timeout(timeout):
        while pending:
            reply = await redis.xread({keys.changes: position}, block=1000)
            for entry_id, fields in stream_entries(reply):
                position = entry_id
                entry = dict(fields or {})
                if entry.get("status") == "ended":
                    pending.discard(entry.get("id", ""))
            # Ended before the first read of the feed: seen in the hashes themselves.
            pending = {i for i in pending if await redis.hget(keys.call(i), "status") != "ended"}


# What acd must have recorded for each way a call ended on the telephony side.
_OUTCOMES = {"completed": "answered", "abandoned": "abandoned", "fallback": "overflowed"}
_TERMINAL = ("call.ended", "call.abandoned", "call.failed")


@pytest.mark.realtime
async def test_acd_killed_under_hundreds_of_waiting_and_ringing_calls_ends_each_once_right(
    pbx: Pbx, redis: Redis, redis_url: str, site: str, tmp_path: Path
) -> None:
    """Issue 12's fault suite: ``acd serve`` SIGKILLed with ~200 callers waiting and ringing
    (24 on the real Asterisk tier), some of them giving up on hold, and restarted 2 s later.
    Every call ends exactly once, with the outcome the telephony side saw (its own events
    against acd's call records), and no agent was ever rung while on another call."""
    rng = random.Random(12)
    agents, count = (40, 200) if pbx.name == "sim" else (8, 24)
    for n in range(agents):
        # A few phones nobody answers: their offers are missed and go to another agent.
        answers = n % 10 != 9
        await pbx.add_phone(str(1001 + n), answer_after=0.4, talk_for=1.0, answers=answers)
    acd = AcdProcess(
        tmp_path, ami_port=pbx.port, redis_url=redis_url, site=site, config=_many_agents(agents, 3)
    )
    await acd.start()
    try:
        for n in range(agents):
            status, _ = await acd.api("POST", f"/agents/{1001 + n}/state", {"state": "ready"})
            assert status == 200
        calls = [
            await pbx.place_call(
                "sales", caller_name=f"Звонящий {i}", patience=rng.choice([None, None, 2.0, 5.0])
            )
            for i in range(count)
        ]
        # Killed once the first answers come in: calls ringing, talking and waiting.
        await pbx.event("BridgeEnter", timeout=15)
        await acd.kill()
        # Away until some calls have ended unseen (conversations over, callers given up),
        # while more are answered.
        endings = [asyncio.ensure_future(c.ended()) for c in calls]
        async with asyncio.timeout(20):
            for ending in itertools.islice(asyncio.as_completed(endings), count // 20):
                await ending
        await acd.start()
        outcomes = await asyncio.gather(*(c.ended(timeout=90) for c in calls))
        ids = {c.uniqueid for c in calls}
        await _until_all_ended(redis, site, ids, timeout=30)
        keys = Keys(site)
        wrong = {}
        for call, seen in zip(calls, outcomes, strict=True):
            recorded = await redis.hgetall(keys.call(call.uniqueid))
            if recorded.get("outcome") != _OUTCOMES.get(seen):
                wrong[call.uniqueid] = (seen, recorded.get("outcome"), recorded.get("detail"))
        assert not wrong, wrong
        # Exactly once: no call has two endings in the event stream (one may be missing: the
        # events written after a decision die with a SIGKILLed process; the record does not).
        ended: dict[str, int] = {}
        stream, position = EventStream(redis, keys, Metrics()), "0-0"
        while True:
            position, events = await stream.read(position)
            if not events:
                break
            for event in events:
                if event.kind in _TERMINAL or (
                    event.kind == "call.overflowed" and "detail" in event.data
                ):
                    ended[str(event.data["call"])] = ended.get(str(event.data["call"]), 0) + 1
        assert len(ended) > count // 2
        assert not {c: n for c, n in ended.items() if n > 1}
        # No agent was rung while on another call, and none is left holding a call.
        assert sum(pbx.phone(str(1001 + n)).calls_busy for n in range(agents)) == 0
        for n in range(agents):
            agent = await redis.hgetall(keys.agent(str(1001 + n)))
            assert agent["state"] in ("ready", "paused"), agent
        assert await redis.zcard(keys.active_calls) == 0
    finally:
        await acd.kill()
