"""AMI frames and events -> telephony events: any script intact, bad input counted, not fatal."""

from __future__ import annotations

import pytest
from panoramisk.message import Message

from acd.ami.connection import AmiConnection, check_header_value
from acd.ami.protocol import AcdAmiProtocol
from acd.ami.translate import MalformedEvent, parse_attrs, translate
from acd.config import AmiSettings, Secret
from acd.domain.events import (
    AgentAnswered,
    AgentMissed,
    CallEntered,
    ChannelGone,
    DeviceChanged,
    EscalationRequested,
    MissReason,
)
from acd.errors import AmiError
from acd.metrics import Metrics

ENQUEUE = (
    "Event: UserEvent\r\nPrivilege: user,all\r\nChannel: PJSIP/trunk-00000001\r\n"
    "CallerIDNum: 79991234567\r\nCallerIDName: Иван Петров\r\nPriority: 3\r\n"
    "Uniqueid: 1795365472.9\r\n"
    "Linkedid: 1795365472.8\r\nUserEvent: ACDEnqueue\r\nQueue: sales\r\nPriority: 5\r\n"
    "Skills: lang:ru=3,billing=1\r\nAttrs: crm%3D42%3Bnote%3D%D9%85%D9%87%D9%85\r\n\r\n"
)


class Collector:
    def __init__(self) -> None:
        self.events: list[Message] = []
        self.bad: list[str] = []

    def dispatch(self, message: Message) -> None:
        self.events.append(message)

    def connection_lost(self, exc: object) -> None:
        pass


def feed(chunks: list[bytes]) -> Collector:
    collector = Collector()
    protocol = AcdAmiProtocol(collector.bad.append)
    protocol.factory = collector
    for chunk in chunks:
        protocol.data_received(chunk)
    return collector


def test_name_split_across_tcp_chunks_arrives_intact() -> None:
    data = ("Asterisk Call Manager/11.0.0\r\n" + ENQUEUE).encode()
    cut = data.index("Иван".encode()) + 1  # in the middle of the two bytes of 'И'
    collector = feed([data[:cut], data[cut:]])
    [event] = collector.events
    assert event["CallerIDName"] == "Иван Петров"
    translated = translate(event)
    assert isinstance(translated, CallEntered)
    assert translated.caller_name == "Иван Петров"
    assert translated.skills == {"lang:ru": 3, "billing": 1}
    assert translated.priority == 5  # the body's, not the channel's dialplan priority 3
    assert translated.problems == ()
    assert translated.attrs == {"crm": "42", "note": "مهم"}


def test_frames_without_event_or_response_are_counted_not_fatal() -> None:
    collector = feed([b"garbage without colon\r\n\r\n", ENQUEUE.encode()])
    assert collector.bad == ["garbage without colon"]
    assert len(collector.events) == 1


def test_dial_outcomes() -> None:
    base = {"Uniqueid": "1.2", "DestChannel": "PJSIP/1001-00000002"}
    assert translate({"Event": "DialEnd", **base, "DialStatus": "ANSWER"}) == AgentAnswered(
        "1.2", "PJSIP/1001-00000002"
    )
    # One leg's no-answer or busy is not the agent's: a ring group's other devices may still
    # ring. Only the Dial's own result (ACDDialResult) settles a miss.
    for status in ("NOANSWER", "BUSY", "CHANUNAVAIL", "CANCEL"):
        assert translate({"Event": "DialEnd", **base, "DialStatus": status}) is None
    assert translate({"Event": "Hangup", "Uniqueid": "1.2", "Channel": "X", "Cause": "16"}) == (
        ChannelGone("1.2", "X", "16")
    )
    assert translate({"Event": "VarSet", "Uniqueid": "1.2"}) is None


def test_the_escalation_feature_code_names_the_call_it_ran_on() -> None:
    event = {
        "Event": "UserEvent",
        "Channel": "PJSIP/trunk-00000001",
        "Uniqueid": "1.2",
        "UserEvent": "ACDEscalate",
    }
    assert translate(event) == EscalationRequested("1.2")
    with pytest.raises(MalformedEvent):
        translate({"Event": "UserEvent", "UserEvent": "ACDEscalate"})


