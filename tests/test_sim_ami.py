"""The simulator's AMI server: login, errors, events masks, malformed input, faults, and a
real AMI client library (panoramisk) talking to it."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from panoramisk import Manager

from acd.sim import Simulator
from tests.sim_client import AmiClient

TIME_SCALE = 0.01
CAPTURE_DIALPLAN = Path("/work/shared/asterisk-captures/extensions.conf")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(username="acd", secret="s3cret", time_scale=TIME_SCALE, seed=5)
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def ami(sim: Simulator) -> AsyncIterator[AmiClient]:
    client = await AmiClient.connect(sim.port)
    await client.login()
    yield client
    await client.close()


async def test_banner_login_and_fully_booted(sim: Simulator) -> None:
    client = await AmiClient.connect(sim.port)
    assert client.banner == b"Asterisk Call Manager/11.0.0\r\n"
    reply = await client.login()
    assert reply.headers == [
        ("Response", "Success"),
        ("ActionID", reply["ActionID"]),
        ("Message", "Authentication accepted"),
    ]
    booted = await client.expect("FullyBooted")
    assert [k for k, _ in booted.headers] == [
        "Event",
        "Privilege",
        "Uptime",
        "LastReload",
        "Status",
    ]
    auth = await client.expect("SuccessfulAuth", AccountID="acd")
    assert auth["Privilege"] == "security,all"
    await client.close()


async def test_wrong_secret_is_refused_and_the_connection_closed(sim: Simulator) -> None:
    client = await AmiClient.connect(sim.port)
    reply = await client.login(secret="wrong")
    assert (reply["Response"], reply["Message"]) == ("Error", "Authentication failed")
    await client.closed()
    await client.close()


async def test_before_login_only_login_logoff_and_challenge_are_allowed(sim: Simulator) -> None:
    client = await AmiClient.connect(sim.port)
    assert (await client.action("Ping"))["Message"] == "Permission denied"
    assert (await client.action("Challenge", AuthType="plain"))["Message"] == (
        "Must specify AuthType"
    )
    client.send([("ActionID", "no-action")])
    reply = await client.find(lambda m: m.get("ActionID") == "no-action")
    assert reply["Message"] == "Missing action in request"
    goodbye = await client.action("Logoff")
    assert goodbye["Response"] == "Goodbye"
    await client.closed()
    await client.close()


async def test_md5_challenge_login(sim: Simulator) -> None:
    client = await AmiClient.connect(sim.port)
    challenge = (await client.action("Challenge", AuthType="MD5"))["Challenge"]
    key = hashlib.md5((challenge + "s3cret").encode(), usedforsecurity=False).hexdigest()
    reply = await client.action("Login", Username="acd", AuthType="MD5", Key=key)
    assert reply["Message"] == "Authentication accepted"
    await client.close()


async def test_errors_are_answered_as_asterisk_answers_them(ami: AmiClient) -> None:
    cases = {
        (
            "Redirect",
            (("Channel", "PJSIP/x-1"), ("Context", "c"), ("Exten", "s"), ("Priority", "1")),
        ): "Channel does not exist: PJSIP/x-1",
        ("Redirect", (("Channel", "PJSIP/x-1"),)): "Context not specified",
        ("Setvar", (("Channel", "PJSIP/x-1"), ("Variable", "A"))): "No such channel",
        ("Setvar", ()): "No variable specified",
        ("Getvar", (("Channel", "nope"), ("Variable", "A"))): "No such channel",
        ("Hangup", (("Channel", "nope"),)): "No such channel",
        ("Hangup", ()): "No channel specified",
        ("Hangup", (("Channel", "/unterminated"),)): (
            "Regex format invalid, Channel param should be /regex/"
        ),
        ("Originate", (("Channel", "Bogus/xyz"), ("Application", "Wait"))): "Originate failed",
        ("Originate", (("Application", "Wait"),)): "Channel not specified",
        ("Originate", (("Channel", "PJSIP/1001"),)): (
            "Originate with 'Exten' requires 'Context' and 'Priority'"
        ),
        ("Events", ()): "Invalid event mask",
        ("NoSuchAction", ()): (
            "Invalid/unknown command: NoSuchAction. "
            "Use Action: ListCommands to show available commands."
        ),
    }
    for (action, headers), message in cases.items():
        reply = await ami.action(action, **dict(headers))
        assert (reply["Response"], reply["Message"]) == ("Error", message), action
    bad = await ami.expect("RequestBadFormat", RequestType="Action: NoSuchAction")
    assert bad["Severity"] == "Error"


async def test_ping_core_status_user_event_and_global_variables(ami: AmiClient) -> None:
    pong = await ami.action("Ping")
    assert pong["Ping"] == "Pong" and float(pong["Timestamp"]) > 1.7e9
    status = await ami.action("CoreStatus")
    assert status["CoreCurrentCalls"] == "0"
    sent = await ami.action("UserEvent", UserEvent="Hello", Greeting="Привет, مرحبا")
    assert sent["Message"] == "Event Sent"
    event = await ami.expect("UserEvent", UserEvent="Hello")
    assert event["Greeting"] == "Привет, مرحبا" and event["Privilege"] == "user,all"
    await ami.action("Setvar", Variable="SITE", Value="north")
    assert (await ami.action("Getvar", Variable="SITE"))["Value"] == "north"
    queues = await ami.action("QueueStatus")
    assert queues["EventList"] == "start"
    done = await ami.expect("QueueStatusComplete")
    assert done["ListItems"] == "0"


async def test_event_masks_choose_what_a_session_receives(sim: Simulator) -> None:
    quiet = await AmiClient.connect(sim.port)
    await quiet.login(Events="off")
    calls_only = await AmiClient.connect(sim.port)
    await calls_only.login()
    assert (await calls_only.action("Events", EventMask="call"))["Events"] == "On"
    call = await sim.place_call(queue="sales", patience=600)
    await calls_only.expect("MusicOnHoldStart", Channel=call.channel)
    assert not calls_only.events("UserEvent") and not calls_only.events("Newexten")
    assert (await quiet.action("Ping"))["Ping"] == "Pong"
    assert not quiet.events("FullyBooted") and not quiet.events("Newchannel")
    assert (await quiet.action("Events", EventMask="off"))["Events"] == "Off"
    for client in (quiet, calls_only):
        await client.close()


async def test_garbage_and_lines_without_a_colon_do_not_break_the_server(
    sim: Simulator, ami: AmiClient
) -> None:
    ami.write(b"\x00\xff\xfe garbage \xc3\x28\r\nno colon here\r\n\r\n")
    reply = await ami.find(lambda m: m.get("Message") == "Missing action in request")
    assert reply["Response"] == "Error"
    ami.write(b"Action: Ping\r\nthis line has no colon\r\nActionID: p1\r\n\r\n")
    assert (await ami.find(lambda m: m.get("ActionID") == "p1"))["Ping"] == "Pong"
    ami.write(b"Action: Ping\r\nX-Long: " + b"x" * 5000 + b"\r\nActionID: p2\r\n\r\n")
    too_long = await ami.find(lambda m: m.get("ActionID") == "p2")
    assert too_long["Message"] == "Failed to parse message: line too long"
    ami.write(b"Action: Ping\nActionID: p3\n\n")  # bare \n line ends are accepted too
    assert (await ami.find(lambda m: m.get("ActionID") == "p3"))["Ping"] == "Pong"
    assert sim.session_count == 1


async def test_originate_of_a_local_channel_in_the_capture_dialplan() -> None:
    sim = Simulator(
        username="acd", secret="s3cret", dialplan_files=[CAPTURE_DIALPLAN], time_scale=TIME_SCALE
    )
    await sim.start()
    ami = await AmiClient.connect(sim.port)
    await ami.login()
    reply = await ami.action(
        "Originate",
        Channel="Local/100@from-customer",
        Application="Wait",
        Data="2",
        CallerID='"Олег" <+7 999 123>',
    )
    assert reply["Message"] == "Originate successfully queued"  # synchronous: after answer
    user = await ami.expect("UserEvent", UserEvent="ACDEnqueue")
    assert user["CallerIDName"] == "Олег" and user["CallerIDNum"] == "+7999123"
    listing = await ami.action("Hangup", Channel="/^Local/100@from-customer.*/")
    assert listing["Message"] == "Channels hung up will follow"
    done = await ami.expect("ChannelsHungupListComplete")
    assert done["ListItems"] == "2"
    await ami.expect("Hangup", Channel=user["Channel"])
    await ami.close()
    await sim.stop()


async def test_async_originate_to_an_unknown_endpoint_reports_failure(ami: AmiClient) -> None:
    reply = await ami.action(
        "Originate",
        Channel="PJSIP/9999",
        Context="acd.inbound",
        Exten="s",
        Priority="1",
        Async="true",
    )
    assert reply["Message"] == "Originate successfully queued"
    failed = await ami.expect("OriginateResponse", ActionID=reply["ActionID"])
    assert (failed["Response"], failed["Reason"], failed["Uniqueid"]) == ("Failure", "0", "<null>")


async def test_status_and_core_show_channels_list_live_channels(
    sim: Simulator, ami: AmiClient
) -> None:
    call = await sim.place_call(queue="sales", caller_name="سارا احمدی", patience=600)
    await ami.expect("MusicOnHoldStart", Channel=call.channel)
    await ami.action("CoreShowChannels")
    item = await ami.expect("CoreShowChannel", Channel=call.channel)
    assert (item["Application"], item["CallerIDName"]) == ("MusicOnHold", "سارا احمدی")
    await ami.action("Status", Channel=call.channel, Variables="ACD_QUEUE")
    status = await ami.expect("Status", Channel=call.channel)
    assert (status["Type"], status["Variable"]) == ("PJSIP", "ACD_QUEUE=sales")
    complete = await ami.expect("StatusComplete")
    assert complete["Items"] == "1"
    value = await ami.action("Getvar", Channel=call.channel, Variable="CALLERID(name)")
    assert value["Value"] == "سارا احمدی"


async def test_dropped_connections_leave_calls_alone(sim: Simulator, ami: AmiClient) -> None:
    call = await sim.place_call(queue="sales", patience=600)
    await ami.expect("MusicOnHoldStart", Channel=call.channel)
    await sim.drop_connections()
    await ami.closed()
    again = await AmiClient.connect(sim.port)
    await again.login()
    assert call.is_up and call.channel in sim.channels
    await again.close()


async def test_restart_drops_everything_and_boots_again(sim: Simulator, ami: AmiClient) -> None:
    sim.add_phone("1001", answers=False)
    call = await sim.place_call(queue="sales", patience=600)
    await ami.expect("MusicOnHoldStart", Channel=call.channel)
    await sim.restart()
    await ami.closed()
    assert await call.ended(timeout=1) == "dropped"
    assert not sim.channels
    again = await AmiClient.connect(sim.port)
    await again.login()
    booted = await again.expect("FullyBooted")
    assert int(booted["Uptime"]) < 5
    await again.action("CoreShowChannels")
    assert (await again.expect("CoreShowChannelsComplete"))["ListItems"] == "0"
    await again.close()


async def test_raw_bytes_and_a_stalled_server(sim: Simulator, ami: AmiClient) -> None:
    sim.send_raw(b"Event: Broken\r\nno colon\r\n\r\n")
    await ami.wait(lambda: b"Event: Broken\r\nno colon" in ami.raw)
    loop = asyncio.get_running_loop()
    stalled_at = loop.time()
    sim.slow_consumer(0.2)
    ami.send({"Action": "Ping", "ActionID": "late"})
    assert (await ami.find(lambda m: m.get("ActionID") == "late", 2))["Ping"] == "Pong"
    assert loop.time() - stalled_at >= 0.19


async def test_stop_leaves_no_task_behind() -> None:
    sim = Simulator(username="acd", secret="s3cret", time_scale=TIME_SCALE)
    await sim.start()
    sim.add_phone("1001", answers=False)
    ami = await AmiClient.connect(sim.port)
    await ami.login()
    await sim.place_call(queue="sales", patience=600)
    await ami.expect("MusicOnHoldStart")
    await sim.stop()
    await ami.closed()
    await ami.close()
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_panoramisk_talks_to_the_simulator(sim: Simulator) -> None:
    manager = Manager(
        host="127.0.0.1",
        port=sim.port,
        username="acd",
        secret="s3cret",
        ping_delay=0,
        reconnect_timeout=0,
    )
    enqueued: asyncio.Queue[str] = asyncio.Queue()
    manager.register_event("UserEvent", lambda _, event: enqueued.put_nowait(event.Queue))
    await manager.connect()
    pong = await manager.send_action({"Action": "Ping"})
    assert pong.Ping == "Pong"
    await sim.place_call(queue="поддержка", caller_name="Дарья")
    assert await asyncio.wait_for(enqueued.get(), 5) == "поддержка"
    channels = await manager.send_action({"Action": "CoreShowChannels"})
    assert [m.Event for m in channels][-1] == "CoreShowChannelsComplete"
    manager.close()


async def test_a_looping_dialplan_does_not_freeze_the_server(tmp_path: Path) -> None:
    spin = tmp_path / "spin.conf"
    spin.write_text(
        "[acd.inbound]\nexten => s,1,NoOp(spin)\n same => n,Goto(1)\n", encoding="utf-8"
    )
    sim = Simulator(username="acd", secret="s3cret", dialplan_files=[spin], time_scale=TIME_SCALE)
    await sim.start()
    ami = await AmiClient.connect(sim.port)
    await ami.login(Events="off")
    call = await sim.place_call(queue="sales", patience=1)
    assert (await ami.action("Ping"))["Ping"] == "Pong"
    assert await call.ended(timeout=5) == "abandoned"
    await ami.close()
    await sim.stop()
