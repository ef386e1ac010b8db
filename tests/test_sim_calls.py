"""Callers and agent phones through the project's dialplan (asterisk/extensions_acd.conf),
watched and driven over a real AMI connection as acd would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote

import pytest

from acd.sim import SimCall, Simulator
from tests.sim_client import AmiClient, Message

# 100x faster than real time: a 15 s ring timeout passes in 0.15 s.
TIME_SCALE = 0.01


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(username="acd", secret="s3cret", time_scale=TIME_SCALE, seed=11)
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def ami(sim: Simulator) -> AsyncIterator[AmiClient]:
    client = await AmiClient.connect(sim.port)
    assert (await client.login())["Response"] == "Success"
    yield client
    await client.close()


async def enqueued(ami: AmiClient, call: SimCall) -> Message:
    """Wait for the caller's ACDEnqueue and for the music that follows it."""
    event = await ami.expect("UserEvent", UserEvent="ACDEnqueue", Channel=call.channel)
    await ami.expect("MusicOnHoldStart", Channel=call.channel)
    return event


def ring_agent(
    ami: AmiClient, call: SimCall, dial: str, ring: int = 15, agent: str = "", fence: int = 1
) -> None:
    """What acd does to offer a call: Setvar the dial string, agent, ring time and the
    offer's fence, then Redirect."""
    for name, value in (
        ("ACD_AGENT_DIAL", dial),
        ("ACD_AGENT", agent or dial.split("/")[-1]),
        ("ACD_RING", str(ring)),
        ("ACD_FENCE", str(fence)),
    ):
        ami.send({"Action": "Setvar", "Channel": call.channel, "Variable": name, "Value": value})
    ami.send(
        {
            "Action": "Redirect",
            "Channel": call.channel,
            "Context": "acd.connect",
            "Exten": "s",
            "Priority": "1",
        }
    )


async def test_enqueue_event_carries_queue_priority_skills_and_encoded_attrs(
    sim: Simulator, ami: AmiClient
) -> None:
    russian = await sim.place_call(
        queue="support",
        priority=7,
        skills="lang:ru=3,billing=1",
        attrs={"crm": "42", "note": "VIP клиент"},
        caller_name="Иван Петров",
        caller_number="79991234567",
    )
    event = await enqueued(ami, russian)
    assert event["Uniqueid"] == russian.uniqueid and event["Linkedid"] == russian.linkedid
    assert event["CallerIDName"] == "Иван Петров" and event["CallerIDNum"] == "79991234567"
    user_priority = [value for key, value in event.headers if key == "Priority"][-1]
    assert (event["Queue"], user_priority) == ("support", "7")
    assert event["Skills"] == "lang:ru=3,billing=1"  # the quotes keep the comma inside
    assert event["Attrs"] == "crm%3D42%3Bnote%3DVIP%20%D0%BA%D0%BB%D0%B8%D0%B5%D0%BD%D1%82"
    assert unquote(event["Attrs"]) == "crm=42;note=VIP клиент"
    arabic = await sim.place_call(
        queue="поддержка", caller_name="فاطمة الزهراء", caller_number="971501234567"
    )
    event = await enqueued(ami, arabic)
    assert (event["CallerIDName"], event["Queue"], event["Skills"]) == (
        "فاطمة الزهراء",
        "поддержка",
        "",
    )
    newchannel = ami.events("Newchannel", Channel=arabic.channel)[0]
    assert newchannel["Channel"].startswith("PJSIP/trunk-")
    assert (newchannel["ChannelState"], newchannel["Context"]) == ("4", "acd.inbound")


