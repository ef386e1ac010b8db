"""The simulator against real Asterisk 22.10.1 transcripts (/work/shared/asterisk-captures).

Each capture is replayed: the client's actions (``>>>`` lines) are sent when as many server
messages have arrived as the capture shows before them, every byte the simulator sends is
recorded, and both transcripts are compared message by message after normalising what differs
between any two runs (ids, timestamps, counters, durations, addresses, session ids).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from acd.sim import Simulator
from tests.sim_client import AmiClient, Message, parse

CAPTURES = Path("/work/shared/asterisk-captures")
TIME_SCALE = 0.1  # the longest capture (answered.ami, ~7 s of Asterisk time) takes 0.7 s

# The Asterisk that recorded the captures had app_queue with a queue "baseline" of two Local
# members; the simulator has no app_queue (QueueStatus answers an empty list), so these go.
NOT_SIMULATED = {"QueueParams", "QueueMember", "QueueMemberStatus"}
# Raised outside the channel's own event stream (the originate thread writes OriginateResponse;
# device states come from their own taskprocessor): their place among channel events differs
# from run to run of the same Asterisk (answered, abandon and lists.ami all differ), so they are
# compared as a multiset.
OUT_OF_BAND = {"OriginateResponse", "DeviceStateChange"}
SESSION_EVENTS = {"FullyBooted", "SuccessfulAuth", "RequestBadFormat"}
DURATION_VARIABLES = {
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
}
VOLATILE = {
    "EventTV": "<time>",
    "SessionTV": "<time>",
    "Timestamp": "<time>",
    "Uptime": "<uptime>",
    "LastReload": "<uptime>",
    "SessionID": "<session>",
    "LocalAddress": "<address>",
    "RemoteAddress": "<address>",
    "CoreStartupDate": "<date>",
    "CoreStartupTime": "<date>",
    "CoreReloadDate": "<date>",
    "CoreReloadTime": "<date>",
    "CoreProcessedCalls": "<count>",
    "Duration": "<duration>",
    "Seconds": "<duration>",
}
CHANNEL_NAME = re.compile(r"((?:Local|PJSIP)/[^\s;,]+?)-([0-9a-f]{8})")


@dataclass
class Capture:
    """A transcript: the banner, then server messages and client actions in order."""

    banner: bytes
    items: list[Message | list[str]] = field(default_factory=list)

    def messages(self) -> list[Message]:
        return [item for item in self.items if isinstance(item, Message)]


def load_capture(name: str) -> Capture:
    data = (CAPTURES / name).read_bytes()
    banner, _, rest = data.partition(b"\r\n")
    capture = Capture(banner + b"\r\n")
    server: list[bytes] = []
    action: list[str] = []
    for line in rest.split(b"\n"):
        if line.startswith(b">>>"):
            assert not server, f"{name}: a client line inside a server message"
            if line == b">>>":
                capture.items.append(action)
                action = []
            else:
                action.append(line[4:].decode())
        elif line == b"\r":
            capture.items.append(parse(b"\r\n".join(server)))
            server = []
        elif line:
            assert line.endswith(b"\r"), f"{name}: server line without \\r\\n: {line!r}"
            server.append(line[:-1])
    assert not server and not action
    dropped = Counter(
        i.get("ActionID")
        for i in capture.items
        if isinstance(i, Message) and i.event in NOT_SIMULATED
    )
    capture.items = [
        _recount(i, dropped)
        for i in capture.items
        if not (isinstance(i, Message) and i.event in NOT_SIMULATED)
    ]
    return capture


def _recount(item: Message | list[str], dropped: Counter[str | None]) -> Message | list[str]:
    """A list's ListItems without the items of app_queue the simulator does not have."""
    if not isinstance(item, Message) or item.get("EventList") != "Complete":
        return item
    removed = dropped[item.get("ActionID")]
    return Message([(k, str(int(v) - removed) if k == "ListItems" else v) for k, v in item.headers])


async def replay(capture: Capture, port: int) -> AmiClient:
    """Send the capture's actions at the same points of the exchange; return the client."""
    client = await AmiClient.connect(port)
    recorded = Normaliser()
    normalise(capture.messages(), recorded)
    seen, batch = 0, []
    for item in [*capture.items, None]:
        if isinstance(item, list):
            batch.append(item)
            continue
        if batch:  # actions the capture shows back to back are sent in one write

            def caught_up(n: int = seen) -> bool:
                return _counted(client.messages) >= n

            await client.wait(caught_up, 10)
            rename = _renamer(recorded, client.messages)
            client.write(
                b"".join(
                    ("".join(f"{rename(line)}\r\n" for line in lines) + "\r\n").encode()
                    for lines in batch
                )
            )
            batch = []
        seen += isinstance(item, Message)
    await client.closed(10)  # every capture ends with a Logoff or a refused Login
    return client


def _renamer(recorded: Normaliser, received: list[Message]) -> Callable[[str], str]:
    """Channel names in the capture's actions -> the simulator's names for the same channels
    (the recording Asterisk had numbered a few channels before)."""
    ours = Normaliser()
    normalise(received, ours)
    by_label = {label: name for name, label in ours.names.items()}
    return lambda line: CHANNEL_NAME.sub(
        lambda m: by_label.get(recorded.names.get(m.group(0), ""), m.group(0)), line
    )


