"""What a production router must survive: lost AMI connections, restarts of acd, of Asterisk
and of Redis, malformed frames, and a second acd process on the same Redis."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from acd import contexts
from acd.api.auth import token_hash
from acd.app import AcdApp
from acd.domain.model import AgentState, CallStatus, Outcome
from acd.errors import AmiError
from acd.redis_server import RedisServer
from acd.service import call_actions, housekeeping
from acd.sim import Simulator
from acd.sim.events import AmiEvent
from acd.sim.protocol import ActionMessage
from tests.conftest import MakeAcd
from tests.support import RecordingSink, contact_centre, log_in, sample, wait_on_hold


async def test_lost_ami_connection_is_reestablished_and_routing_goes_on(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=1.0, talk_for=2.0)
    app, sink = await make_acd()
    await sink.wait_for("telephony.reconciled", reconnect=False)
    await sim.drop_connections()
    await sink.wait_for("telephony.reconciled", reconnect=True)
    assert sample(app, "acd_ami_reconnects_total") == 1
    await log_in(app, "1001")
    call = await sim.place_call(queue="sales", caller_name="Дарья", patience=60)
    assert await call.answered(timeout=10) == "1001"


async def test_waiting_call_survives_a_restart_of_acd(
    sim: Simulator, redis_url: str, site: str
) -> None:
    sim.add_phone("1001", answer_after=1.0, talk_for=2.0)
    settings = contact_centre(redis_url, sim.port, site=site)
    first = AcdApp(settings, sink=(sink := RecordingSink()))
    await first.start()
    call = await sim.place_call(queue="sales", caller_name="سارا", patience=120)
    await sink.wait_for("call.offered", call=call.uniqueid)
    await first.stop()
    second = AcdApp(settings, sink=(sink := RecordingSink()))
    await second.start()
    try:
        await sink.wait_for("telephony.reconciled")
        assert [c.id for c in await second.store.waiting_calls("sales")] == [call.uniqueid]
        await log_in(second, "1001")
        assert await call.answered(timeout=10) == "1001"
    finally:
        await second.stop()


async def test_caller_who_left_while_acd_was_down_is_counted_abandoned_not_lost(
    sim: Simulator, redis_url: str, site: str
) -> None:
    """Never offered, gone while acd was away: the caller hung up on hold (issue 12 item 5:
    this was failed(vanished))."""
    settings = contact_centre(redis_url, sim.port, site=site)
    first = AcdApp(settings, sink=(sink := RecordingSink()))
    await first.start()
    call = await sim.place_call(queue="sales", caller_name="Kees", patience=None)
    await sink.wait_for("call.offered", call=call.uniqueid)
    await first.stop()
    # The caller leaves once acd is gone (a patience timer could fire while it still ran).
    call.hang_up()
    assert await call.ended(timeout=10) == "abandoned"
    second = AcdApp(settings, sink=(sink := RecordingSink()))
    await second.start()
    try:
        abandoned = await sink.wait_for("call.abandoned", call=call.uniqueid)
        assert abandoned["detail"] == "vanished"
        assert sample(second, "acd_calls_abandoned_total", queue="sales") == 1
        assert sample(second, "acd_calls_failed_total", queue="sales", reason="vanished") == 0
        assert await second.store.active_call_ids() == []
    finally:
        await second.stop()


async def test_caller_who_entered_while_acd_was_down_is_adopted(
    sim: Simulator, redis_url: str, site: str
) -> None:
    sim.add_phone("1001", answer_after=1.0, talk_for=2.0)
    call = await sim.place_call(
        queue="sales",
        caller_name="Ольга",
        patience=120,
        caller_number="4951234567",
        attrs={"crm": "42"},
    )
    await wait_on_hold(sim.port, call.channel)
    app = AcdApp(contact_centre(redis_url, sim.port, site=site), sink=(sink := RecordingSink()))
    await app.start()
    try:
        await sink.wait_for("call.offered", call=call.uniqueid)
        # Adopted with all ACDEnqueue would have said: it may be the only record of the call.
        adopted = await app.store.get_call(call.uniqueid)
        assert adopted is not None
        assert (adopted.caller_name, adopted.caller_number, adopted.attrs) == (
            "Ольга",
            "4951234567",
            {"crm": "42"},
        )
        await log_in(app, "1001")
        assert await call.answered(timeout=10) == "1001"
    finally:
        await app.stop()


async def test_malformed_frames_are_counted_and_routing_goes_on(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=1.0, talk_for=2.0)
    app, sink = await make_acd()
    await sink.wait_for("telephony.reconciled")
    sim.send_raw(b"this is not AMI\r\n\r\nEvent: DialEnd\r\nUniqueid: 1.1\r\n\r\n")
    await log_in(app, "1001")
    call = await sim.place_call(queue="sales", caller_name="Bram", patience=60)
    assert await call.answered(timeout=10) == "1001"
    assert sample(app, "acd_ami_bad_events_total", reason="malformed") == 1
    assert sample(app, "acd_ami_bad_events_total", reason="missing_header") == 1


async def test_events_are_held_while_redis_restarts_and_nothing_is_lost(
    sim: Simulator, site: str, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis", persistent=True)
    await redis.start()
    app = AcdApp(contact_centre(redis.url, sim.port, site=site), sink=(sink := RecordingSink()))
    await app.start()
    try:
        await sink.wait_for("telephony.reconciled")
        await redis.kill()
        call = await sim.place_call(queue="sales", caller_name="Lotte", patience=1)
        assert await call.ended(timeout=10) == "abandoned"
        await redis.start()
        await sink.wait_for("call.abandoned", call=call.uniqueid, timeout=20)
        assert sample(app, "acd_calls_offered_total", queue="sales") == 1
        assert sample(app, "acd_calls_abandoned_total", queue="sales") == 1
        assert sample(app, "acd_redis_errors_total") >= 1
    finally:
        await app.stop()
        await redis.stop()


async def test_two_acd_processes_never_give_one_call_to_two_agents(
    sim: Simulator, redis_url: str, site: str
) -> None:
    agents = [
        {"id": f"{1001 + i}", "dial": f"PJSIP/{1001 + i}", "queues": {"sales": 1}} for i in range(4)
    ]
    for agent in agents:
        sim.add_phone(str(agent["id"]), answer_after=0.5, talk_for=2.0)
    settings = contact_centre(redis_url, sim.port, site=site, agents=agents)
    sinks = [RecordingSink(), RecordingSink()]
    apps = [AcdApp(settings, sink=sink) for sink in sinks]
    for app in apps:
        await app.start()
        await app.ami.wait_connected(10)
    try:
        for agent in agents:
            await log_in(apps[0], str(agent["id"]))
        calls = [
            await sim.place_call(queue="sales", caller_name=f"Caller {i}", patience=300)
            for i in range(12)
        ]
        answered = await asyncio.gather(*(c.answered(timeout=30) for c in calls))
        assert all(answered)
        await asyncio.gather(*(c.ended(timeout=30) for c in calls))
        # The simulator is done; wait until acd has settled every call too (whichever
        # process handled its hangup), then look at the agents.
        for call in calls:
            await _ended_in_either(sinks, call.uniqueid)
        phones = [sim.phone(str(a["id"])) for a in agents]
        # Each call rang exactly one phone at a time and was answered once: the phones
        # answered 12 calls in all, and no phone was ever offered a call while busy.
        assert sum(p.calls_answered for p in phones) == 12
        assert sum(p.calls_busy for p in phones) == 0
        offered = sum(sample(a, "acd_calls_offered_total", queue="sales") for a in apps)
        answered_count = sum(sample(a, "acd_calls_answered_total", queue="sales") for a in apps)
        assert (offered, answered_count) == (12, 12)
        for agent_id in (str(a["id"]) for a in agents):
            state = await apps[0].store.get_agent(agent_id)
            assert state is not None and state.state is AgentState.READY
    finally:
        for app in apps:
            await app.stop()


async def _ended_in_either(sinks: list[RecordingSink], call_id: str) -> None:
    waits = [asyncio.create_task(s.wait_for("call.ended", call=call_id)) for s in sinks]
    done, pending = await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    assert done and not any(task.exception() for task in done)


async def test_a_log_in_made_by_another_process_counts_at_once_for_overflow(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """Another acd process (here: a change straight in Redis) logs an agent in and pauses it.
    This process must not take the queue for unstaffed and send the next caller to the
    team lead: the roster version tells it to read the agents again, without waiting a tick."""
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    sim.add_phone("2001", answer_after=0.5, talk_for=1.0)
    agents = [
        {"id": "1001", "dial": "PJSIP/1001", "queues": {"support": 1}, "team": "north"},
        {"id": "2001", "dial": "PJSIP/2001", "team": "north", "role": "lead"},
    ]
    queues = [
        {
            "name": "support",
            "teams": ["north"],
            "steps": [{"after": 0}, {"after": 90, "kind": "leads"}],
        }
    ]
    app, sink = await make_acd(agents=agents, queues=queues, routing={"tick_seconds": 30})
    await log_in(app, "2001")
    await app.router.call(app.router.reload_config)  # this process has seen the lead at work
    anna = await app.store.get_agent("1001")
    assert anna is not None
    await app.store.set_agent_state(anna, AgentState.READY, time.time())
    anna = await app.store.get_agent("1001")
    assert anna is not None
    await app.store.set_agent_state(anna, AgentState.PAUSED, time.time(), reason="break")
    call = await sim.place_call(queue="support", caller_name="Дарья", patience=None)
    await sink.wait_for("call.offered", call=call.uniqueid)
    stored = await app.store.get_call(call.uniqueid)
    assert stored is not None and stored.status.value == "waiting"  # not to the lead
    await app.router.call(lambda: app.router.change_agent_state("1001", AgentState.READY))
    assert await call.answered(timeout=10) == "1001"


async def test_caller_sent_to_the_fallback_as_ami_goes_is_sent_again_not_left_on_hold(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """Issue 12 item 4: the fallback Redirect is lost with the connection. The call was
    recorded ended before it, and the caller stayed on hold; now it is moved first, recorded
    after, so it is still waiting, and sent out again after the reconnection."""
    steps = [{"after": 0}, {"after": 300, "kind": "fallback"}]
    # Nobody logged in: each caller goes to the fallback at once.
    app, sink = await make_acd(queues=[{"name": "sales", "steps": steps}])
    reset = sim.reset_at_action("Redirect", Context=contexts.FALLBACK)
    call = await sim.place_call(queue="sales", caller_name="Zoë", patience=None)
    await asyncio.wait_for(reset, 10)
    await sink.wait_for("telephony.reconciled", reconnect=True)
    # Well before the dialplan's own 600 s (12 s here) would send the caller there.
    assert await call.ended(timeout=6) == "fallback"
    await sink.wait_for("call.overflowed", call=call.uniqueid, reason="no-agents")
    assert len(sink.find("call.overflowed", call=call.uniqueid, reason="no-agents")) == 1
    stored = await app.store.get_call(call.uniqueid)
    assert stored is not None and stored.status is CallStatus.ENDED


async def test_api_hang_up_that_asterisk_never_carried_out_leaves_the_call_waiting(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """Issue 12 item 4: the API hang-up recorded the call failed before the Hangup action;
    with the action lost the caller stayed on hold, ended in acd. Now: not recorded."""
    app, sink = await make_acd()
    await log_in(app, "1001")
    await app.router.call(lambda: app.router.change_agent_state("1001", AgentState.PAUSED, "break"))
    call = await sim.place_call(queue="sales", caller_name="Ярослав", patience=None)
    await sink.wait_for("call.offered", call=call.uniqueid)
    sim.reset_at_action("Hangup", Channel=call.channel)
    ctx = app.router.services
    with pytest.raises(AmiError):
        await app.router.call(lambda: call_actions.hang_up(ctx, call.uniqueid))
    stored = await app.store.get_call(call.uniqueid)
    assert stored is not None and stored.status is CallStatus.WAITING
    await sink.wait_for("telephony.reconciled", reconnect=True)
    ended = await app.router.call(lambda: call_actions.hang_up(ctx, call.uniqueid))
    assert ended.status is CallStatus.ENDED
    assert await call.ended(timeout=10) == "abandoned"  # as the caller's side sees a hang-up
    assert sample(app, "acd_calls_failed_total", queue="sales", reason="api-hangup") == 1


class _ActionCounter:
    """Counts the actions acd sends that name one channel."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.actions: list[str] = []

    def event_sent(self, event: AmiEvent) -> None:
        pass

    def action_received(self, message: ActionMessage) -> None:
        if message.get("Channel") == self.channel:
            self.actions.append(message.get("Action"))


