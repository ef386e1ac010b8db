"""The aiohttp application: middlewares, agents, queues, the event stream, and the route table
(``acd.api.calls`` and ``acd.api.reports`` add theirs); handlers parse, call the service,
serialise.

Every failure leaves as JSON with the right status (400 naming the field, 401, 403, 404, 409,
413, 502, 503), never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from acd.api.auth import AuthConfig, Role, Token, may_act_on_agent
from acd.api.openapi import openapi_document
from acd.config import (
    agent_from_dict,
    check_agent_queues,
    check_fallback_targets,
    queue_from_dict,
)
from acd.domain.model import Agent, AgentState
from acd.domain.state_machine import ON_CALL, IllegalTransition
from acd.errors import AmiError, ConfigError, Conflict, InvalidInput, NotFound, StoreUnavailable
from acd.metrics import Metrics
from acd.service.router import Router
from acd.store import Store
from acd.store.event_stream import EventStream, StreamEvent

log = logging.getLogger("acd.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HealthChecks = Callable[[], dict[str, bool]]
STORE: web.AppKey[Store] = web.AppKey("store")
ROUTER: web.AppKey[Router] = web.AppKey("router")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
HEALTH: web.AppKey[HealthChecks] = web.AppKey("health")
AUTH: web.AppKey[AuthConfig] = web.AppKey("auth")
EVENTS: web.AppKey[EventStream] = web.AppKey("events")
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
TOKEN: web.RequestKey[Token] = web.RequestKey("token", Token)
MAX_BODY = 64 * 1024
MAX_NUMBER_CHARS = 32
OPENAPI_PATH = "/api/v1/openapi.json"
OPENAPI = json.dumps(openapi_document(), ensure_ascii=False)
# States an agent can be put in through the API; the router's table decides what is allowed.
SETTABLE_STATES = {AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT}


def error(status: int, reason: str, field: str | None = None) -> web.Response:
    """A JSON error body that names the field and the reason."""
    body: dict[str, Any] = {"error": reason}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as JSON with the right status; never a traceback."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return error(413, f"body larger than {MAX_BODY} bytes")
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        return error(exc.status, exc.reason)
    except InvalidInput as exc:
        return error(400, exc.reason, exc.field)
    except NotFound as exc:
        return error(404, str(exc))
    except (IllegalTransition, Conflict) as exc:
        return error(409, str(exc))
    except AmiError as exc:
        log.warning("Asterisk refused an action", extra={"path": request.path,
                                                        "error": str(exc)})
        return error(502, f"Asterisk refused the action: {exc}")
    except StoreUnavailable:
        log.error("redis unavailable during request", extra={"path": request.path})
        return error(503, "state store unavailable")
    except Exception:
        log.exception("request failed", extra={"path": request.path})
        return error(500, "internal error")


@web.middleware
async def bearer_tokens(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a valid token, except where configuration makes a path public."""
    auth = request.app[AUTH]
    public = request.path == OPENAPI_PATH or (
        request.path == "/metrics" and auth.metrics_public) or (
        request.path == "/health" and auth.health_public
    )
    if public:
        return await handler(request)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = auth.identify(presented.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        return web.json_response({"error": "a valid bearer token is required"}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
    request[TOKEN] = token
    return await handler(request)


def require(request: web.Request, role: Role) -> Token:
    """The request's token if its role is at least ``role``, else 403."""
    token: Token = request[TOKEN]
    if token.role < role:
        raise web.HTTPForbidden(reason=f"needs the {role.name.lower()} role")
    return token


def agent_json(agent: Agent, today: str) -> dict[str, Any]:
    """An agent as the API shows it; its call count and talk time are today's (``today``
    is the local day), the figures of an earlier day read as 0."""
    if agent.counts_day != today:
        agent = replace(agent, calls_taken=0, talk_seconds=0.0)
    data = asdict(agent)
    data["state"] = agent.state.value
    data["role"] = agent.role.value
    return data


def _today(request: web.Request) -> str:
    return request.app[ROUTER].day_of(time.time())


def _json_number(text: str) -> float:
    """A JSON number as a float; overflowing ones (1e400) and long integers are 400s, not a
    crash further in (``int(inf)``, ``float(10**400)``, Python's 4300-digit limit)."""
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidInput("body", f"numbers have at most {MAX_NUMBER_CHARS} characters")
    number = float(text)
    if not math.isfinite(number):
        raise InvalidInput("body", "numbers must be finite")
    return number


def _json_integer(text: str) -> int:
    _json_number(text)
    return int(text)


def _json_constant(name: str) -> float:
    raise InvalidInput("body", f"{name} is not JSON")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object of finite numbers, or 400.

    Decoded as UTF-8 whatever charset the client claims (an unknown one is not our error);
    too deep a nesting is a 400 too.
    """
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8"), parse_float=_json_number,
                          parse_int=_json_integer, parse_constant=_json_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError among them
        raise InvalidInput("body", "must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    return body


async def health(request: web.Request) -> web.Response:
    checks = request.app[HEALTH]()
    try:
        checks["redis"] = await request.app[STORE].ping()
    except StoreUnavailable:
        checks["redis"] = False
    ok = all(checks.values())
    return web.json_response({"ok": ok, "checks": checks}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def list_agents(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    agents = await request.app[STORE].list_agents()
    today = _today(request)
    return web.json_response({"agents": [agent_json(a, today) for a in agents]})


async def get_agent(request: web.Request) -> web.Response:
    token: Token = request[TOKEN]
    agent_id = request.match_info["agent"]
    if not may_act_on_agent(token, agent_id, Role.VIEWER):
        raise web.HTTPForbidden(reason="an agent token sees its own agent only")
    agent = await request.app[STORE].get_agent(agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return web.json_response(agent_json(agent, _today(request)))


async def set_agent_state(request: web.Request) -> web.Response:
    """Log in (ready), pause with a reason code, log out, or end wrap-up early (ready)."""
    token: Token = request[TOKEN]
    agent_id = request.match_info["agent"]
    if not may_act_on_agent(token, agent_id, Role.SUPERVISOR):
        raise web.HTTPForbidden(reason="an agent acts on itself; others need supervisor")
    body = await read_json(request)
    state_text = body.get("state")
    try:
        state = AgentState(str(state_text))
    except ValueError:
        state = None
    if state not in SETTABLE_STATES:
        raise InvalidInput("state", "must be one of ready, paused, logged_out")
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise InvalidInput("reason", "must be a string")
    router = request.app[ROUTER]
    agent = await router.call(lambda: router.change_agent_state(agent_id, state, reason))
    return web.json_response(agent_json(agent, _today(request)))


async def list_queues(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    store = request.app[STORE]
    queues = []
    for queue in await store.list_queues():
        data = asdict(queue)
        data["waiting"] = await store.waiting_count(queue.name)
        queues.append(data)
    return web.json_response({"queues": queues})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: call and agent events as they happen, filtered by queue or agent,
    resumable with ``Last-Event-ID``. An agent token sees its own agent's events only."""
    token: Token = request[TOKEN]
    queue = request.query.get("queue", "")
    agent = request.query.get("agent", "")
    if token.role is Role.AGENT:
        agent = token.agent
    else:
        require(request, Role.VIEWER)
    last = request.headers.get("Last-Event-ID", "").strip()
    if last and not STREAM_ID.fullmatch(last):
        raise InvalidInput("Last-Event-ID", "must be an event id this stream sent")
    stream = request.app[EVENTS]
    # Pin "from now" to an id, and read once, before answering: no event falls between the
    # two, and Redis being down is a 503 (by errors_as_json), not a stream that stops at once.
    batches = stream.follow(last or await stream.last_id())
    batch = await anext(batches)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
    })
    await response.prepare(request)
    try:
        while True:
            frames = _sse_frames(batch, queue, agent)
            if frames:  # all filtered out: nothing to say
                await response.write(frames)
            batch = await anext(batches)
    except StoreUnavailable as exc:
        # Ended cleanly; the client reconnects with Last-Event-ID, after the retry given here.
        log.warning("event stream ended: redis unavailable", extra={"error": str(exc)})
        with contextlib.suppress(ConnectionResetError):
            await response.write(b": state store unavailable\nretry: 5000\n\n")
    except ConnectionResetError:
        pass  # the client went away
    finally:
        await batches.aclose()
    return response


