"""Agents whose dial string rings several devices at once (``PJSIP/1001&PJSIP/1002``), on both
tiers: one leg's busy or no-answer is not the agent's, only the Dial's own result is; an
answer on any leg connects the call once, to that agent.
"""

from __future__ import annotations

from typing import Any

from acd.domain.model import AgentState
from tests.conftest import MakeAcd
from tests.pbx.tiers import Pbx
from tests.support import log_in, sample

QUEUES: list[dict[str, Any]] = [
    {"name": "sales", "ring_timeout_seconds": 2, "wrap_up_seconds": 0},
]
RING_GROUP = {"id": "1001", "dial": "PJSIP/1001&PJSIP/1002", "queues": {"sales": 1}}


async def test_ring_group_with_a_busy_device_is_answered_on_the_other_and_counted_once(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    await pbx.add_phone("1001", busy=True)  # 486 Busy Here at once: DialEnd BUSY for its leg
    await pbx.add_phone("1002", answer_after=0.5, talk_for=1.0)
    app, sink = await make_tier_acd(queues=QUEUES, agents=[RING_GROUP])
    await log_in(app, "1001")
    call = await pbx.place_call("sales", caller_name="Наталья", patience=60)
    assert await call.answered(timeout=15) == "1002"
    answered = await sink.wait_for("call.answered", call=call.uniqueid)
    assert answered["agent"] == "1001"
    assert await call.ended(timeout=15) == "completed"
    await sink.wait_for("call.ended", call=call.uniqueid)
    assert sink.find("agent.missed", call=call.uniqueid) == []
    assert len(sink.find("call.answered", call=call.uniqueid)) == 1
    fields = await app.store.get_call_fields(call.uniqueid)
    assert (fields["status"], fields["outcome"], fields["agent"]) == ("ended", "answered", "1001")
    # The answering leg named the offer itself (it inherited the call, agent and fence).
    leg = await pbx.event("UserEvent", UserEvent="ACDAnswered", Call=call.uniqueid)
    assert (leg["Agent"], leg["Fence"]) == ("1001", fields["fence"])
    assert leg["Channel"].startswith("PJSIP/1002-")
    agent = await app.store.get_agent("1001")
    assert agent is not None and agent.calls_taken == 1
    assert pbx.phone("1001").calls_busy == 1
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1


async def test_ring_group_nobody_answers_is_one_miss_with_the_dials_own_status(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    """One device busy, the other rings out: Asterisk's Dial says NOANSWER (BUSY only when
    every device is busy), once, and the next agent takes the call."""
    await pbx.add_phone("1001", busy=True)
    await pbx.add_phone("1002", answers=False)
    await pbx.add_phone("1003", answer_after=0.5, talk_for=1.0)
    agents = [RING_GROUP, {"id": "1003", "dial": "PJSIP/1003", "queues": {"sales": 1}}]
    app, sink = await make_tier_acd(queues=QUEUES, agents=agents)
    await log_in(app, "1001", "1003")  # the ring group has been idle longest: offered first
    call = await pbx.place_call("sales", caller_name="Reza", patience=60)
    assert await call.answered(timeout=15) == "1003"
    await sink.wait_for("call.answered", call=call.uniqueid, agent="1003")
    missed = sink.find("agent.missed", call=call.uniqueid)
    assert [(m["agent"], m["status"]) for m in missed] == [("1001", "NOANSWER")]
    result = await pbx.event("UserEvent", UserEvent="ACDDialResult", Uniqueid=call.uniqueid)
    assert (result["Status"], result["Agent"]) == ("NOANSWER", "1001")
    assert result["Fence"].isdigit()
    paused = await app.store.get_agent("1001")
    assert paused is not None
    assert (paused.state, paused.pause_reason) == (AgentState.PAUSED, "no-answer")
    assert pbx.phone("1002").calls_rung == 1


async def test_ring_group_answered_on_one_leg_cancels_the_other_and_connects_once(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    await pbx.add_phone("1001", answer_after=1.5, talk_for=1.0)
    await pbx.add_phone("1002", answer_after=0.5, talk_for=1.0)
    app, sink = await make_tier_acd(queues=QUEUES, agents=[RING_GROUP])
    await log_in(app, "1001")
    call = await pbx.place_call("sales", caller_name="Amélie", patience=60)
    assert await call.answered(timeout=15) == "1002"
    assert await call.ended(timeout=15) == "completed"
    await sink.wait_for("call.ended", call=call.uniqueid)
    assert [a["agent"] for a in sink.find("call.answered", call=call.uniqueid)] == ["1001"]
    assert sink.find("agent.missed", call=call.uniqueid) == []
    assert pbx.phone("1001").calls_answered == 0  # its ringing leg was cancelled
