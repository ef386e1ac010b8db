"""Hostile input at the AMI edge: ids that would land on Redis keys of another type, and event
names invented without end. Counted and logged, never a Redis error, never unbounded series."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from acd.sim import Simulator
from acd.store.keys import Keys
from tests.conftest import MakeAcd
from tests.support import log_in, sample


async def test_a_caller_for_a_queue_name_no_queue_can_have_goes_to_the_fallback(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=30)
    app, _ = await make_acd()
    await log_in(app, "1001")  # sales:ready now exists, as a sorted set
    before = sample(app, "acd_redis_errors_total")
    call = await sim.place_call(queue="sales:ready", patience=60)
    assert await call.ended(timeout=10) == "fallback"
    assert sample(app, "acd_calls_failed_total", queue="_unknown", reason="unknown_queue") == 1
    assert sample(app, "acd_ami_bad_events_total", reason="bad_queue") == 1
    assert sample(app, "acd_redis_errors_total") == before


async def test_an_event_whose_uniqueid_is_no_call_id_is_counted_not_stored(
    sim: Simulator, make_acd: MakeAcd, redis: Redis
) -> None:
    app, sink = await make_acd()
    # A call's history is a list: the key a call id "<id>:history" would be the hash of.
    await redis.rpush(app.store.keys.history("1.5"), "{}")
    before = sample(app, "acd_redis_errors_total")
    forged = "1.5:history"
    sim.send_raw(
        b"Event: UserEvent\r\nUserEvent: ACDEnqueue\r\nChannel: PJSIP/trunk-00000099\r\n"
        + f"Uniqueid: {forged}\r\nQueue: sales\r\n\r\n".encode()
        + f"Event: Hangup\r\nChannel: PJSIP/trunk-00000099\r\nUniqueid: {forged}\r\n"
        "Cause: 16\r\n\r\n".encode()
    )
    # Frames are handled in order: once a later caller is in, the forged ones were seen.
    second = await sim.place_call(queue="sales", patience=60)
    await sink.wait_for("call.offered", call=second.uniqueid)
    assert sample(app, "acd_ami_bad_events_total", reason="bad_id") == 2
    assert sample(app, "acd_redis_errors_total") == before
    assert not sink.find("call.offered", call=forged)


async def test_invented_event_names_share_one_series(sim: Simulator, make_acd: MakeAcd) -> None:
    app, sink = await make_acd()
    sim.send_raw(b"".join(f"Event: Bogus{i}\r\nX: y\r\n\r\n".encode() for i in range(2000)))
    call = await sim.place_call(queue="sales", patience=60)
    await sink.wait_for("call.offered", call=call.uniqueid)
    series = {
        s.labels["event"]
        for metric in app.metrics.registry.collect()
        if metric.name == "acd_ami_events"
        for s in metric.samples
    }
    assert "other" in series and not any(name.startswith("Bogus") for name in series)
    assert len(series) <= 31
    assert sample(app, "acd_ami_events_total", event="other") >= 2000


async def test_a_caller_on_hold_whose_uniqueid_is_no_call_id_is_not_looked_up_in_redis(
    sim: Simulator, make_acd: MakeAcd, redis: Redis, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await redis.rpush(Keys(site).history("1.5"), "{}")
    # The simulator names the next channel as no Asterisk would, while acd is away.
    monkeypatch.setattr(sim.pbx, "new_uniqueid", lambda: "1.5:history")
    await sim.place_call(queue="sales", patience=60)
    monkeypatch.undo()
    app, sink = await make_acd()  # its first look at Asterisk's channels is done
    assert sample(app, "acd_redis_errors_total") == 0
    assert not sink.find("call.offered", call="1.5:history")
