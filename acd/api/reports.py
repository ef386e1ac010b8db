"""HTTP routes for supervisors' screens: teams and their leads, live queue and team figures.

Every route needs the viewer role.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from aiohttp import web

from acd.api.auth import Role
from acd.api.context import ROUTER, STORE, require
from acd.domain.model import Queue
from acd.errors import NotFound
from acd.service.daily_stats import DailyStats
from acd.service.reports import TeamRoster, queue_stats, team_rosters, team_stats

routes = web.RouteTableDef()


def _daily_stats(request: web.Request) -> DailyStats:
    # Cheap to build: a reader over the counters the process's own DailyStats sink writes.
    return DailyStats.from_store(request.app[STORE], request.app[ROUTER].services.settings)


async def _queue(request: web.Request) -> Queue:
    name = request.match_info["queue"]
    queue = await request.app[STORE].get_queue(name)
    if queue is None:
        raise NotFound(f"queue {name} not found")
    return queue


async def _rosters(request: web.Request) -> list[TeamRoster]:
    store = request.app[STORE]
    return team_rosters(await store.list_agents(), await store.list_queues())


async def _roster(request: web.Request) -> TeamRoster:
    name = request.match_info["team"]
    for roster in await _rosters(request):
        if roster.name == name:
            return roster
    raise NotFound(f"team {name} not found")


@routes.get("/api/v1/teams")
async def list_teams(request: web.Request) -> web.Response:
    """Teams named by agents or queues, with leads, supervisors, members and queues served."""
    require(request, Role.VIEWER)
    return web.json_response({"teams": [asdict(r) for r in await _rosters(request)]})


@routes.get("/api/v1/teams/{team}")
async def get_team(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    return web.json_response(asdict(await _roster(request)))


@routes.get("/api/v1/queues/{queue}/stats")
async def get_queue_stats(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    queue = await _queue(request)
    stats = await queue_stats(request.app[STORE], _daily_stats(request), queue, time.time())
    return web.json_response(asdict(stats))


@routes.get("/api/v1/teams/{team}/stats")
async def get_team_stats(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    roster = await _roster(request)
    stats = await team_stats(request.app[STORE], _daily_stats(request), roster, time.time())
    return web.json_response(asdict(stats))
