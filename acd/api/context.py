"""What every route module shares: the application's keys, the request's token, the role check,
JSON bodies in and errors out, and running a command in the router's worker.

Route modules import this and nothing of each other; ``acd.api.server`` imports them all.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from acd.api.auth import AuthConfig, Role, Token
from acd.api.event_feed import EventFeed
from acd.domain.names import text_problem
from acd.errors import Conflict, InvalidInput, NotFound, SettingError
from acd.metrics import Metrics
from acd.service.router import Router
from acd.store import Store
from acd.store.event_stream import EventStream

T = TypeVar("T")
HealthChecks = Callable[[], dict[str, bool]]
STORE: web.AppKey[Store] = web.AppKey("store")
ROUTER: web.AppKey[Router] = web.AppKey("router")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
HEALTH: web.AppKey[HealthChecks] = web.AppKey("health")
AUTH: web.AppKey[AuthConfig] = web.AppKey("auth")
EVENTS: web.AppKey[EventStream] = web.AppKey("events")
EVENT_FEED: web.AppKey[EventFeed] = web.AppKey("event_feed")
TOKEN: web.RequestKey[Token] = web.RequestKey("token", Token)
MAX_BODY = 64 * 1024
MAX_NUMBER_CHARS = 32
OPENAPI_PATH = "/api/v1/openapi.json"
# What a command may refuse with: the client's mistake, answered 4xx, not a worker failure.
REFUSALS = (InvalidInput, SettingError, NotFound, Conflict)


def error(status: int, reason: str, field: str | None = None) -> web.Response:
    """A JSON error body that names the field and the reason."""
    body: dict[str, Any] = {"error": reason}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)


def require(request: web.Request, role: Role) -> Token:
    """The request's token if its role is at least ``role``, else 403."""
    token: Token = request[TOKEN]
    if token.role < role:
        raise web.HTTPForbidden(reason=f"needs the {role.name.lower()} role")
    return token


def today(request: web.Request) -> str:
    """The local day agents' call counts are kept in."""
    return request.app[ROUTER].day_of(time.time())


async def admin_write(request: web.Request, run: Callable[[], Awaitable[T]]) -> T:
    """Run ``run`` in the router's worker, in order with the calls' events (the worker runs
    one item at a time), then re-read queues and agents there as every admin write must.

    A refusal (bad input, not found, a conflict) is raised here, answered as the client's
    error, rather than logged by the worker as a failure of its own.
    """
    router = request.app[ROUTER]

    async def guarded() -> T | Exception:
        try:
            result = await run()
        except REFUSALS as exc:
            return exc
        await router.reload_config()
        return result

    outcome: T | Exception = await router.call(guarded)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


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
        body = json.loads(
            raw.decode("utf-8"),
            parse_float=_json_number,
            parse_int=_json_integer,
            parse_constant=_json_constant,
        )
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError among them
        raise InvalidInput("body", "must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    check_strings(body, "")
    return body


def check_strings(value: object, path: str) -> None:
    """Refuse, naming the field, any string of a JSON body (names and values) that holds a
    control character or a lone surrogate (``"\\ud800"`` is valid JSON but no text: it
    cannot be written as UTF-8 to Redis or a log), or a bidirectional override."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise InvalidInput(path or "body", problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem is not None:
                raise InvalidInput(path or "body", f"names {problem.removeprefix('must ')}")
            check_strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_strings(item, f"{path}[{index}]" if path else f"[{index}]")
