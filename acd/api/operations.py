"""HTTP routes for operators and tools: /health, /metrics and the OpenAPI document."""

from __future__ import annotations

import json

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from acd.api.context import HEALTH, METRICS, OPENAPI_PATH, STORE
from acd.api.openapi import openapi_document
from acd.errors import StoreUnavailable

routes = web.RouteTableDef()
OPENAPI = json.dumps(openapi_document(), ensure_ascii=False)


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    checks = request.app[HEALTH]()
    try:
        checks["redis"] = await request.app[STORE].ping()
    except StoreUnavailable:
        checks["redis"] = False
    ok = all(checks.values())
    return web.json_response({"ok": ok, "checks": checks}, status=200 if ok else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get(OPENAPI_PATH)
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API; public, like the API's description should be."""
    return web.Response(text=OPENAPI, content_type="application/json")
