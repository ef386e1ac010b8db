"""Transfers and holds of a bridged channel, as Asterisk 22 does them.

BlindTransfer (the AMI action; a phone's SIP REFER and the features' blind transfer take the
same path, main/bridge.c ast_bridge_transfer_blind): in a two-party bridge the other party is
sent to ``Exten@Context`` (its Dial returns, its dialplan runs there), the transferer leaves
and is hung up, and a BlindTransfer event reports the Result with both channels' snapshots
and the bridge (main/stasis_bridges.c). Replies follow main/manager.c action_blind_transfer.

Hold and Unhold (main/stasis_channels.c): what chan_pjsip raises on a re-INVITE with
sendonly and then sendrecv: the channel's snapshot, and MusicClass on Hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from acd.sim.protocol import ActionMessage

if TYPE_CHECKING:
    from acd.sim.channels import Channel
    from acd.sim.session import AmiSession

Handler = Callable[["AmiSession", ActionMessage], Awaitable[bool]]


def blind_transfer_channel(chan: Channel, exten: str, context: str) -> str:
    """Blind-transfer ``chan``'s bridge peer to ``exten@context``; the result, as the
    BlindTransfer event names it."""
    bridge = chan.bridge
    peers = [c for c in bridge.members if c is not chan] if bridge is not None else []
    result = "Success" if bridge is not None and len(peers) == 1 else "Invalid"
    headers = [("Result", result), *chan.snapshot("Transferer")]
    if peers:
        headers += peers[0].snapshot("Transferee")
    if bridge is not None:
        headers += bridge.headers()
    headers += [("IsExternal", "Yes"), ("Context", context), ("Extension", exten)]
    if result == "Success":
        transferee = peers[0]
        transferee.setvar("BLINDTRANSFER", chan.name)
        transferee.async_goto(context, exten, 1)
    chan.pbx.publish("BlindTransfer", "call", headers)
    return result


async def blind_transfer(session: AmiSession, message: ActionMessage) -> bool:
    name, exten = message.get("Channel"), message.get("Exten")
    if not name:
        session.error(message, "No channel specified")
        return True
    if not exten:
        session.error(message, "No extension specified")
        return True
    chan = session.host.pbx.find_channel(name)
    if chan is None:
        session.error(message, "Channel specified does not exist")
        return True
    result = blind_transfer_channel(chan, exten, message.get("Context") or chan.context)
    if result == "Success":
        session.ack(message, "Transfer succeeded")
    else:
        session.error(message, "Transfer invalid")
    return True


def hold(chan: Channel, held: bool, music_class: str = "default") -> None:
    """The phone on ``chan`` put the call on hold (``held``) or took it off."""
    if held:
        chan.emit("Hold", extra=[("MusicClass", music_class)])
    else:
        chan.emit("Unhold")


TRANSFER_ACTIONS: dict[str, Handler] = {"blindtransfer": blind_transfer}
