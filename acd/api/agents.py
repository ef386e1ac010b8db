"""HTTP routes for agents: the list, one agent, its state (log in, pause, log out), and its
profile: ``PUT`` replaces it, ``PATCH`` merges into it, ``DELETE`` removes it (admin)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from acd.api.auth import Role, Token, may_act_on_agent
from acd.api.context import ROUTER, STORE, TOKEN, admin_write, read_json, require, today
from acd.domain.counts import counted_today
from acd.domain.model import Agent, AgentState
from acd.domain.names import check_text
from acd.domain.profiles import agent_from_table, agent_settings, check_agent_queues, merge_patch
from acd.domain.setting_table import SettingTable
from acd.domain.state_machine import RequestEffect
from acd.errors import InvalidInput, NotFound

routes = web.RouteTableDef()
# States an agent can be put in through the API; the router's table decides what is allowed.
SETTABLE_STATES = {AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT}


def agent_json(agent: Agent, day: str) -> dict[str, Any]:
    """An agent as the API shows it; its call count and talk time are of ``day`` (the local
    day): the figures of an earlier day read as 0."""
    data = asdict(counted_today(agent, day))
    data["state"] = agent.state.value
    data["role"] = agent.role.value
    data["pending_state"] = agent.pending_state.value if agent.pending_state else None
    return data


@routes.get("/api/v1/agents")
async def list_agents(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    agents = await request.app[STORE].list_agents()
    day = today(request)
    return web.json_response({"agents": [agent_json(a, day) for a in agents]})


@routes.get("/api/v1/agents/{agent}")
async def get_agent(request: web.Request) -> web.Response:
    token: Token = request[TOKEN]
    agent_id = request.match_info["agent"]
    if not may_act_on_agent(token, agent_id, Role.VIEWER):
        raise web.HTTPForbidden(reason="an agent token sees its own agent only")
    agent = await request.app[STORE].get_agent(agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return web.json_response(agent_json(agent, today(request)))


@routes.post("/api/v1/agents/{agent}/state")
async def set_agent_state(request: web.Request) -> web.Response:
    """Log in (ready), pause with a reason code, log out, or end wrap-up early (ready).

    While an offer rings the agent, a pause or log-out withdraws it (the caller goes back to
    its place) and ready is refused (409); during a conversation a pause or log-out is kept
    as ``pending_state`` for the end of the call (202), and ready takes it back."""
    token: Token = request[TOKEN]
    agent_id = request.match_info["agent"]
    if not may_act_on_agent(token, agent_id, Role.SUPERVISOR):
        raise web.HTTPForbidden(reason="an agent acts on itself; others need supervisor")
    body = await read_json(request)
    try:
        state = AgentState(str(body.get("state")))
    except ValueError:
        state = None
    if state not in SETTABLE_STATES:
        raise InvalidInput("state", "must be one of ready, paused, logged_out")
    # Stored, logged and published on the stream: bounded, no control or bidi characters.
    reason = check_text("reason", body.get("reason", ""))
    router = request.app[ROUTER]
    agent, effect = await router.call(lambda: router.request_agent_state(agent_id, state, reason))
    status = 202 if effect is RequestEffect.PEND else 200
    return web.json_response(agent_json(agent, today(request)), status=status)


@routes.delete("/api/v1/agents/{agent}/state/pending")
async def cancel_pending_state(request: web.Request) -> web.Response:
    """Take back the pause or log-out a busy agent asked for; 409 if none is pending."""
    token: Token = request[TOKEN]
    agent_id = request.match_info["agent"]
    if not may_act_on_agent(token, agent_id, Role.SUPERVISOR):
        raise web.HTTPForbidden(reason="an agent acts on itself; others need supervisor")
    router = request.app[ROUTER]
    agent = await router.call(lambda: router.cancel_pending_state(agent_id))
    return web.json_response(agent_json(agent, today(request)))


@routes.put("/api/v1/agents/{agent}")
async def put_agent(request: web.Request) -> web.Response:
    """Create or replace an agent's profile (skills, team, role, queues, dial string)."""
    require(request, Role.ADMIN)
    body = await read_json(request)
    agent_id = request.match_info["agent"]
    agent = agent_from_table(SettingTable({**body, "id": agent_id}))
    return await _save(request, lambda _current: agent)


@routes.patch("/api/v1/agents/{agent}")
async def patch_agent(request: web.Request) -> web.Response:
    """Change some of an agent's profile: the body merges into it (JSON Merge Patch), and the
    result is checked as a whole profile is."""
    require(request, Role.ADMIN)
    body = await read_json(request)
    agent_id = request.match_info["agent"]

    def merged(current: Agent | None) -> Agent:
        if current is None:
            raise NotFound(f"agent {agent_id} not found")
        return agent_from_table(
            SettingTable({**merge_patch(agent_settings(current), body), "id": agent_id})
        )

    return await _save(request, merged)


async def _save(request: web.Request, profile: Callable[[Agent | None], Agent]) -> web.Response:
    """Save the agent ``profile(current)`` gives, in the worker; 201 if it is new."""
    store = request.app[STORE]
    agent_id = request.match_info["agent"]

    async def save() -> tuple[bool, Agent]:
        agent = profile(await store.get_agent(agent_id))
        check_agent_queues(agent, {q.name for q in await store.list_queues()}, "")
        created = await store.save_agent_profile(agent)
        # With its live state; as saved if another acd deleted it since.
        return created, await store.get_agent(agent_id) or agent

    created, saved = await admin_write(request, save)
    return web.json_response(agent_json(saved, today(request)), status=201 if created else 200)


@routes.delete("/api/v1/agents/{agent}")
async def delete_agent(request: web.Request) -> web.Response:
    """Delete an agent that is not on a call."""
    require(request, Role.ADMIN)
    store = request.app[STORE]
    agent_id = request.match_info["agent"]
    await admin_write(request, lambda: store.delete_agent(agent_id))
    return web.Response(status=204)
