"""HTTP routes for calls: waiting calls in line order, one call with its history, and the
actions of supervisors, integrators and agents on a call (priority, queue, send to an agent,
hang up, escalate, listen/whisper/barge)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from acd.api.auth import Role, Token
from acd.api.context import ROUTER, STORE, TOKEN, read_json, require
from acd.domain.model import MAX_PRIORITY, MIN_PRIORITY, Call, CallStatus
from acd.domain.names import check_dial_string, check_name, id_problem
from acd.errors import InvalidInput, NotFound
from acd.service import call_actions
from acd.service.mirror import Mirror

routes = web.RouteTableDef()


# What ``?state=`` may name: the calls not yet ended.
LIVE_STATES = (CallStatus.WAITING, CallStatus.OFFERED, CallStatus.CONNECTED)
Line = tuple[int | None, int | None]  # (position, estimated wait seconds)


def call_json(call: Call, now: float, line: Line | None = None) -> dict[str, Any]:
    """A call as the API shows it: its wait (until answered or ended, then frozen) and, while
    it waits, its position in line and estimated wait (null when not known)."""
    data = asdict(call)
    data["status"] = call.status.value
    data["wait_seconds"] = round(call.wait_seconds(now), 3)
    data["answered_at"] = call.answered_at or None
    data["ended_at"] = call.ended_at or None
    data["reserved_until"] = call.reserved_until or None
    if call.status is CallStatus.WAITING:
        position, wait = line or (None, None)
        data["position"] = position
        data["estimated_wait_seconds"] = wait
    return data


def _states(request: web.Request) -> set[CallStatus]:
    text = request.query.get("state", CallStatus.WAITING.value)
    names = {n.strip() for n in text.split(",")}
    known = {s.value: s for s in LIVE_STATES}
    unknown = sorted(names - set(known))
    if unknown:
        raise InvalidInput(
            "state", f"{unknown[0]!r} is not waiting, offered or connected (comma-separated)"
        )
    return {known[n] for n in names}


class _Lines:
    """Positions and estimated waits from the router's view, each queue's line read once."""

    def __init__(self, mirror: Mirror) -> None:
        self.mirror = mirror
        self.positions: dict[str, dict[str, int]] = {}

    def of(self, call: Call) -> Line:
        line = self.positions.get(call.queue)
        if line is None:
            line = {c.id: i + 1 for i, c in enumerate(self.mirror.waiting_in(call.queue))}
            self.positions[call.queue] = line
        position = line.get(call.id)
        if position is None:
            return None, None
        return position, self.mirror.estimated_wait(call.queue, position)


def _listing_order(call: Call, lines: _Lines) -> tuple[int, str, float]:
    if call.status is CallStatus.WAITING:
        position = lines.of(call)[0]
        return 0, call.queue, float(position if position is not None else math.inf)
    return 1, "", call.arrived_at


@routes.get("/api/v1/calls")
async def list_calls(request: web.Request) -> web.Response:
    """Live calls of ``?state=`` (default waiting; comma-separated), of one ``?queue=`` or
    all: waiting calls first, each queue's in line order, then the others oldest first."""
    require(request, Role.VIEWER)
    store = request.app[STORE]
    now = time.time()
    states = _states(request)
    queue = request.query.get("queue")
    if queue is not None and (
        id_problem(queue) is not None or await store.get_queue(queue) is None
    ):
        raise NotFound(f"queue {queue} not found")
    if queue is not None and states == {CallStatus.WAITING}:
        found = await store.waiting_calls(queue)
    else:
        found = await store.get_calls(await store.active_call_ids())
    lines = _Lines(request.app[ROUTER].services.mirror)
    chosen = [c for c in found if c.status in states and queue in (None, c.queue)]
    chosen.sort(key=lambda c: _listing_order(c, lines))
    return web.json_response({"calls": [call_json(c, now, lines.of(c)) for c in chosen]})


@routes.get("/api/v1/calls/{call}")
async def get_call(request: web.Request) -> web.Response:
    """One call with the history of its attempts (offers, answers, misses, actions)."""
    require(request, Role.VIEWER)
    store = request.app[STORE]
    call = await store.get_call(request.match_info["call"])
    if call is None:
        raise NotFound(f"call {request.match_info['call']} not found")
    body = call_json(call, time.time(), _line(request, call))
    body["history"] = await store.history(call.id)
    return web.json_response(body)


def _line(request: web.Request, call: Call) -> Line:
    if call.status is not CallStatus.WAITING:
        return None, None
    return request.app[ROUTER].services.mirror.place_in_line(call.id)


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
    """Give a waiting call to a named agent: offered now (200) if ready, else reserved for
    them until ``timeout_seconds`` (202)."""
    require(request, Role.SUPERVISOR)
    call_id = request.match_info["call"]
    body = await read_json(request)
    agent = body.get("agent")
    if not isinstance(agent, str):
        raise InvalidInput("agent", "must be an agent id")
    check_name("agent", agent)
    timeout = body.get("timeout_seconds", call_actions.SEND_TIMEOUT_SECONDS)
    top = call_actions.MAX_SEND_TIMEOUT_SECONDS
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= top:
        raise InvalidInput("timeout_seconds", f"must be an integer from 1 to {top}")
    router = request.app[ROUTER]
    _, reserved = await router.call(
        lambda: call_actions.send_to_agent(router.services, call_id, agent, timeout)
    )
    response = await _call_now(request, call_id)
    if reserved:
        response.set_status(202)
    return response


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
    return web.json_response(call_json(call, time.time(), _line(request, call)))
