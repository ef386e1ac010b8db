"""Which phone a channel is: the devices of an agent's dial string (several for a ring group,
``PJSIP/1001&PJSIP/1002``) and the device a channel of Asterisk's belongs to."""

from __future__ import annotations

import re

# Asterisk names a channel after its device and a sequence number: PJSIP/1001-0000002a,
# Local/1001@agents-00000003;1 (each half of a Local channel ends in ;1 or ;2).
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]+(?:;[12])?$")


def dial_devices(dial: str) -> frozenset[str]:
    """``PJSIP/1001&PJSIP/1002`` -> {``PJSIP/1001``, ``PJSIP/1002``}; a resource's own
    options after a second ``/`` (``PJSIP/1001/sip:...``) are not part of the device."""
    devices = set()
    for part in dial.split("&"):
        tech, _, resource = part.strip().partition("/")
        if tech and resource:
            devices.add(f"{tech}/{resource.split('/', 1)[0]}")
    return frozenset(devices)


def channel_device(channel: str) -> str:
    """``PJSIP/1001-0000002a`` -> ``PJSIP/1001``; a name without a sequence stays as is."""
    return _CHANNEL_SUFFIX.sub("", channel)
