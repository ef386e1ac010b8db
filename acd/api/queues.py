"""HTTP routes for queues: the list, one queue, and its configuration: ``PUT`` replaces it,
``PATCH`` merges into it, ``DELETE`` removes it when no call waits and no agent serves it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from aiohttp import web

from acd.api.auth import Role
from acd.api.context import STORE, admin_write, read_json, require
from acd.domain.model import Queue
from acd.domain.profiles import (
    check_fallback_targets,
    merge_patch,
    queue_from_table,
    queue_settings,
)
from acd.domain.setting_table import SettingTable
from acd.errors import NotFound

routes = web.RouteTableDef()


@routes.get("/api/v1/queues")
async def list_queues(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    store = request.app[STORE]
    queues = []
    for queue in await store.list_queues():
        data = asdict(queue)
        data["waiting"] = await store.waiting_count(queue.name)
        queues.append(data)
    return web.json_response({"queues": queues})


@routes.get("/api/v1/queues/{queue}")
async def get_queue(request: web.Request) -> web.Response:
    """A queue's configuration and how many calls wait in it."""
    require(request, Role.VIEWER)
    store = request.app[STORE]
    name = request.match_info["queue"]
    queue = await store.get_queue(name)
    if queue is None:
        raise NotFound(f"queue {name} not found")
    return web.json_response({**asdict(queue), "waiting": await store.waiting_count(name)})


@routes.put("/api/v1/queues/{queue}")
async def put_queue(request: web.Request) -> web.Response:
    """Create or replace a queue (strategy, steps, service level, wrap-up, ring time, limits)."""
    require(request, Role.ADMIN)
    body = await read_json(request)
    queue = queue_from_table(SettingTable({**body, "name": request.match_info["queue"]}))
    return await _save(request, lambda _current: queue)


@routes.patch("/api/v1/queues/{queue}")
async def patch_queue(request: web.Request) -> web.Response:
    """Change some of a queue: the body merges into its configuration (JSON Merge Patch), and
    the result is checked as a whole queue is."""
    require(request, Role.ADMIN)
    body = await read_json(request)
    name = request.match_info["queue"]

    def merged(current: Queue | None) -> Queue:
        if current is None:
            raise NotFound(f"queue {name} not found")
        return queue_from_table(
            SettingTable({**merge_patch(queue_settings(current), body), "name": name})
        )

    return await _save(request, merged)


async def _save(
    request: web.Request, configuration: Callable[[Queue | None], Queue]
) -> web.Response:
    """Save the queue ``configuration(current)`` gives, in the worker; 201 if it is new."""
    store = request.app[STORE]
    name = request.match_info["queue"]

    async def save() -> tuple[bool, Queue]:
        queue = configuration(await store.get_queue(name))
        check_fallback_targets(queue, {q.name for q in await store.list_queues()}, "")
        return await store.save_queue(queue), queue

    created, queue = await admin_write(request, save)
    return web.json_response(asdict(queue), status=201 if created else 200)


@routes.delete("/api/v1/queues/{queue}")
async def delete_queue(request: web.Request) -> web.Response:
    """Delete a queue no call waits in and no agent serves."""
    require(request, Role.ADMIN)
    store = request.app[STORE]
    name = request.match_info["queue"]
    await admin_write(request, lambda: store.delete_queue(name))
    return web.Response(status=204)
