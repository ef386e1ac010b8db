"""HTTP routes for calls: waiting calls in line order, one call with its history, and the
actions of supervisors, integrators and agents on a call (priority, queue, send to an agent,
hang up, escalate, listen/whisper/barge)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from acd.api.auth import Role, Token
from acd.api.context import ROUTER, STORE, TOKEN, read_json, require
from acd.domain.model import MAX_PRIORITY, MIN_PRIORITY, Call
from acd.domain.names import check_dial_string, check_name, id_problem
from acd.errors import InvalidInput, NotFound
from acd.service import call_actions

routes = web.RouteTableDef()


def call_json(call: Call, now: float, position: int | None = None) -> dict[str, Any]:
    """A call as the API shows it, with its wait so far."""
    data = asdict(call)
    data["status"] = call.status.value
    data["wait_seconds"] = round(max(0.0, now - call.arrived_at), 3)
    if position is not None:
        data["position"] = position
    return data


@routes.get("/api/v1/calls")
async def list_calls(request: web.Request) -> web.Response:
    """Calls not yet ended; ``?queue=`` lists one queue's waiting calls in line order."""
    require(request, Role.VIEWER)
    store = request.app[STORE]
    now = time.time()
    queue = request.query.get("queue")
    if queue is not None:
        if id_problem(queue) is not None or await store.get_queue(queue) is None:
            raise NotFound(f"queue {queue} not found")
        waiting = await store.waiting_calls(queue)
        calls = [call_json(c, now, i + 1) for i, c in enumerate(waiting)]
    else:
        calls = [call_json(c, now) for c in await store.get_calls(await store.active_call_ids())]
    return web.json_response({"calls": calls})


@routes.get("/api/v1/calls/{call}")
async def get_call(request: web.Request) -> web.Response:
    """One call with the history of its attempts (offers, answers, misses, actions)."""
    require(request, Role.VIEWER)
    store = request.app[STORE]
    call = await store.get_call(request.match_info["call"])
    if call is None:
        raise NotFound(f"call {request.match_info['call']} not found")
    body = call_json(call, time.time())
    body["history"] = await store.history(call.id)
    return web.json_response(body)


@routes.patch("/api/v1/calls/{call}")
async def patch_call(request: web.Request) -> web.Response:
    """Change a waiting call's priority and/or move it to another queue."""
    require(request, Role.SUPERVISOR)
    call_id = request.match_info["call"]
    body = await read_json(request)
    unknown = set(body) - {"priority", "queue"}
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "is not a field of a call that can be changed")
    if not body:
        raise InvalidInput("body", "give priority and/or queue")
    priority, queue = body.get("priority"), body.get("queue")
    if "priority" in body and (not isinstance(priority, int) or isinstance(priority, bool)):
        raise InvalidInput("priority", f"must be an integer from {MIN_PRIORITY} to {MAX_PRIORITY}")
    if "queue" in body and not isinstance(queue, str):
        raise InvalidInput("queue", "must be a queue name")
    if isinstance(queue, str):
        check_name("queue", queue)
    router = request.app[ROUTER]
    if isinstance(queue, str):
        await router.call(lambda: call_actions.move_to_queue(router.services, call_id, queue))
    if isinstance(priority, int):
        await router.call(lambda: call_actions.set_priority(router.services, call_id, priority))
    return await _call_now(request, call_id)


@routes.post("/api/v1/calls/{call}/send")
async def send_call(request: web.Request) -> web.Response:
    """Offer a waiting call to a named ready agent now."""
    require(request, Role.SUPERVISOR)
    call_id = request.match_info["call"]
    agent = (await read_json(request)).get("agent")
    if not isinstance(agent, str):
        raise InvalidInput("agent", "must be an agent id")
    check_name("agent", agent)
    router = request.app[ROUTER]
    await router.call(lambda: call_actions.send_to_agent(router.services, call_id, agent))
    return await _call_now(request, call_id)


@routes.post("/api/v1/calls/{call}/hangup")
async def hang_up_call(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    call_id = request.match_info["call"]
    router = request.app[ROUTER]
    await router.call(lambda: call_actions.hang_up(router.services, call_id))
    return await _call_now(request, call_id)


@routes.post("/api/v1/calls/{call}/escalate")
async def escalate_call(request: web.Request) -> web.Response:
    """The call's agent (or a supervisor) hands a live call to a team lead."""
    token: Token = request[TOKEN]
    call_id = request.match_info["call"]
    by_agent = ""
    if token.role is Role.AGENT:
        by_agent = token.agent  # an agent escalates its own call only
        call = await request.app[STORE].get_call(call_id)
        if call is None or call.agent != by_agent:
            # The same answer as for no such call: an agent token does not learn which
            # call ids exist.
            raise NotFound(f"call {call_id} not found")
    else:
        require(request, Role.SUPERVISOR)
    router = request.app[ROUTER]
    await router.call(lambda: call_actions.escalate(router.services, call_id, by_agent))
    return await _call_now(request, call_id)


@routes.post("/api/v1/calls/{call}/monitor")
async def monitor_call(request: web.Request) -> web.Response:
    """Listen to, whisper to or barge into a live call from a supervisor's phone."""
    token = require(request, Role.SUPERVISOR)
    call_id = request.match_info["call"]
    body = await read_json(request)
    try:
        mode = call_actions.MonitorMode(str(body.get("mode")))
    except ValueError:
        raise InvalidInput("mode", "must be one of listen, whisper, barge") from None
    agent_id, dial = body.get("agent"), body.get("dial")
    if (agent_id is None) == (dial is None):
        raise InvalidInput("agent", "give either agent (whose phone rings) or dial")
    if agent_id is not None:
        if not isinstance(agent_id, str):
            raise InvalidInput("agent", "must be an agent id")
        listener = await request.app[STORE].get_agent(check_name("agent", agent_id))
        if listener is None:
            raise NotFound(f"agent {agent_id} not found")
        dial = listener.dial
    if not isinstance(dial, str):
        raise InvalidInput("dial", "must be a dial string such as PJSIP/2001")
    check_dial_string("dial", dial)
    router = request.app[ROUTER]
    listen_on = dial
    await router.call(
        lambda: call_actions.monitor(router.services, call_id, mode, listen_on, token.name)
    )
    return web.json_response({"call": call_id, "mode": mode.value, "dial": dial}, status=202)


async def _call_now(request: web.Request, call_id: str) -> web.Response:
    call = await request.app[STORE].get_call(call_id)
    if call is None:
        raise NotFound(f"call {call_id} not found")
    return web.json_response(call_json(call, time.time()))
