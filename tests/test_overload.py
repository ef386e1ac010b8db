"""Ten times the usual load at once: acd falls behind, says so, and loses nothing."""

from __future__ import annotations

import asyncio

from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.support import log_in, sample

AGENTS = [
    {"id": f"{1001 + i}", "dial": f"PJSIP/{1001 + i}", "queues": {"sales": 1}} for i in range(4)
]
BURST = 200


async def test_a_burst_of_callers_pauses_ami_reads_and_every_call_is_routed(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """200 callers in one moment against a worker queue limited to 20: acd stops reading
    AMI while behind (backpressure, counted) rather than dropping events; the events' age
    says it was behind; every caller is counted and answered."""
    for agent in AGENTS:
        sim.add_phone(str(agent["id"]), answer_after=0.2, talk_for=0.2)
    app, sink = await make_acd(agents=AGENTS, routing={"worker_queue_limit": 20})
    await log_in(app, *(str(a["id"]) for a in AGENTS))
    calls = [
        await sim.place_call(queue="sales", caller_name=f"Звонящий {i}", patience=None)
        for i in range(BURST)
    ]
    answered = await asyncio.gather(*(c.answered(timeout=60) for c in calls))
    assert all(answered)
    await sink.wait_count("call.answered", BURST)
    assert sample(app, "acd_calls_offered_total", queue="sales") == BURST
    assert sample(app, "acd_calls_answered_total", queue="sales") == BURST
    assert sample(app, "acd_ami_reads_paused_total") >= 1
    # The metrics said it was behind: events waited in the queue (an alert fires on the age).
    aged = sample(app, "acd_event_age_seconds_count")
    assert aged >= BURST
    assert sample(app, "acd_event_age_seconds_bucket", le="0.005") < aged
    await app.router.idle()
    assert sample(app, "acd_worker_queue_depth") == 0
