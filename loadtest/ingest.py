"""AMI frames for measuring how many events per second acd takes in, built before the clock
starts: events of kinds acd acts on, and events that pass the acd user's filters but that acd
reads and drops.

Both kinds are what a busy Asterisk sends for calls that are not acd's: hang-ups of trunk
channels acd never saw and agent phones' device states (acd looks each up and records the
phone as busy or free), or new channels and bridges (acd parses and ignores them).
"""

from __future__ import annotations

from collections.abc import Sequence

from acd.sim.events import AmiEvent
from acd.sim.protocol import Header


def _snapshot(channel: str, uniqueid: str, state: int = 6) -> list[Header]:
    return [
        ("Channel", channel),
        ("ChannelState", str(state)),
        ("ChannelStateDesc", "Up" if state == 6 else "Ring"),
        ("CallerIDNum", "79991234567"),
        ("CallerIDName", "Ivan"),
        ("ConnectedLineNum", "<unknown>"),
        ("ConnectedLineName", "<unknown>"),
        ("Language", "en"),
        ("AccountCode", ""),
        ("Context", "from-trunk"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Uniqueid", uniqueid),
        ("Linkedid", uniqueid),
    ]


def acted_on_frames(count: int, devices: Sequence[str], epoch: int) -> bytes:
    """Hangups of unknown trunk channels and device states of agent phones, alternating."""
    frames = []
    for n in range(count):
        if n % 2 and devices:
            device = devices[(n // 2) % len(devices)]
            state = "INUSE" if (n // (2 * len(devices))) % 2 == 0 else "NOT_INUSE"
            event = AmiEvent.build(
                "DeviceStateChange", "call", [("Device", device), ("State", state)]
            )
        else:
            uid = f"{epoch}.{900000000 + n}"
            event = AmiEvent.build(
                "Hangup",
                "call",
                [
                    *_snapshot(f"PJSIP/trunk-{n:08x}", uid),
                    ("Cause", "16"),
                    ("Cause-txt", "Normal Clearing"),
                ],
            )
        frames.append(event.wire)
    return b"".join(frames)


def ignored_frames(count: int, epoch: int) -> bytes:
    """New channels and bridge entries and exits of calls that are not acd's."""
    frames = []
    for n in range(count):
        uid = f"{epoch}.{800000000 + n}"
        channel = f"PJSIP/trunk-{n:08x}"
        kind = n % 3
        if kind == 0:
            event = AmiEvent.build("Newchannel", "call", _snapshot(channel, uid, state=4))
        else:
            bridge = [
                ("BridgeUniqueid", f"00000000-0000-4000-8000-{n:012x}"),
                ("BridgeType", "basic"),
                ("BridgeTechnology", "simple_bridge"),
                ("BridgeCreator", "<unknown>"),
                ("BridgeName", "<unknown>"),
                ("BridgeNumChannels", "2"),
                ("BridgeVideoSourceMode", "none"),
            ]
            name = "BridgeEnter" if kind == 1 else "BridgeLeave"
            event = AmiEvent.build(name, "call", [*bridge, *_snapshot(channel, uid)])
        frames.append(event.wire)
    return b"".join(frames)
