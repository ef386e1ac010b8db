"""Agents' phones: a device busy with a call acd did not give (a direct call, an outbound
call) takes its agent out of routing until it is free again."""

from __future__ import annotations

from acd.domain.events import DeviceChanged
from acd.service.context import Services


async def device_changed(ctx: Services, event: DeviceChanged, received: float,
                         known: bool | None = None) -> None:
    """An agent's phone became busy or free (``known``: what acd has recorded, if read:
    nothing to do when it is unchanged)."""
    agent_id = ctx.mirror.devices.get(event.device)
    if agent_id is None:
        return
    agent = ctx.mirror.agent(agent_id)
    busy = event.busy
    if agent is None or busy is known:
        return
    if agent.device_busy is not busy:
        # Written and published on a change only: a phone says RINGING, INUSE, ... many
        # times a call, and every acd process sees each of them.
        await ctx.store.set_device_busy(agent_id, busy)
        ctx.recorder.agent_phone(agent_id, busy)
    if not busy:
        await ctx.routing.route_agent(agent_id, received)
