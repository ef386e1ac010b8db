"""Which phone a channel is, and which phones an agent's dial string rings."""

from __future__ import annotations

import pytest

from acd.domain.devices import channel_device, dial_devices


def test_a_ring_group_rings_each_of_its_devices() -> None:
    assert dial_devices("PJSIP/1001&PJSIP/1002") == {"PJSIP/1001", "PJSIP/1002"}
    assert dial_devices("PJSIP/1001") == {"PJSIP/1001"}
    assert dial_devices("Local/1001@agents/n&SIP/7") == {"Local/1001@agents", "SIP/7"}


@pytest.mark.parametrize(
    ("channel", "device"),
    [
        ("PJSIP/1001-0000002a", "PJSIP/1001"),
        ("PJSIP/sales-desk-00000003", "PJSIP/sales-desk"),
        ("Local/1001@agents-00000003;1", "Local/1001@agents"),
        ("PJSIP/1001", "PJSIP/1001"),
    ],
)
def test_a_channel_is_named_after_its_device(channel: str, device: str) -> None:
    assert channel_device(channel) == device