async def test_offered_call_rings_the_phone_which_answers_talks_and_hangs_up(
    sim: Simulator, ami: AmiClient
) -> None:
    phone = sim.add_phone("1001", answer_after=1.0, talk_for=3.0)
    call = await sim.place_call(queue="sales", caller_name="Jan de Vries", patience=60)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/1001")
    await ami.expect("MusicOnHoldStop", Channel=call.channel)
    await ami.expect(
        "Newexten",
        Channel=call.channel,
        Context="acd.connect",
        Application="Dial",
        AppData="PJSIP/1001,15,m(default)b(acd.agent-leg^s^1)U(acd.agent-answered)",
    )
    begin = await ami.expect("DialBegin", Channel=call.channel, DialString="1001")
    agent = begin["DestChannel"]
    assert agent.startswith("PJSIP/1001-") and begin["DestLinkedid"] == call.linkedid
    await ami.expect("Newstate", Channel=agent, ChannelStateDesc="Ringing")
    await ami.expect("DialEnd", Channel=call.channel, DestChannel=agent, DialStatus="ANSWER")
    await ami.expect("BridgeEnter", Channel=agent, BridgeNumChannels="1")
    await ami.expect("BridgeEnter", Channel=call.channel, BridgeNumChannels="2")
    assert await call.answered(timeout=5) == "1001"
    await ami.expect("HangupRequest", Channel=agent, Cause="16")
    await ami.expect("Hangup", Channel=agent, Cause="16")
    await ami.expect("Hangup", Channel=call.channel, **{"Cause-txt": "Normal Clearing"})
    assert await call.ended(timeout=5) == "completed"
    states = [m["State"] for m in ami.events("DeviceStateChange", Device="PJSIP/1001")]
    assert states == ["RINGING", "INUSE", "NOT_INUSE"]
    assert (phone.calls_rung, phone.calls_answered) == (1, 1)
    assert not sim.channels


async def test_unanswered_agent_returns_the_caller_to_hold_without_hanging_up(
    sim: Simulator, ami: AmiClient
) -> None:
    sim.add_phone("1001", answers=False)
    call = await sim.place_call(queue="sales", patience=600)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/1001", ring=5)
    agent = (await ami.expect("DialBegin", Channel=call.channel))["DestChannel"]
    await ami.expect("DialEnd", Channel=call.channel, DestChannel=agent, DialStatus="NOANSWER")
    await ami.expect("Hangup", Channel=agent)
    result = await ami.expect("UserEvent", UserEvent="ACDDialResult", Channel=call.channel)
    assert (result["Status"], result["Agent"]) == ("NOANSWER", "1001")
    await ami.expect("MusicOnHoldStart", Channel=call.channel, Context="acd.inbound")
    assert call.is_up and not call.is_answered
    assert not ami.events("Hangup", Channel=call.channel)


async def test_busy_phone_gives_busy_and_the_caller_waits_on(
    sim: Simulator, ami: AmiClient
) -> None:
    phone = sim.add_phone("1001")
    phone.set_in_use(True)
    await ami.expect("DeviceStateChange", Device="PJSIP/1001", State="INUSE")
    call = await sim.place_call(queue="sales", patience=600)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/1001")
    agent = (await ami.expect("DialBegin", Channel=call.channel))["DestChannel"]
    await ami.expect("DialEnd", DestChannel=agent, DialStatus="BUSY")
    await ami.expect("Hangup", Channel=agent, Cause="17")
    result = await ami.expect("UserEvent", UserEvent="ACDDialResult", Channel=call.channel)
    assert result["Status"] == "BUSY" and phone.calls_busy == 1
    await ami.expect("MusicOnHoldStart", Channel=call.channel)
    phone.set_in_use(False)
    await ami.expect("DeviceStateChange", Device="PJSIP/1001", State="NOT_INUSE")