def _sse_frames(events: list[StreamEvent], queue: str, agent: str) -> bytes:
    """The SSE frames of the events matching the filters; a keep-alive when none came."""
    if not events:
        return b": keep-alive\n\n"
    frames = []
    for event in events:
        if (queue and event.data.get("queue") != queue) or (
            agent and event.data.get("agent") != agent
        ):
            continue
        payload = json.dumps({"kind": event.kind, **event.data}, ensure_ascii=False)
        frames.append(f"id: {event.id}\nevent: {event.kind}\ndata: {payload}\n\n")
    return "".join(frames).encode()


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API; public, like the API's description should be."""
    return web.Response(text=OPENAPI, content_type="application/json")


def build_app(
    store: Store, router: Router, metrics_: Metrics, health_checks: HealthChecks,
    auth: AuthConfig, event_stream: EventStream,
) -> web.Application:
    """The HTTP application with every route."""
    app = web.Application(middlewares=[errors_as_json, bearer_tokens], client_max_size=MAX_BODY)
    app[STORE] = store
    app[ROUTER] = router
    app[METRICS] = metrics_
    app[HEALTH] = health_checks
    app[AUTH] = auth
    app[EVENTS] = event_stream
    app.add_routes([
        web.get("/health", health),
        web.get("/metrics", metrics),
        web.get("/api/v1/agents", list_agents),
        web.get("/api/v1/agents/{agent}", get_agent),
        web.put("/api/v1/agents/{agent}", put_agent),
        web.delete("/api/v1/agents/{agent}", delete_agent),
        web.put("/api/v1/queues/{queue}", put_queue),
        web.delete("/api/v1/queues/{queue}", delete_queue),
        web.post("/api/v1/agents/{agent}/state", set_agent_state),
        web.get("/api/v1/queues", list_queues),
        web.get("/api/v1/events", events),
        web.get(OPENAPI_PATH, openapi),
    ])
    from acd.api import calls, reports  # here, not at the top: they import this module
    app.add_routes(calls.routes())
    app.add_routes(reports.routes())
    return app


