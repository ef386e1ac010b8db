"""The simulator's PJSIP phones against a real Asterisk 22.10.1 with SIPp phones.

The transcripts in tests/captures/pjsip/ (see its README) were recorded with agents as PJSIP
endpoints that REGISTER. Each test plays the same flow on the simulator, with the same
dialplan and phones that behave as the SIPp ones did, and compares the events acd reads or
that tell what happened to the call, for the caller's and the agent's channel, with their
headers, values and order: ids, timestamps and counters aside.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from acd.sim import Simulator
from acd.sim.phones import SimPhone
from tests.sim_client import AmiClient, Message, parse
from tests.test_sim_captures import Normaliser, assert_same

CAPTURES = Path(__file__).parent / "captures" / "pjsip"
TIME_SCALE = 0.05  # the longest flow (noanswer: a 10 s Dial timeout) takes half a second
CALL_EVENTS = (
    "Newchannel",
    "Newstate",
    "DialBegin",
    "DialState",
    "DialEnd",
    "BridgeEnter",
    "BridgeLeave",
    "HangupRequest",
    "SoftHangupRequest",
    "Hangup",
)
# The recording's caller was the endpoint "callers"; the simulator's trunk is "trunk".
CALLER_ENDPOINT, SIM_TRUNK = "PJSIP/callers", "PJSIP/trunk"


def load_flow(name: str) -> list[Message]:
    """The server's messages from the caller's INVITE to the end of its SIPp run (the
    recorder's ``###`` notes mark both), the caller's endpoint renamed to the simulator's."""
    data = (CAPTURES / name).read_bytes().decode()
    messages: list[Message] = []
    lines: list[str] = []
    inside = False
    for line in data.split("\n"):
        if line.startswith("###"):
            inside = inside or "caller INVITE" in line
            if inside and "sipp rc=" in line:
                break
            continue
        if line.startswith(">>>"):
            continue
        if line == "\r":
            if inside and lines:
                messages.append(parse("\r\n".join(lines).encode()))
            lines = []
        elif line:
            lines.append(line.removesuffix("\r").replace(CALLER_ENDPOINT, SIM_TRUNK))
    assert messages, f"{name}: no call in the capture"
    return messages


def watched(messages: list[Message]) -> list[Message]:
    """The call's channel events and the PJSIP devices' states, normalised."""
    normaliser = Normaliser()
    picked = [
        m
        for m in messages
        if m.event in CALL_EVENTS
        or (m.event == "DeviceStateChange" and (m.get("Device") or "").startswith("PJSIP/"))
    ]
    return [normaliser.message(m) for m in picked]


def compare(expected: list[Message], actual: list[Message]) -> None:
    """Each channel's events in order, the Dial events (which name both) in the caller's and
    the agent's stream; device states, published by their own taskprocessor, in order per
    device. Across channels Asterisk's threads race: chan_pjsip hangs a channel up on its
    SIP serializer, so the agent's Hangup comes before the caller's next dialplan step in
    noanswer and caller_hangs_up, after it in busy and answered."""

    def stream(ms: list[Message], key: str) -> list[Message]:
        if key.startswith("device "):
            return [
                m
                for m in ms
                if m.event == "DeviceStateChange" and m.get("Device") == key.removeprefix("device ")
            ]
        return [m for m in ms if key in (m.get("Channel"), m.get("DestChannel"))]

    def keys(ms: list[Message]) -> set[str]:
        return {
            f"device {m['Device']}" if m.event == "DeviceStateChange" else m["Channel"]
            for m in ms
            if m.event == "DeviceStateChange" or "Channel" in m
        }

    assert keys(expected) == keys(actual)
    for key in sorted(keys(expected)):
        assert_same(stream(expected, key), stream(actual, key), key)


@dataclass
class Flow:
    """A recorded flow and how to play it on the simulator."""

    capture: str
    agent: str
    setup: Callable[[SimPhone], None]
    caller_talks_for: float | None = None


def _answers(after: float, talk: float) -> Callable[[SimPhone], None]:
    def setup(phone: SimPhone) -> None:
        phone.answer_after, phone.talk_for = after, talk

    return setup


def _never_answers(phone: SimPhone) -> None:
    phone.answers = False


def _busy_here(phone: SimPhone) -> None:
    phone.busy_here = True


def _unregistered(phone: SimPhone) -> None:
    phone.set_registered(False)


FLOWS = {
    # SIPp agent rings 2 s, answers, talks 4 s, sends BYE.
    "answered": Flow("answered.ami", "1001", _answers(2.0, 4.0)),
    # The agent answers after 1 s; the caller sends BYE 4 s later.
    "caller_hangs_up": Flow("caller_hangs_up.ami", "1001", _answers(1.0, 30.0), 4.0),
    # 180 Ringing and nothing more until Dial's timeout (10 s) cancels it.
    "noanswer": Flow("noanswer.ami", "1002", _never_answers),
    # 486 Busy Here to the INVITE.
    "busy": Flow("busy.ami", "1003", _busy_here),
    # No contact registered: Dial cannot create the channel (CHANUNAVAIL).
    "unregistered": Flow("registration.ami", "1001", _unregistered),
}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(
        dialplan_files=[CAPTURES / "extensions.conf"], time_scale=TIME_SCALE, seed=5
    )
    await simulator.start()
    for endpoint in ("1001", "1002", "1003"):  # as pjsip.conf has them
        simulator.add_phone(
            endpoint, context="from-agents", callerid=(endpoint, f"Agent {endpoint}")
        )
    yield simulator
    await simulator.stop()


@pytest.mark.parametrize("flow", list(FLOWS), ids=list(FLOWS))
async def test_pjsip_call_on_the_simulator_matches_the_real_asterisk(
    sim: Simulator, flow: str
) -> None:
    played = FLOWS[flow]
    played.setup(sim.phone(played.agent))
    client = await AmiClient.connect(sim.port)
    await client.login("acd", "acd")
    start = len(client.messages)
    call = await sim.place_call(
        None,
        context="from-callers",
        exten=played.agent,
        caller_name="Caller",
        caller_number="79991234567",
        patience=None,
        talk_for=played.caller_talks_for,
    )
    await call.ended(5)
    expected = watched(load_flow(played.capture))
    # Once as many events as the recording's have come, a Ping's answer shows that no
    # more are on their way (the simulator delivers events one loop turn after publishing).
    with contextlib.suppress(TimeoutError):
        await client.wait(lambda: len(watched(client.messages[start:])) >= len(expected), 5)
    await client.action("Ping")
    compare(expected, watched(client.messages[start:]))
    await client.close()
