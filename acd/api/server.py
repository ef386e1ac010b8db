"""The aiohttp application: its middlewares (errors as JSON, bearer tokens) and the route tables
of each resource (``agents``, ``queues``, ``calls``, ``reports``, ``events``, ``operations``),
which know only ``acd.api.context``, never this module.

Every failure leaves as JSON with the right status (400 naming the field, 401, 403, 404, 409,
413, 502, 503), never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from acd.api import agents, calls, events, operations, queues, reports
from acd.api.auth import AuthConfig
from acd.api.context import (
    AUTH,
    EVENT_FEED,
    EVENTS,
    HEALTH,
    MAX_BODY,
    METRICS,
    OPENAPI_PATH,
    ROUTER,
    STORE,
    TOKEN,
    HealthChecks,
    error,
)
from acd.api.event_feed import DEFAULT_MAX_CLIENTS, EventFeed
from acd.domain.names import MAX_CALL_ID, id_problem
from acd.domain.state_machine import IllegalTransition
from acd.errors import AmiError, Conflict, InvalidInput, NotFound, SettingError, StoreUnavailable
from acd.metrics import Metrics
from acd.service.router import Router
from acd.store import Store
from acd.store.event_stream import EventStream

__all__ = ["OPENAPI_PATH", "build_app"]

log = logging.getLogger("acd.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# What a 503 tells a client to wait before trying again (Redis away: acd retries every 2 s).
RETRY_AFTER_SECONDS = "2"


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
    except (InvalidInput, SettingError) as exc:
        # A setting's field is its path in the body, as the file names it in its table.
        return error(400, exc.reason, exc.field)
    except NotFound as exc:
        return error(404, str(exc))
    except (IllegalTransition, Conflict) as exc:
        return error(409, str(exc))
    except AmiError as exc:
        log.warning("Asterisk refused an action", extra={"path": request.path, "error": str(exc)})
        return error(502, f"Asterisk refused the action: {exc}")
    except StoreUnavailable:
        log.error("redis unavailable during request", extra={"path": request.path})
        unavailable = error(503, "state store unavailable")
        unavailable.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return unavailable
    except Exception:
        log.exception("request failed", extra={"path": request.path})
        return error(500, "internal error")


@web.middleware
async def store_recovering(request: web.Request, handler: Handler) -> web.StreamResponse:
    """503 while Redis's lost data is being seeded again (``/health`` and ``/metrics`` still
    answer): what the API would read or write then is not the truth yet."""
    if request.path not in ("/health", "/metrics", OPENAPI_PATH) and not request.app[HEALTH]().get(
        "redis_data", True
    ):
        return error(503, "state store is being seeded again after it lost its data")
    return await handler(request)


@web.middleware
async def bearer_tokens(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a valid token, except where configuration makes a path public."""
    auth = request.app[AUTH]
    public = (
        request.path == OPENAPI_PATH
        or (request.path == "/metrics" and auth.metrics_public)
        or (request.path == "/health" and auth.health_public)
    )
    if public:
        return await handler(request)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = auth.identify(presented.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        return web.json_response(
            {"error": "a valid bearer token is required"},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    request[TOKEN] = token
    return await handler(request)


# The ids a route takes in its path, and how long each may be: one that is no id cannot name
# anything, so it is a 404 before it can become a Redis key of another type.
PATH_IDS = {"agent": 64, "queue": 64, "team": 64, "call": MAX_CALL_ID}


@web.middleware
async def ids_in_path(request: web.Request, handler: Handler) -> web.StreamResponse:
    """404 for an id in the path that cannot exist (``calls/<id>:history``, ``a{b}``); a 400
    naming it for a PUT, which would create it."""
    for name, value in request.match_info.items():
        longest = PATH_IDS.get(name)
        problem = None if longest is None else id_problem(value, longest)
        if problem is None:
            continue
        if request.method == "PUT":
            return error(400, problem, name)
        return error(404, f"{name} not found: not a valid id")
    return await handler(request)


def build_app(
    store: Store,
    router: Router,
    metrics_: Metrics,
    health_checks: HealthChecks,
    auth: AuthConfig,
    event_stream: EventStream,
    max_event_clients: int = DEFAULT_MAX_CLIENTS,
) -> web.Application:
    """The HTTP application with every route."""
    app = web.Application(
        middlewares=[errors_as_json, bearer_tokens, ids_in_path, store_recovering],
        client_max_size=MAX_BODY,
    )
    app[STORE] = store
    app[ROUTER] = router
    app[METRICS] = metrics_
    app[HEALTH] = health_checks
    app[AUTH] = auth
    app[EVENTS] = event_stream
    feed = EventFeed(event_stream, max_event_clients)
    app[EVENT_FEED] = feed

    async def stop_feed(_app: web.Application) -> None:
        await feed.stop()

    app.on_cleanup.append(stop_feed)
    for module in (operations, agents, queues, calls, reports, events):
        app.add_routes(module.routes)
    return app
