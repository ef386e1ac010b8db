"""`acd serve` as an operator runs it: config file + environment, JSON logs, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

from acd.sim import Simulator
from acd.store.event_stream import stream_entries
from acd.store.keys import Keys
from tests.pbx.acd_process import AcdProcess, stream_event

CONFIG = """
[[http.tokens]]
name = "wallboard"
role = "viewer"
sha256 = "9d0d7ec97fba515c52afe06b98601af0aab3f5c8522b74f372a177285894f719"
[[queues]]
name = "support"

[[agents]]
id = "1001"
name = "Fatima"
dial = "PJSIP/1001"
queues = { support = 1 }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_routes_with_settings_from_file_and_environment(
    sim: Simulator, redis_url: str, site: str, tmp_path: Path
) -> None:
    config = tmp_path / "acd.toml"
    config.write_text(CONFIG, encoding="utf-8")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ACD_AMI_HOST": "127.0.0.1",
        "ACD_AMI_PORT": str(sim.port),
        "ACD_AMI_USER": "acd",
        "ACD_AMI_SECRET": "s3cret",
        "ACD_REDIS_URL": redis_url,
        "ACD_SITE": site,
        "ACD_HTTP_PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "acd",
        "serve",
        "--config",
        str(config),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while b"acd: routing" not in (line := await process.stderr.readline()):
                assert line, b"".join(lines).decode()
                lines.append(line)
            while b"reconciled with Asterisk" not in (line := await process.stderr.readline()):
                assert line, b"".join(lines).decode()
                lines.append(line)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/health") as response:
                health = await response.json()
            async with http.get(
                f"http://127.0.0.1:{port}/api/v1/agents",
                headers={"Authorization": "Bearer wallboard-token"},
            ) as response:
                agents = (await response.json())["agents"]
        assert health["ok"] is True
        assert [(a["id"], a["name"]) for a in agents] == [("1001", "Fatima")]
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    log_lines = [json.loads(raw) for raw in [*lines, *rest.splitlines()] if raw.startswith(b"{")]
    assert any(event["msg"] == "AMI connected" for event in log_lines)
    everything = b"".join(lines) + rest
    assert b"s3cret" not in everything
    assert b"wallboard-token" not in everything


async def _recorded(redis: Redis, site: str, call_id: str, timeout: float = 10.0) -> None:
    """Wait on acd's change feed until the call's hash was written (blocking reads)."""
    position = "0-0"
    async with asyncio.timeout(timeout):
        while True:
            reply = await redis.xread({Keys(site).changes: position}, block=1000)
            for entry_id, fields in stream_entries(reply):
                position = entry_id
                if dict(fields or {}).get("id") == call_id:
                    return


async def test_sigterm_writes_what_is_in_flight_and_leaves_callers_on_hold(
    sim: Simulator, redis: Redis, redis_url: str, site: str, tmp_path: Path
) -> None:
    """Clean stop: exit 0 within 5 s; the business events gathered for writing (here for up
    to 1 s) are written, not lost with the process; the caller is still on hold, waiting in
    Redis, for the next start (or the dialplan's own timer)."""
    acd = AcdProcess(
        tmp_path,
        ami_port=sim.port,
        redis_url=redis_url,
        site=site,
        config=CONFIG,
        routing="side_writes_seconds = 1.0",
    )
    await acd.start()
    try:
        call = await sim.place_call(queue="support", caller_name="Фатима", patience=None)
        await _recorded(redis, site, call.uniqueid)
        status, took = await acd.terminate()
        assert status == 0, b"".join(acd.log[-20:]).decode()
        assert took < 5.0
        entered = await stream_event(redis, site, "call.offered", timeout=2, call=call.uniqueid)
        assert entered["caller_name"] == "Фатима"
        assert call.is_up and not call.reached_fallback
        kept = await redis.hgetall(Keys(site).call(call.uniqueid))
        assert kept["status"] == "waiting"
    finally:
        await acd.kill()