def _invalid(exc: ConfigError) -> InvalidInput:
    """A configuration error about API input, as a 400 naming the field."""
    where, _, reason = str(exc).partition(": ")
    # "queue.strategy" from the API's own parse, "queues.<name>.steps[0]" from the model's.
    field = re.sub(r"^(?:queues|agents)\.[^.\[]+\.|^(?:queue|agent)\.", "", where)
    return InvalidInput(field, reason or str(exc))


async def put_agent(request: web.Request) -> web.Response:
    """Create or update an agent's profile (skills, team, role, queues, dial string)."""
    require(request, Role.ADMIN)
    store, router = request.app[STORE], request.app[ROUTER]
    body = await read_json(request)
    try:
        agent = agent_from_dict({**body, "id": request.match_info["agent"]}, "agent")
        check_agent_queues(agent, {q.name for q in await store.list_queues()}, "agent")
    except ConfigError as exc:
        raise _invalid(exc) from None
    created = await store.get_agent(agent.id) is None
    await store.save_agent_profile(agent)
    await router.call(router.reload_config)
    saved = await store.get_agent(agent.id)
    assert saved is not None
    return web.json_response(agent_json(saved, _today(request)),
                             status=201 if created else 200)


async def delete_agent(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    store, router = request.app[STORE], request.app[ROUTER]
    agent = await store.get_agent(request.match_info["agent"])
    if agent is None:
        raise NotFound(f"agent {request.match_info['agent']} not found")
    if agent.state in ON_CALL:
        return error(409, f"agent {agent.id} is on a call")
    await store.delete_agent(agent)
    await router.call(router.reload_config)
    return web.Response(status=204)


async def put_queue(request: web.Request) -> web.Response:
    """Create or update a queue (strategy, steps, service level, wrap-up, ring time, limits)."""
    require(request, Role.ADMIN)
    store, router = request.app[STORE], request.app[ROUTER]
    body = await read_json(request)
    try:
        queue = queue_from_dict({**body, "name": request.match_info["queue"]}, "queue")
        check_fallback_targets(queue, {q.name for q in await store.list_queues()})
    except ConfigError as exc:
        raise _invalid(exc) from None
    created = await store.get_queue(queue.name) is None
    await store.save_queue(queue)
    await router.call(router.reload_config)
    return web.json_response(asdict(queue), status=201 if created else 200)


async def delete_queue(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    store, router = request.app[STORE], request.app[ROUTER]
    name = request.match_info["queue"]
    if await store.get_queue(name) is None:
        raise NotFound(f"queue {name} not found")
    if await store.waiting_count(name):
        return error(409, f"calls are waiting in queue {name}")
    members = [a.id for a in await store.list_agents() if name in a.queues]
    if members:
        return error(409, f"agents still serve queue {name}: {', '.join(members[:10])}")
    await store.delete_queue(name)
    await router.call(router.reload_config)
    return web.Response(status=204)