async def test_enqueue_for_a_channel_asterisk_does_not_have_fails_once_not_every_tick(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """Issue 12 item 8: such a call was offered again at every tick (70 offers, 264 Setvars
    in 23 s). Asterisk's "No such channel" now ends it once, as failed."""
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    app, sink = await make_acd()
    ghost = "PJSIP/trunk-0000ffff"
    counter = _ActionCounter(ghost)
    sim.taps.append(counter)
    await log_in(app, "1001")
    sim.send_raw(
        b"Event: UserEvent\r\nPrivilege: user,all\r\nChannel: " + ghost.encode() + b"\r\n"
        b"Uniqueid: 1764000000.999\r\nUserEvent: ACDEnqueue\r\nQueue: sales\r\n\r\n"
    )
    failed = await sink.wait_for("call.failed", call="1764000000.999")
    assert failed["detail"] == "no-channel"
    assert sample(app, "acd_calls_failed_total", queue="sales", reason="no-channel") == 1
    # Routing goes on: the agent takes the next real caller, and the ghost is not tried again.
    call = await sim.place_call(queue="sales", caller_name="Hana", patience=60)
    assert await call.answered(timeout=10) == "1001"
    assert counter.actions.count("Redirect") == 1, counter.actions
    anna = await app.store.get_agent("1001")
    assert anna is not None and anna.state is not AgentState.PAUSED


class _EventWatch:
    """Done once the simulator has written an event of this name to acd."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen = asyncio.get_running_loop().create_future()

    def event_sent(self, event: AmiEvent) -> None:
        if event.name == self.name and not self.seen.done():
            self.seen.set_result(None)

    def action_received(self, message: ActionMessage) -> None:
        pass


async def test_api_writes_answer_503_at_once_while_events_wait_for_redis(
    sim: Simulator, site: str, tmp_path: Path
) -> None:
    """Issue 12 item 6: a state change queued behind an event the worker held for Redis
    waited as long as Redis was away (~5 s seen); now 503 with Retry-After, at once."""
    redis = RedisServer(tmp_path / "redis", persistent=True)
    await redis.start()
    token = "sup-token"
    http = {"tokens": [{"name": "sup", "role": "supervisor", "sha256": token_hash(token)}]}
    settings = contact_centre(redis.url, sim.port, site=site, http=http)
    app = AcdApp(settings, sink=(sink := RecordingSink()))
    await app.start()
    url = f"http://127.0.0.1:{app.http_port}/api/v1/agents/1001/state"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        await sink.wait_for("telephony.reconciled")
        await redis.kill()
        watch = _EventWatch("UserEvent")
        sim.taps.append(watch)
        call = await sim.place_call(queue="sales", caller_name="Lotte", patience=None)
        await asyncio.wait_for(watch.seen, 10)
        async with aiohttp.ClientSession() as session:
            for _ in range(2):  # queued behind the held event, then refused while it is held
                async with (
                    asyncio.timeout(1.0),
                    session.post(url, json={"state": "ready"}, headers=headers) as response,
                ):
                    assert response.status == 503, await response.text()
                    assert response.headers["Retry-After"] == "2"
            agents_url = f"http://127.0.0.1:{app.http_port}/api/v1/agents"
            async with session.get(agents_url, headers=headers) as response:
                assert response.status == 503  # a read: 503 too, never 500
            await redis.start()
            await sink.wait_for("call.offered", call=call.uniqueid, timeout=20)
            async with session.post(url, json={"state": "ready"}, headers=headers) as response:
                assert response.status == 200, await response.text()
    finally:
        await app.stop()
        await redis.stop()


async def test_ring_whose_answer_is_lost_with_the_connection_stands_and_is_answered(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """Issue 12 item 5: the Redirect that rings the agent is carried out, its response lost
    as the AMI connection resets. The offer was undone: the caller, talking to the agent,
    was offered again (to a second agent) and ended abandoned. Now the offer stands."""
    sim.add_phone("1001", answer_after=2.0, talk_for=3.0)
    sim.add_phone("1002", answer_after=0.2, talk_for=3.0)
    app, sink = await make_acd()
    await log_in(app, "1001")
    reset = sim.reset_at_action("Redirect", carried_out=True, Context=contexts.CONNECT)
    call = await sim.place_call(queue="sales", caller_name="Maëlle", patience=None)
    await asyncio.wait_for(reset, 10)
    await sink.wait_for("telephony.reconciled", reconnect=True)
    await log_in(app, "1002")  # ready for a second offer, which must not come
    assert await call.answered(timeout=10) == "1001"
    assert await call.ended(timeout=10) == "completed"
    await sink.wait_for("call.ended", call=call.uniqueid)
    fields = await app.store.get_call_fields(call.uniqueid)
    assert fields["outcome"] == Outcome.ANSWERED.value
    assert sim.phone("1002").calls_rung == 0
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1


async def test_ring_lost_with_the_connection_is_offered_again_and_the_agent_not_paused(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """The Redirect never reached Asterisk (the connection reset as it was sent): the offer
    stands until the reconciliation finds the caller still on hold, then goes back in line
    and the agent, whose phone never rang, is rung again (not paused for no-answer)."""
    sim.add_phone("1001", answer_after=0.2, talk_for=0.5)
    app, sink = await make_acd()
    await log_in(app, "1001")
    reset = sim.reset_at_action("Redirect", Context=contexts.CONNECT)
    call = await sim.place_call(queue="sales", caller_name="Ингрид", patience=None)
    await asyncio.wait_for(reset, 10)
    assert await call.answered(timeout=10) == "1001"
    assert await call.ended(timeout=10) == "completed"
    assert not sink.find("agent.missed", agent="1001")
    anna = await app.store.get_agent("1001")
    assert anna is not None and anna.state is not AgentState.PAUSED


async def test_offers_asterisk_keeps_refusing_are_bounded_not_retried_every_tick(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    """Issue 12 item 8, retries in general: a caller whose Redirect Asterisk refuses (not for
    a missing channel) is offered three times, then left to the dialplan's own timer until
    the next reconnection, instead of once a tick for as long as it waits."""
    sim.add_phone("1001", answer_after=0.2, talk_for=0.5)
    app, sink = await make_acd(routing={"tick_seconds": 30})
    await log_in(app, "1001")
    call = await sim.place_call(queue="sales", caller_name="Olusegun", patience=None)
    counter = _ActionCounter(call.channel)
    sim.taps.append(counter)
    sim.refuse_action("Redirect", "Redirect failed", Channel=call.channel)
    await wait_on_hold(sim.port, call.channel)
    await sink.wait_for("call.offered", call=call.uniqueid)
    ctx = app.router.services
    for _ in range(6):  # six ticks' worth of retries
        await app.router.call(lambda: housekeeping.tick(ctx))
    assert counter.actions.count("Redirect") == 3, counter.actions
    assert call.is_up
    sim.refusals.clear()
    await sim.drop_connections()  # the reconciliation tries again
    assert await call.answered(timeout=10) == "1001"
