"""Agents' phones: a device busy with a call acd did not give (a direct call, an outbound
call) takes its agent out of routing until it is free again."""

from __future__ import annotations

from acd.domain.events import DeviceChanged
from acd.domain.model import AgentState
from acd.service.context import Services

ON_ACD_CALL = frozenset({AgentState.RESERVED, AgentState.RINGING, AgentState.BUSY})


async def device_changed(
    ctx: Services, event: DeviceChanged, received: float, known: bool | None = None
) -> None:
    """An agent's phone became busy or free (``known``: what acd has recorded, if read:
    nothing to do when it is unchanged).

    Redis records a phone busy only with a call acd did not give: while the agent is on
    acd's call the phone is busy by definition, so that is kept in the process's memory and
    written, if still so, by the script that frees the agent (``end_call``). A phone says
    RINGING, INUSE, NOT_INUSE... several times a call, and every acd process sees each."""
    agent_id = ctx.mirror.devices.get(event.device)
    if agent_id is None:
        return
    agent = ctx.mirror.agent(agent_id)
    busy = event.busy
    if agent is None or (busy is known and (agent_id in ctx.mirror.busy_phones) is busy):
        return
    if (agent_id in ctx.mirror.busy_phones) is not busy:
        ctx.recorder.agent_phone(agent_id, busy)
    if busy:
        ctx.mirror.busy_phones.add(agent_id)
    else:
        ctx.mirror.busy_phones.discard(agent_id)
    if busy and agent.state in ON_ACD_CALL and not agent.device_busy:
        return
    if agent.device_busy is not busy:
        await ctx.store.set_device_busy(agent_id, busy)
    if not busy:
        await ctx.routing.route_agent(agent_id, received)


async def keep_phone_busy(ctx: Services, agent_id: str) -> None:
    """Before an agent leaves acd's call: if its phone is still in use, say so in Redis,
    so that nobody rings it until the phone is free."""
    agent = ctx.mirror.agent(agent_id)
    if agent is not None and agent_id in ctx.mirror.busy_phones and not agent.device_busy:
        await ctx.store.set_device_busy(agent_id, True)