async def test_ring_group_with_a_busy_phone_and_one_that_declines_did_not_answer(
    sim: Simulator, ami: AmiClient
) -> None:
    """app_dial's status is BUSY only when every destination was busy; a declined or
    ringing-out leg beside a busy one makes the Dial's result NOANSWER (as on Asterisk 22)."""
    sim.add_phone("1001").busy_here = True
    declining = sim.add_phone("1002", answers=False)
    call = await sim.place_call(queue="sales", patience=600)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/1001&PJSIP/1002", agent="group", fence=41)
    await ami.expect("DialEnd", Channel=call.channel, DialStatus="BUSY")
    await ami.expect("DialState", Channel=call.channel, DialStatus="RINGING")
    declining.hang_up()
    await ami.expect("DialEnd", Channel=call.channel, DialStatus="NOANSWER")
    result = await ami.expect("UserEvent", UserEvent="ACDDialResult", Channel=call.channel)
    assert (result["Status"], result["Agent"], result["Fence"]) == ("NOANSWER", "group", "41")
    assert len(ami.events("DialBegin")) == 2


async def test_ring_group_answered_on_one_leg_names_the_offer_on_that_leg(
    sim: Simulator, ami: AmiClient
) -> None:
    sim.add_phone("1001", answer_after=8)
    sim.add_phone("1002", answer_after=1)
    call = await sim.place_call(queue="sales", patience=600)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/1001&PJSIP/1002", agent="group", fence=7)
    cancelled = await ami.expect("DialEnd", Channel=call.channel, DialStatus="CANCEL")
    assert cancelled["DestChannel"].startswith("PJSIP/1001-")
    answer = await ami.expect("DialEnd", Channel=call.channel, DialStatus="ANSWER")
    answered = await ami.expect("UserEvent", UserEvent="ACDAnswered")
    assert answered["Channel"] == answer["DestChannel"]
    assert (answered["Call"], answered["Agent"], answered["Fence"]) == (call.uniqueid, "group", "7")
    assert await call.answered(timeout=5) == "1002"


async def test_unknown_endpoint_is_unavailable(sim: Simulator, ami: AmiClient) -> None:
    call = await sim.place_call(queue="sales", patience=600)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/4040")
    result = await ami.expect("UserEvent", UserEvent="ACDDialResult", Channel=call.channel)
    assert result["Status"] == "CHANUNAVAIL"
    assert not ami.events("DialBegin")
    await ami.expect("MusicOnHoldStart", Channel=call.channel)


async def test_caller_out_of_patience_hangs_up_while_on_hold(
    sim: Simulator, ami: AmiClient
) -> None:
    call = await sim.place_call(queue="sales", caller_name="Sanne Bakker", patience=2)
    await enqueued(ami, call)
    await ami.expect("HangupRequest", Channel=call.channel, Cause="16")
    await ami.expect("MusicOnHoldStop", Channel=call.channel)
    await ami.expect("SoftHangupRequest", Channel=call.channel)
    await ami.expect("Hangup", Channel=call.channel, Cause="16")
    assert await call.ended(timeout=5) == "abandoned"
    assert await call.answered(timeout=1) is None


async def test_caller_hanging_up_while_the_agent_rings_cancels_the_dial(
    sim: Simulator, ami: AmiClient
) -> None:
    sim.add_phone("1001", answers=False)
    call = await sim.place_call(queue="sales", patience=3)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/1001", ring=60)
    agent = (await ami.expect("DialBegin", Channel=call.channel))["DestChannel"]
    await ami.expect("HangupRequest", Channel=call.channel)
    await ami.expect("DialEnd", DestChannel=agent, DialStatus="CANCEL")
    await ami.expect("Hangup", Channel=agent)
    await ami.expect("Hangup", Channel=call.channel)
    assert await call.ended(timeout=5) == "abandoned"


async def test_hangup_action_on_a_ringing_caller_cancels_the_agent_leg(
    sim: Simulator, ami: AmiClient
) -> None:
    sim.add_phone("1001", answers=False)
    call = await sim.place_call(queue="sales", patience=600)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/1001", ring=60)
    agent = (await ami.expect("DialBegin", Channel=call.channel))["DestChannel"]
    await ami.expect("Newstate", Channel=agent, ChannelStateDesc="Ringing")
    reply = await ami.action("Hangup", Channel=call.channel)
    assert reply["Message"] == "Channel Hungup"
    await ami.expect("DialEnd", DestChannel=agent, DialStatus="CANCEL")
    await ami.expect("Hangup", Channel=agent)
    await ami.expect("Hangup", Channel=call.channel)


