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

from acd.sim import Simulator

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