def test_event_missing_a_needed_header_is_malformed() -> None:
    with pytest.raises(MalformedEvent):
        translate({"Event": "UserEvent", "UserEvent": "ACDEnqueue", "Channel": "X"})
    with pytest.raises(MalformedEvent):
        translate({"Event": "DialEnd", "Uniqueid": "1.2", "DestChannel": "X"})
    with pytest.raises(MalformedEvent):
        translate({"Event": "UserEvent", "UserEvent": "ACDAnswered", "Channel": "X"})


def test_attrs_forms() -> None:
    assert parse_attrs("") == {}
    assert parse_attrs("VIP caller") == {"info": "VIP caller"}
    assert parse_attrs("a=1&b=2") == {"a": "1", "b": "2"}


@pytest.mark.parametrize("value", ["x\r\nAction: Originate", "x\nY", "x\x00"])
def test_header_values_with_line_breaks_are_refused(value: str) -> None:
    with pytest.raises(AmiError):
        check_header_value("Variable", value)


async def test_send_while_disconnected_fails_fast() -> None:
    ami = AmiConnection(AmiSettings(secret=Secret("s")), Metrics(), lambda m: None, _noop)
    with pytest.raises(AmiError, match="not connected"):
        await ami.send({"Action": "Ping"})


async def _noop(reconnect: bool) -> None:
    return None


@pytest.mark.parametrize(
    ("status", "fence", "expected"),
    [
        # The Dial's own result, emitted on the caller's channel once Dial returns: a miss of
        # the offer its fence names. An unregistered PJSIP endpoint gives no agent channel and
        # no DialEnd at all; this is the only word of it (seen on a real 22.10.1).
        ("CHANUNAVAIL", "7", AgentMissed("1795365472.9", MissReason.CHANUNAVAIL, "1001", 7)),
        ("CONGESTION", "7", AgentMissed("1795365472.9", MissReason.CONGESTION, "1001", 7)),
        ("NOANSWER", "7", AgentMissed("1795365472.9", MissReason.NOANSWER, "1001", 7)),
        ("BUSY", "7", AgentMissed("1795365472.9", MissReason.BUSY, "1001", 7)),
        # From a dialplan older than the fence (or garbage in its place): fence unknown.
        ("NOANSWER", "", AgentMissed("1795365472.9", MissReason.NOANSWER, "1001", 0)),
        ("NOANSWER", "7x", AgentMissed("1795365472.9", MissReason.NOANSWER, "1001", 0)),
        ("ANSWER", "7", None),
        ("CANCEL", "7", None),
    ],
)
def test_dial_result_is_a_miss_of_the_offer_its_fence_names(
    status: str, fence: str, expected: AgentMissed | None
) -> None:
    event = Message.from_line("Event: UserEvent")
    event.update(
        {
            "Event": "UserEvent",
            "Channel": "PJSIP/trunk-00000001",
            "Uniqueid": "1795365472.9",
            "UserEvent": "ACDDialResult",
            "Status": status,
            "Agent": "1001",
            "Fence": fence,
        }
    )
    assert translate(event) == expected


def test_an_answer_on_the_agent_leg_names_the_call_agent_and_offer() -> None:
    event = {
        "Event": "UserEvent",
        "Channel": "PJSIP/1002-0000000b",
        "Uniqueid": "1795365480.12",  # the agent leg's own
        "UserEvent": "ACDAnswered",
        "Call": "1795365472.9",
        "Agent": "ring-group",
        "Fence": "41",
    }
    assert translate(event) == AgentAnswered(
        "1795365472.9", "PJSIP/1002-0000000b", "ring-group", 41
    )


def test_variables_it_cannot_read_are_named_and_left_to_the_queue() -> None:
    event = translate(
        {
            "Event": "UserEvent",
            "UserEvent": "ACDEnqueue",
            "Uniqueid": "1.1",
            "Channel": "PJSIP/trunk-1",
            "Queue": "sales",
            "Priority": "urgent",
            "Skills": "lang:ru=eleven",
        }
    )
    assert isinstance(event, CallEntered)
    assert event.priority is None and event.skills == {}
    assert [label for label, _ in event.problems] == ["bad_priority", "bad_skills"]
    assert "urgent" in event.problems[0][1]


def test_a_device_state_is_read_as_busy_or_free() -> None:
    busy = translate({"Event": "DeviceStateChange", "Device": "PJSIP/1001", "State": "INUSE"})
    free = translate({"Event": "DeviceStateChange", "Device": "PJSIP/1001", "State": "NOT_INUSE"})
    assert busy == DeviceChanged("PJSIP/1001", True)
    assert free == DeviceChanged("PJSIP/1001", False)
