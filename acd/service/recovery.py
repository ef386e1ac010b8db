"""Reconciling acd's view with Asterisk's after a (re)connection.

While acd was away, callers may have hung up (their calls must still end, and be counted) and
new callers may have entered (their ACDEnqueue was missed: adopt them from the channel list).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from acd import contexts
from acd.domain.model import Outcome
from acd.errors import AmiError
from acd.service.endings import end_call

if TYPE_CHECKING:
    from acd.service.router import Router

log = logging.getLogger("acd.router")


async def reconcile(router: Router, reconnect: bool) -> None:
    """After (re)connecting: end calls whose channel vanished, adopt calls we missed."""
    try:
        live = await router.telephony.live_channels()
    except AmiError as exc:
        log.warning("could not list channels", extra={"error": str(exc)})
        return
    received = time.perf_counter()
    for call_id in await router.store.active_call_ids():
        call = await router.store.get_call(call_id)
        if call is not None and call_id not in live:
            await end_call(router, call, Outcome.FAILED, "vanished", received)
    for channel in live.values():
        if channel.context == contexts.INBOUND and channel.application == "MusicOnHold":
            await _adopt(router, channel.uniqueid, channel.channel, channel.seconds)
    log.info("reconciled with Asterisk", extra={"reconnect": reconnect,
                                                "channels": len(live)})
    await router.publish("telephony.reconciled", reconnect=reconnect, channels=len(live))
    await router.route_waiting(received)


async def _adopt(router: Router, uniqueid: str, channel: str, seconds: float) -> None:
    """A caller on hold that acd does not know (its ACDEnqueue came while acd was away)."""
    if await router.store.get_call(uniqueid) is not None:
        return
    try:
        event = await router.telephony.entered_call(uniqueid, channel)
    except AmiError:
        return
    log.info("adopting a caller acd had not seen", extra={"call": uniqueid})
    await router.call_entered(event, time.perf_counter(), waited=seconds)
