"""Basic two-party bridges, as app_dial creates them once a called party answers.

The events and their order follow answered.ami: BridgeCreate; BridgeEnter for the called
channel, then the caller; BRIDGEPEER set on both; on the way out BRIDGEPEER is cleared on the
leaving channel first, then BridgeLeave; the last one out destroys the bridge. Two PJSIP
channels make the bridge switch from simple_bridge to native_rtp once both are in (it then
stays so to the end: answered.ami of captures-pjsip).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim.protocol import Header

if TYPE_CHECKING:
    from acd.sim.channels import Channel
    from acd.sim.pbx import Pbx


class Bridge:
    """A basic bridge with its members in the order they entered."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.uniqueid = pbx.new_bridge_id()
        self.members: list[Channel] = []
        self.technology = "simple_bridge"
        self.destroyed = False
        self._publish("BridgeCreate", [])

    def headers(self) -> list[Header]:
        """The bridge block of every bridge event."""
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", self.technology),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.members))),
            ("BridgeVideoSourceMode", "none"),
        ]

    def _publish(self, event: str, extra: list[Header]) -> None:
        self.pbx.publish(event, "call", [*self.headers(), *extra])

    def enter(self, chan: Channel) -> None:
        """A channel joins: its snapshot is published (bridge id), then BridgeEnter."""
        self.members.append(chan)
        chan.bridge = self
        chan.publish()
        self._publish("BridgeEnter", chan.snapshot())
        if len(self.members) == 2 and all(c.tech == "PJSIP" for c in self.members):
            # bridge_native_rtp: both have RTP glue (a Local channel has none).
            self.technology = "native_rtp"

    def update_peers(self, first: Channel | None = None) -> None:
        """BRIDGEPEER on every member (``first`` before the others), '' when alone."""
        order = [first] if first is not None else []
        order += [chan for chan in self.members if chan is not first]
        for chan in order:
            peers = [other.name for other in self.members if other is not chan]
            chan.setvar("BRIDGEPEER", ",".join(peers) if chan in self.members else "")

    def leave(self, chan: Channel) -> None:
        """A channel leaves; BRIDGEPEER is cleared on it and on whoever stays."""
        if chan not in self.members:
            return
        self.members.remove(chan)
        self.update_peers(first=chan)
        chan.bridge = None
        self._publish("BridgeLeave", chan.snapshot())

    def kick(self, chan: Channel) -> None:
        """Dissolving: a member is pushed out without touching BRIDGEPEER again."""
        if chan in self.members:
            self.members.remove(chan)
            chan.bridge = None
            self._publish("BridgeLeave", chan.snapshot())

    def destroy(self) -> None:
        """BridgeDestroy, once."""
        if not self.destroyed:
            self.destroyed = True
            self._publish("BridgeDestroy", [])
