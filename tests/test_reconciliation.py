"""After every (re)connection acd rebuilds its view from Asterisk, so whatever happened while it
was away ends right: a phone that became free is free, a caller bridged with an agent is that
agent's answered call, a call that ended meanwhile is charged the talk Asterisk recorded, and
callers hung up by Asterisk shutting down are a failure, not an abandon."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.app import AcdApp
from acd.domain.model import AgentState, CallStatus
from acd.sim import Simulator
from tests.sim_client import AmiClient
from tests.support import RecordingSink, contact_centre, log_in, sample

MANAGER_CONF = Path(__file__).resolve().parents[1] / "asterisk" / "manager.conf"


async def _start(settings: object) -> tuple[AcdApp, RecordingSink]:
    app = AcdApp(settings, sink=(sink := RecordingSink()))  # type: ignore[arg-type]
    await app.start()
    await sink.wait_for("telephony.reconciled")
    return app, sink


async def test_phone_that_became_free_while_acd_was_down_gets_the_next_caller(
    sim: Simulator, redis_url: str, site: str
) -> None:
    anna = sim.add_phone("1001", answer_after=0.5, talk_for=2.0)
    bram = sim.add_phone("1002", answer_after=0.5, talk_for=2.0)
    settings = contact_centre(redis_url, sim.port, site=site)
    first, _ = await _start(settings)
    await log_in(first, "1001", "1002")
    anna.set_in_use(True)  # a private call: acd must not offer her one
    await first.ami.send({"Action": "Ping"})  # answered after the DeviceStateChange before it
    await first.router.idle()
    stored = await first.store.get_agent("1001")
    assert stored is not None and stored.device_busy
    await first.stop()
    anna.set_in_use(False)  # her NOT_INUSE goes to nobody
    bram.set_in_use(True)  # and Bram's INUSE too
    second, _ = await _start(settings)
    try:
        anna_now, bram_now = await second.store.get_agents(["1001", "1002"])
        assert (anna_now.device_busy, bram_now.device_busy) == (False, True)
        call = await sim.place_call(queue="sales", caller_name="Ingrid", patience=60)
        assert await call.answered(timeout=10) == "1001"
    finally:
        await second.stop()


async def test_agent_who_answered_while_acd_was_down_keeps_the_caller(
    sim: Simulator, redis_url: str, site: str
) -> None:
    anna = sim.add_phone("1001", answers=False, talk_for=100.0)
    sim.add_phone("1002", answer_after=0.5, talk_for=2.0)
    queues = [{"name": "sales", "ring_timeout_seconds": 600, "wrap_up_seconds": 0}]
    settings = contact_centre(redis_url, sim.port, site=site, queues=queues)
    watcher = await AmiClient.connect(sim.port)
    await watcher.login()
    first, sink = await _start(settings)
    await log_in(first, "1001")
    call = await sim.place_call(queue="sales", caller_name="Fatemeh", patience=None)
    await watcher.expect("DialState", Channel=call.channel, DialStatus="RINGING")
    await first.stop()
    anna.pick_up()  # while acd is away
    assert await call.answered(timeout=5) == "1001"
    second, sink = await _start(settings)
    try:
        await log_in(second, "1002")  # ready: the caller must not be offered to her
        stored = await second.store.get_call(call.uniqueid)
        assert stored is not None and stored.status is CallStatus.CONNECTED
        agent = await second.store.get_agent("1001")
        assert agent is not None and agent.state is AgentState.BUSY
        assert await second.store.overdue_offers(float("inf")) == []  # no lost-offer timer
        answered = sink.find("call.answered", call=call.uniqueid, agent="1001")
        assert len(answered) == 1
        assert sample(second, "acd_calls_answered_total", queue="sales") == 1
        fields = await second.store.get_call_fields(call.uniqueid)
        at_answer = await second.telephony.get_variable(fields["agent_channel"], "ACD_ANSWERED_AT")
        assert float(fields["answered_at"]) == pytest.approx(float(at_answer))
        anna.hang_up()
        assert await call.ended(timeout=5) == "completed"
        ended = await sink.wait_for("call.ended", call=call.uniqueid)
        assert ended["agent"] == "1001"
        assert sample(second, "acd_calls_abandoned_total", queue="sales") == 0
        assert sim.phone("1002").calls_rung == 0
    finally:
        await second.stop()
        await watcher.close()


async def test_call_that_ended_while_acd_was_down_is_charged_what_asterisk_recorded(
    sim: Simulator, redis_url: str, site: str
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=4.5)
    settings = contact_centre(redis_url, sim.port, site=site)
    first, sink = await _start(settings)
    await log_in(first, "1001")
    call = await sim.place_call(queue="sales", caller_name="Joris", patience=60)
    await sink.wait_for("call.answered", call=call.uniqueid)
    await first.stop()
    assert await call.ended(timeout=5) == "completed"
    # acd was away much longer than the 4.5 s talk in Asterisk's time (50x faster here).
    second, sink = await _start(settings)
    try:
        ended = await sink.wait_for("call.ended", call=call.uniqueid)
        # The simulator stamps answer and hang-up on its 50x clock, where a few milliseconds
        # of scheduling on a loaded machine are a tenth of a second (4.61 was seen); acd was
        # away for many seconds of that clock, which is what this must not be charged.
        assert ended["talk_seconds"] == pytest.approx(4.5, abs=0.3)
        assert sample(second, "acd_talk_seconds_sum", queue="sales") == pytest.approx(4.5, abs=0.3)
        assert sample(second, "acd_calls_failed_total", queue="sales", reason="vanished") == 0
    finally:
        await second.stop()


async def test_callers_dropped_by_an_asterisk_shutdown_are_failed_not_abandoned(
    filtered_sim: Simulator, redis_url: str, site: str
) -> None:
    sim = filtered_sim
    sim.add_phone("1001", answer_after=0.5, talk_for=100.0)
    app, sink = await _start(contact_centre(redis_url, sim.port, site=site))
    try:
        await log_in(app, "1001")
        talking = await sim.place_call(queue="sales", caller_name="Aziz", patience=None)
        await sink.wait_for("call.answered", call=talking.uniqueid)
        waiting = await sim.place_call(queue="sales", caller_name="Mina", patience=None)
        await sink.wait_for("call.offered", call=waiting.uniqueid)
        await sim.restart()  # core restart now
        failed = await sink.wait_for("call.failed", call=waiting.uniqueid)
        assert failed["detail"] == "telephony-shutdown"
        await sink.wait_for("call.ended", call=talking.uniqueid)  # answered, and over
        await sink.wait_for("telephony.reconciled", reconnect=True)
        assert sample(app, "acd_calls_abandoned_total", queue="sales") == 0
        assert sample(app, "acd_calls_short_abandoned_total", queue="sales") == 0
        assert (
            sample(app, "acd_calls_failed_total", queue="sales", reason="telephony-shutdown") == 1
        )
        assert sample(app, "acd_calls_answered_total", queue="sales") == 1
        assert await app.store.active_call_ids() == []
    finally:
        await app.stop()
