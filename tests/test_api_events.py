"""The event stream for integrators: Server-Sent Events, filtered, resumable."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from acd.api.auth import token_hash
from acd.api.event_feed import BACKLOG, Lagged, Subscription
from acd.app import AcdApp
from acd.redis_server import RedisServer
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.support import RecordingSink, contact_centre, log_in

HTTP = {
    "tokens": [
        {"name": "wallboard", "role": "viewer", "sha256": token_hash("wall")},
        {"name": "anna", "role": "agent", "agent": "1001", "sha256": token_hash("anna")},
    ]
}


async def read_events(response: aiohttp.ClientResponse, until: str) -> list[dict[str, Any]]:
    """Parse SSE frames until one of kind ``until`` arrives."""
    events: list[dict[str, Any]] = []
    frame: dict[str, Any] = {}
    async for raw in response.content:
        line = raw.decode("utf-8").rstrip("\n")
        if not line:
            if "data" in frame:
                events.append(frame)
                if frame["event"] == until:
                    return events
            frame = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            frame[key] = json.loads(value) if key == "data" else value
    raise AssertionError("stream ended")


async def test_wallboard_follows_calls_and_resumes_with_last_event_id(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=0.5)
    app, _ = await make_acd(http=HTTP)
    url = f"http://127.0.0.1:{app.http_port}/api/v1/events?queue=sales"
    auth = {"Authorization": "Bearer wall"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        async with http.get(url, headers=auth) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            await log_in(app, "1001")
            call = await sim.place_call(queue="sales", caller_name="Олег Иванов", patience=60)
            events = await read_events(response, until="call.ended")
        kinds = [e["event"] for e in events]
        assert kinds == ["call.offered", "call.answered", "call.ended"]
        assert events[0]["data"]["caller_name"] == "Олег Иванов"
        assert all(e["data"]["call"] == call.uniqueid for e in events)
        # Reconnecting after the first event replays what came after it.
        resume = {**auth, "Last-Event-ID": events[0]["id"]}
        async with http.get(url, headers=resume) as response:
            again = await read_events(response, until="call.ended")
        assert [e["id"] for e in again] == [e["id"] for e in events[1:]]


async def test_agent_token_sees_only_its_own_agent(sim: Simulator, make_acd: MakeAcd) -> None:
    app, _ = await make_acd(http=HTTP)
    base = f"http://127.0.0.1:{app.http_port}/api/v1/events"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        async with http.get(base + "?agent=1002", headers={"Authorization": "Bearer anna"}) as r:
            await log_in(app, "1002", "1001")
            events = await read_events(r, until="agent.state")
        assert [e["data"]["agent"] for e in events] == ["1001"]
        async with http.get(
            base, headers={"Authorization": "Bearer wall", "Last-Event-ID": "junk"}
        ) as r:
            assert r.status == 400 and (await r.json())["field"] == "Last-Event-ID"
        async with http.get(base) as r:
            assert r.status == 401


async def test_wallboard_hears_503_while_redis_is_down_and_an_open_stream_ends_cleanly(
    sim: Simulator, site: str, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis")
    await redis.start()
    app = AcdApp(contact_centre(redis.url, sim.port, site=site, http=HTTP), sink=RecordingSink())
    await app.start()
    url = f"http://127.0.0.1:{app.http_port}/api/v1/events"
    auth = {"Authorization": "Bearer wall"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            async with http.get(url, headers=auth) as open_stream:
                assert open_stream.status == 200
                await redis.kill()
                # To its proper end: a stream cut short raises ClientPayloadError here.
                rest = await open_stream.content.read()
            assert b": state store unavailable\nretry: " in rest
            for headers in (auth, {**auth, "Last-Event-ID": "1-0"}):
                async with http.get(url, headers=headers) as refused:
                    assert refused.status == 503
                    assert await refused.json() == {"error": "state store unavailable"}
            await redis.start()
            async with http.get(url, headers={**auth, "Last-Event-ID": "0-0"}) as resumed:
                assert resumed.status == 200
    finally:
        await app.stop()
        await redis.stop()


async def sse_headers(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    """An open SSE response (its headers read), to be closed by the caller."""
    response = await http.get(url, headers=headers)
    assert response.status == 200, await response.text()
    return response


async def test_many_wallboards_share_one_redis_reader(
    sim: Simulator, make_acd: MakeAcd, redis: Redis
) -> None:
    app, _ = await make_acd(http=HTTP)
    url = f"http://127.0.0.1:{app.http_port}/api/v1/events"
    auth = {"Authorization": "Bearer wall"}
    before = len(await redis.client_list())
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        streams = [await sse_headers(http, url, auth) for _ in range(30)]
        try:
            # One reader for all 30, and at most the pool's connection for their first reads.
            assert len(await redis.client_list()) - before <= 2
            await app.event_stream.append("agent.state", {"agent": "1001", "state": "ready"})
            for stream in streams:
                assert [e["data"]["agent"] for e in await read_events(stream, "agent.state")] == [
                    "1001"
                ]
        finally:
            for stream in streams:
                stream.close()


async def test_a_wallboard_beyond_the_limit_hears_503_with_retry_after(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    app, _ = await make_acd(http={**HTTP, "max_event_clients": 2})
    url = f"http://127.0.0.1:{app.http_port}/api/v1/events"
    auth = {"Authorization": "Bearer wall"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        streams = [await sse_headers(http, url, auth) for _ in range(2)]
        try:
            async with http.get(url, headers=auth) as refused:
                assert refused.status == 503
                assert refused.headers["Retry-After"] == "5"
                assert "at most 2 event streams" in (await refused.json())["error"]
        finally:
            for stream in streams:
                stream.close()


async def test_a_wallboard_resuming_far_behind_gets_every_event_once_in_order(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    app, _ = await make_acd(http=HTTP)
    url = f"http://127.0.0.1:{app.http_port}/api/v1/events"
    auth = {"Authorization": "Bearer wall"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        live = await sse_headers(http, url, auth)  # the shared reader is running meanwhile
        try:
            for n in range(250):  # more than two pages of catching up
                await app.event_stream.append("agent.state", {"agent": str(n)})
            first = (await read_events(live, "agent.state"))[0]["id"]
            async with http.get(url, headers={**auth, "Last-Event-ID": first}) as resumed:
                caught_up = [e["data"]["agent"] for e in await _read_n(resumed, 249)]
                assert caught_up == [str(n) for n in range(1, 250)]
                await app.event_stream.append("agent.state", {"agent": "last"})
                assert [e["data"]["agent"] for e in await _read_n(resumed, 1)] == ["last"]
        finally:
            live.close()


async def _read_n(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while len(events) < count:
        events += await read_events(response, "agent.state")
    return events


def test_a_client_too_far_behind_is_told_to_reconnect() -> None:
    subscription = Subscription()
    offered = [subscription.offer([]) for _ in range(BACKLOG + 3)]
    assert offered == [True] * BACKLOG + [False] * 3

    async def drain() -> int:
        taken = 0
        with pytest.raises(Lagged):
            while True:
                await subscription.next_batch()
                taken += 1
        return taken

    assert asyncio.run(drain()) == BACKLOG