def _counted(messages: list[Message]) -> int:
    return sum(m.event not in NOT_SIMULATED for m in messages)


class Normaliser:
    """Replaces what legitimately differs between runs by stable placeholders."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def _label(self, table: dict[str, str], key: str, prefix: str) -> str:
        return table.setdefault(key, f"{prefix}{len(table) + 1}")

    def value(self, message: Message, name: str, value: str) -> str:
        if name in VOLATILE:
            return VOLATILE[name]
        if message.get("Variable") in DURATION_VARIABLES and name == "Value" and value:
            return "<duration>"
        if (
            message.event == "DeviceStateChange"
            and name == "State"
            and message.get("Device", "").startswith("Local/")
        ):
            return "<local-device-state>"  # computed later, in another thread, in Asterisk
        if name.endswith(("Uniqueid", "Linkedid")) and value:
            return self._label(self.ids, value, "B" if name == "BridgeUniqueid" else "U")
        return CHANNEL_NAME.sub(
            lambda m: f"{m.group(1)}-<{self._label(self.names, m.group(0), '')}>", value
        )

    def message(self, message: Message) -> Message:
        return Message([(k, self.value(message, k, v)) for k, v in message.headers])


def normalise(messages: Iterable[Message], normaliser: Normaliser | None = None) -> list[Message]:
    normaliser = normaliser or Normaliser()
    return [normaliser.message(m) for m in messages]


def _render(messages: Iterable[Message]) -> list[str]:
    return [" | ".join(f"{k}: {v}" for k, v in m.headers) for m in messages]


def assert_same(expected: list[Message], actual: list[Message], what: str) -> None:
    want, got = _render(expected), _render(actual)
    if want != got:
        diff = "\n".join(difflib.unified_diff(want, got, "asterisk", "simulator", lineterm=""))
        raise AssertionError(f"{what} differs from the capture:\n{diff}")


def _is_session(message: Message) -> bool:
    """Responses, list items and the session's own events: written in the session's order."""
    if message.event is None or message.event in SESSION_EVENTS:
        return True
    return "ActionID" in message and message.event not in OUT_OF_BAND


def _stream_key(message: Message) -> str:
    for name in ("Channel", "DestChannel", "LocalOneChannel", "BridgeUniqueid"):
        if name in message:
            return message[name]
    return "-"


def _canonical(stream: list[Message]) -> list[Message]:
    """A HangupRequest queued by the other half of a Local channel races with the stop of the
    music the AMI Hangup interrupted (lists.ami shows both orders on two identical calls)."""
    out = list(stream)
    for i in range(len(out) - 1):
        if (out[i].event, out[i + 1].event) == ("MusicOnHoldStop", "HangupRequest"):
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def compare(capture: Capture, client: AmiClient, *, per_channel: bool) -> None:
    assert client.banner == capture.banner
    raw = bytes(client.raw)
    assert raw.startswith(capture.banner)
    body = raw[len(capture.banner) :]
    assert body.endswith(b"\r\n\r\n") or not body
    assert b"\n" not in body.replace(b"\r\n", b"") and b"\r" not in body.replace(b"\r\n", b"")
    expected = normalise(capture.messages())
    actual = normalise(client.messages)
    for kind in ("session", "out-of-band"):
        pick = _is_session if kind == "session" else (lambda m: m.event in OUT_OF_BAND)
        want = [m for m in expected if pick(m)]
        got = [m for m in actual if pick(m)]
        if kind == "out-of-band":
            want, got = sorted(want, key=str), sorted(got, key=str)
        assert_same(want, got, f"{kind} messages")
    rest_expected = [m for m in expected if not _is_session(m) and m.event not in OUT_OF_BAND]
    rest_actual = [m for m in actual if not _is_session(m) and m.event not in OUT_OF_BAND]
    if not per_channel:
        assert_same(rest_expected, rest_actual, "the channel events")
        return
    # Two calls progress in parallel threads in Asterisk: compare each channel's own stream.
    keys = Counter(_stream_key(m) for m in rest_expected)
    assert keys == Counter(_stream_key(m) for m in rest_actual)
    for key in keys:
        assert_same(
            _canonical([m for m in rest_expected if _stream_key(m) == key]),
            _canonical([m for m in rest_actual if _stream_key(m) == key]),
            key,
        )


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(
        username="acd",
        secret="acdsecret",
        dialplan_files=[CAPTURES / "extensions.conf"],
        time_scale=TIME_SCALE,
        seed=3,
    )
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.stop()


@pytest.mark.parametrize("name", ["answered.ami", "errors.ami", "bad_login.ami"])
async def test_simulator_transcript_matches_asterisk_message_by_message(
    sim: Simulator, name: str
) -> None:
    capture = load_capture(name)
    client = await replay(capture, sim.port)
    compare(capture, client, per_channel=False)
    await client.close()


# In these two, threads interleave: abandon.ami shows the Originate thread's DialBegin after
# the ;2 channel's first dialplan step (answered.ami and lists.ami show it before), and lists.ami
# runs two calls at once. Each channel's own events keep Asterisk's order: compare those.
@pytest.mark.parametrize("name", ["abandon.ami", "lists.ami"])
async def test_simulator_transcript_matches_asterisk_channel_by_channel(
    sim: Simulator, name: str
) -> None:
    capture = load_capture(name)
    client = await replay(capture, sim.port)
    compare(capture, client, per_channel=True)
    await client.close()
