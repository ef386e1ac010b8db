"""The aiohttp application: routes in one table, handlers that parse, call the service and
serialise. Unknown errors become a JSON 500 without a traceback (and are logged)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from acd.domain.model import Agent, Call
from acd.errors import StoreUnavailable
from acd.metrics import Metrics
from acd.store import Store

log = logging.getLogger("acd.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
HealthChecks = Callable[[], dict[str, bool]]
HEALTH: web.AppKey[HealthChecks] = web.AppKey("health")


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
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        return error(exc.status, exc.reason)
    except StoreUnavailable:
        log.error("redis unavailable during request", extra={"path": request.path})
        return error(503, "state store unavailable")
    except Exception:
        log.exception("request failed", extra={"path": request.path})
        return error(500, "internal error")


def agent_json(agent: Agent) -> dict[str, Any]:
    """An agent as the API shows it."""
    data = asdict(agent)
    data["state"] = agent.state.value
    data["role"] = agent.role.value
    return data


def call_json(call: Call, now: float | None = None) -> dict[str, Any]:
    """A call as the API shows it."""
    data = asdict(call)
    data["status"] = call.status.value
    return data


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
    agents = await request.app[STORE].list_agents()
    return web.json_response({"agents": [agent_json(a) for a in agents]})


async def list_queues(request: web.Request) -> web.Response:
    store = request.app[STORE]
    queues = []
    for queue in await store.list_queues():
        data = asdict(queue)
        data["waiting"] = await store.waiting_count(queue.name)
        queues.append(data)
    return web.json_response({"queues": queues})


async def list_calls(request: web.Request) -> web.Response:
    store = request.app[STORE]
    calls = await store.get_calls(await store.active_call_ids())
    return web.json_response({"calls": [call_json(c) for c in calls]})


def build_app(store: Store, metrics_: Metrics, health_checks: Callable[[], dict[str, bool]]
              ) -> web.Application:
    """The HTTP application with every route."""
    app = web.Application(middlewares=[errors_as_json], client_max_size=64 * 1024)
    app[STORE] = store
    app[METRICS] = metrics_
    app[HEALTH] = health_checks
    app.add_routes([
        web.get("/health", health),
        web.get("/metrics", metrics),
        web.get("/api/v1/agents", list_agents),
        web.get("/api/v1/queues", list_queues),
        web.get("/api/v1/calls", list_calls),
    ])
    return app
