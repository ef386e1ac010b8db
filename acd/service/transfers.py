"""The agent's leg leaving a live call (a blind transfer, the agent hanging up), and holds.

A call is the caller's channel; its agent's leg is known by its channel name (recorded at the
answer) and by its Linkedid, the caller's Uniqueid. When that leg leaves while the caller stays
(a blind transfer to another phone or an outside number), the agent's part is over at once:
the call ends for acd as answered, by this agent, with the talk time from the answer to the
leg leaving, and the agent goes to wrap-up as after any call. What the caller does after that
belongs to the transfer's target, not to acd. A transfer is counted on its own
(``acd_transfers_total``), so offered = answered + abandoned + overflowed + failed still holds.
"""

from __future__ import annotations

import logging

from acd.domain.events import CallHeld, CallTransferred, ChannelGone
from acd.domain.model import Call, CallStatus, Outcome
from acd.service import endings
from acd.service.context import Services

log = logging.getLogger("acd.router")

# The detail of a call the agent transferred (one whose agent's leg hung up has the leg's
# hangup cause, as a caller's hangup gives it).
TRANSFERRED = "transferred"


def _agent_leg_of(ctx: Services, channel: str, *call_ids: str) -> Call | None:
    """The connected call whose agent talks on ``channel``, among ``call_ids``."""
    for call_id in call_ids:
        call = ctx.mirror.call(call_id) if call_id else None
        if call is None or call.status is not CallStatus.CONNECTED:
            continue
        if ctx.mirror.call_fields.get(call.id, {}).get("agent_channel") == channel:
            return call
    return None


async def channel_gone(ctx: Services, event: ChannelGone, received: float) -> None:
    """A caller hanging up ends its call; an agent's leg hanging up (the agent put the phone
    down, or Asterisk hung it up after a transfer) ends the agent's part of it."""
    call = _agent_leg_of(ctx, event.channel, event.linked_id)
    if call is None:
        caller = ctx.mirror.call(event.call_id)
        if caller is not None and caller.channel == event.channel:
            await _end_hold(ctx, caller)  # a caller who hangs up while held
        await endings.channel_gone(ctx, event, received)
        return
    await _agent_left(ctx, call, f"cause {event.cause}", received)


async def call_transferred(ctx: Services, event: CallTransferred, received: float) -> None:
    """The agent transferred the caller: recorded on the call, counted, and the agent freed.
    The agent's Hangup may have come first (then the call has ended already and only the
    transfer is recorded on it)."""
    now = ctx.clock()
    call = ctx.mirror.call(event.call_id) or ctx.mirror.call(event.linked_id)
    if call is None:
        call = await ctx.store.get_call(event.call_id)
    if call is None:
        return  # not a call of acd's (or long gone)
    agent = await ctx.store.record_transfer(
        call.id, now, event.kind.value, event.target, event.by_channel
    )
    if agent is None:
        return  # not its agent's leg that transferred (or recorded already)
    ctx.recorder.call_transferred(call, agent, event.kind.value, event.target, event.external)
    live = ctx.mirror.call(call.id)
    if live is not None and live.status is CallStatus.CONNECTED:
        await _agent_left(ctx, live, TRANSFERRED, received)


async def _agent_left(ctx: Services, call: Call, detail: str, received: float) -> None:
    await _end_hold(ctx, call)
    # Connected: the call ends as answered (the outcome given is for other statuses).
    await endings.end_call(ctx, call, Outcome.ANSWERED, detail, received)


async def _end_hold(ctx: Services, call: Call) -> None:
    """A hold still running when the agent leaves is over then."""
    who = ctx.mirror.call_fields.get(call.id, {}).get("held_by", "")
    if who:
        await _hold(ctx, call, False, who)


async def call_held(ctx: Services, event: CallHeld) -> None:
    """The caller's or the agent's channel of a live call went on or off hold."""
    call = ctx.mirror.call(event.call_id)
    who = "caller"
    if call is None or call.channel != event.channel:
        call, who = _agent_leg_of(ctx, event.channel, event.linked_id), "agent"
    if call is None or call.status is not CallStatus.CONNECTED:
        return
    await _hold(ctx, call, event.held, who)


async def _hold(ctx: Services, call: Call, held: bool, who: str) -> None:
    seconds = await ctx.store.hold(call.id, ctx.clock(), held, who)
    if seconds is None:
        return
    if held:
        ctx.recorder.call_held(call, call.agent, who)
    else:
        ctx.recorder.call_unheld(call, call.agent, who, seconds)
