"""One call's whole path over real sockets: simulator (AMI over TCP) -> acd -> Redis -> agent."""

from __future__ import annotations

import aiohttp

from acd.domain.events import CallEntered
from acd.domain.model import AgentState
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.support import log_in, sample


async def test_waiting_call_is_answered_by_an_agent_and_counted(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=1.0, talk_for=3.0)
    app, sink = await make_acd()
    await log_in(app, "1001")
    call = await sim.place_call(
        queue="sales", caller_name="Иван Петров", caller_number="79991234567", patience=60
    )
    assert await call.answered(timeout=10) == "1001"
    await sink.wait_for("call.answered", call=call.uniqueid)
    ended = await sink.wait_for("call.ended", call=call.uniqueid)
    assert ended["agent"] == "1001"
    fields = await app.store.get_call_fields(call.uniqueid)
    assert fields["status"] == "ended" and fields["outcome"] == "answered"
    assert fields["caller_name"] == "Иван Петров"
    agent = await app.store.get_agent("1001")
    assert agent is not None and agent.state is AgentState.READY and agent.calls_taken == 1
    assert sample(app, "acd_calls_offered_total", queue="sales") == 1
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1
    assert sample(app, "acd_wait_seconds_count", queue="sales", outcome="answered") == 1
    url = f"http://127.0.0.1:{app.http_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    assert 'acd_calls_answered_total{queue="sales"} 1.0' in text
    assert 'acd_calls_offered_total{queue="sales"} 1.0' in text


async def test_caller_who_hangs_up_while_waiting_is_counted_abandoned(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    app, sink = await make_acd()  # nobody logged in: the caller waits
    call = await sim.place_call(queue="sales", caller_name="Fatima", patience=5)
    assert await call.ended(timeout=10) == "abandoned"
    await sink.wait_for("call.abandoned", call=call.uniqueid)
    assert sample(app, "acd_calls_abandoned_total", queue="sales") == 1
    assert sample(app, "acd_wait_seconds_count", queue="sales", outcome="abandoned") == 1
    assert await app.store.active_call_ids() == []
    assert await app.store.waiting_calls("sales") == []


async def test_agent_who_does_not_answer_sends_call_back_and_another_agent_takes_it(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answers=False)
    sim.add_phone("1002", answer_after=1.0, talk_for=2.0)
    app, sink = await make_acd()
    await log_in(app, "1001", "1002")  # 1001 has been idle longest: offered first
    call = await sim.place_call(queue="sales", caller_name="Lotte de Vries", patience=120)
    missed = await sink.wait_for("agent.missed", call=call.uniqueid)
    assert missed["agent"] == "1001" and missed["status"] == "NOANSWER"
    assert await call.answered(timeout=10) == "1002"
    await sink.wait_for("call.answered", call=call.uniqueid, agent="1002")
    paused = await app.store.get_agent("1001")
    assert paused is not None
    assert (paused.state, paused.pause_reason) == (AgentState.PAUSED, "no-answer")
    fields = await app.store.get_call_fields(call.uniqueid)
    assert fields["attempts"] == "2"
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1


async def test_call_for_unknown_queue_goes_to_fallback_and_is_counted_failed(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    app, _ = await make_acd()
    call = await sim.place_call(queue="nowhere", caller_name="Kees", patience=60)
    assert await call.ended(timeout=10) == "fallback"
    assert sample(app, "acd_calls_failed_total", queue="_unknown", reason="unknown_queue") == 1
    # The same caller seen again (a duplicate event, or adopted by a reconciliation that raced
    # the first event) is not counted twice.
    again = CallEntered(call.uniqueid, call.channel, "nowhere")
    await app.router.call(lambda: app.router.call_entered(again, 0.0))
    assert sample(app, "acd_calls_failed_total", queue="_unknown", reason="unknown_queue") == 1
    assert sample(app, "acd_calls_offered_total", queue="_unknown") == 1


async def test_agent_paused_for_no_answer_comes_back_by_itself(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answers=False)
    app, sink = await make_acd(routing={"no_answer_pause_seconds": 0.3})
    await log_in(app, "1001")
    call = await sim.place_call(queue="sales", caller_name="Ilse", patience=120)
    await sink.wait_for("agent.missed", call=call.uniqueid, agent="1001")
    back = await sink.wait_for("agent.state", agent="1001", reason="timer")
    assert back["previous"] == "paused"
    # Ready again, the agent is offered the same caller, who is still first in line.
    assert len(sink.find("agent.missed", call=call.uniqueid)) >= 1
    await sink.wait_for("agent.missed", call=call.uniqueid, agent="1001", timeout=10)


async def test_wrap_up_keeps_agent_away_until_it_ends(sim: Simulator, make_acd: MakeAcd) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    app, sink = await make_acd(queues=[{"name": "sales", "wrap_up_seconds": 0.4}])
    await log_in(app, "1001")
    first = await sim.place_call(queue="sales", caller_name="Bram", patience=120)
    await sink.wait_for("call.ended", call=first.uniqueid)
    agent = await app.store.get_agent("1001")
    assert agent is not None and agent.state is AgentState.WRAP_UP
    second = await sim.place_call(queue="sales", caller_name="Anna", patience=120)
    await sink.wait_for("agent.state", agent="1001", reason="timer")
    assert await second.answered(timeout=10) == "1001"
    assert sample(app, "acd_wrapup_seconds_count", queue="sales") == 1