async def test_redirect_while_ringing_stops_the_dial_and_continues_there(
    sim: Simulator, ami: AmiClient
) -> None:
    sim.add_phone("1001", answers=False)
    call = await sim.place_call(queue="sales", patience=600)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/1001", ring=60)
    agent = (await ami.expect("DialBegin", Channel=call.channel))["DestChannel"]
    reply = await ami.action(
        "Redirect", Channel=call.channel, Context="acd.inbound", Exten="s", Priority="hold"
    )
    assert reply["Message"] == "Redirect successful"
    await ami.expect("DialEnd", DestChannel=agent, DialStatus="CANCEL")
    await ami.expect("MusicOnHoldStop", Channel=call.channel)
    await ami.expect("Hangup", Channel=agent)
    await ami.expect("VarSet", Channel=call.channel, Variable="DIALSTATUS", Value="CANCEL")
    await ami.expect("Newexten", Channel=call.channel, Context="acd.inbound", Priority="6")
    await ami.expect("MusicOnHoldStart", Channel=call.channel)
    assert call.is_up


async def test_max_wait_sends_the_caller_to_fallback_on_asterisks_own_timer(
    sim: Simulator, ami: AmiClient
) -> None:
    call = await sim.place_call(queue="nowhere", patience=None, variables={"ACD_MAXWAIT": "3"})
    await enqueued(ami, call)
    fallback = await ami.expect("UserEvent", UserEvent="ACDFallback", Channel=call.channel)
    assert (fallback["Queue"], fallback["Reason"]) == ("nowhere", "timeout")
    await ami.expect("Newexten", Channel=call.channel, Application="Playback")
    await ami.expect("Hangup", Channel=call.channel, Cause="16")
    assert await call.ended(timeout=5) == "fallback"


async def test_caller_who_hangs_up_during_the_talk_ends_the_agents_leg(
    sim: Simulator, ami: AmiClient
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=100)
    call = await sim.place_call(queue="sales", patience=60, talk_for=2)
    await enqueued(ami, call)
    ring_agent(ami, call, "PJSIP/1001")
    agent = (await ami.expect("DialEnd", DialStatus="ANSWER"))["DestChannel"]
    await ami.expect("HangupRequest", Channel=call.channel)
    await ami.expect("BridgeLeave", Channel=call.channel, BridgeNumChannels="1")
    await ami.expect("BridgeLeave", Channel=agent, BridgeNumChannels="0")
    await ami.expect("Hangup", Channel=agent)
    assert await call.ended(timeout=5) == "completed"
    assert not sim.channels


async def test_local_channel_agents_answer_through_the_dialplan(tmp_path: object) -> None:
    """A Dial of Local/...@agents goes through the dialplan, as in answered.ami."""
    from pathlib import Path

    from acd.sim.server import default_dialplan

    extra = Path(str(tmp_path)) / "agents.conf"
    extra.write_text("[agents]\nexten => _1XXX,1,Dial(PJSIP/${EXTEN},,)\n", encoding="utf-8")
    sim = Simulator(
        username="acd",
        secret="s3cret",
        time_scale=TIME_SCALE,
        dialplan_files=[default_dialplan(), extra],
    )
    await sim.start()
    sim.add_phone("1001", answer_after=0.5, talk_for=2)
    ami = await AmiClient.connect(sim.port)
    await ami.login()
    call = await sim.place_call(queue="sales", patience=60)
    await enqueued(ami, call)
    ring_agent(ami, call, "Local/1001@agents")
    begin = await ami.expect("DialBegin", Channel=call.channel, DialString="1001@agents")
    assert begin["DestChannel"].endswith(";1")
    assert await call.answered(timeout=5) == "1001"
    assert await call.ended(timeout=5) == "completed"
    await ami.close()
    await sim.stop()
