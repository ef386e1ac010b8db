"""The processes a load run starts: redis-server on a TCP port and ``acd serve``, with the
CPU, memory and Redis figures read from outside them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from acd.redis_server import find_redis_server

ADMIN_TOKEN = "load-generator-admin-token"
AMI_SECRET = "load-generator-ami-secret"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_tcp_port() -> int:
    """A port nobody listens on now (the kernel's pick for a socket bound to port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisProcess:
    """A private redis-server on a free TCP port of 127.0.0.1, no persistence."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_tcp_port()
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, timeout: float = 15.0) -> None:
        """Start it and return once it says it accepts connections."""
        self._process = await asyncio.create_subprocess_exec(
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            "",
            "--daemonize",
            "no",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(timeout):
            await _wait_for_line(self._process, b"ready to accept connections")
        self._drain = asyncio.ensure_future(_drain(self._process.stdout))

    async def stop(self) -> None:
        await _stop(self._process, self._drain)


class AcdServe:
    """``acd serve`` as its own process, with a settings file written for the run."""

    def __init__(self, directory: Path, *, ami_port: int, redis_url: str, settings: str) -> None:
        self.config = directory / "acd.toml"
        token_sha = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
        self.config.write_text(
            f"""{settings}

[[http.tokens]]
name = "load-generator"
role = "admin"
sha256 = "{token_sha}"
""",
            encoding="utf-8",
        )
        self.http_port = free_tcp_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "ACD_AMI_HOST": "127.0.0.1",
            "ACD_AMI_PORT": str(ami_port),
            "ACD_AMI_USER": "acd",
            "ACD_AMI_SECRET": AMI_SECRET,
            "ACD_REDIS_URL": redis_url,
            "ACD_HTTP_HOST": "127.0.0.1",
            "ACD_HTTP_PORT": str(self.http_port),
        }
        self.process: asyncio.subprocess.Process | None = None
        self.log_tail: list[bytes] = []
        self._drain: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, timeout: float = 120.0) -> None:
        """Start acd and return once it has reconciled with the (simulated) Asterisk."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "acd",
            "serve",
            "--config",
            str(self.config),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(timeout):
                await _wait_for_line(self.process, b"reconciled with Asterisk", self.log_tail)
        except (TimeoutError, RuntimeError):
            await self.stop()
            tail = b"".join(self.log_tail[-20:]).decode("utf-8", "replace")
            raise RuntimeError(f"acd serve did not start:\n{tail}") from None
        self._drain = asyncio.ensure_future(_drain(self.process.stderr))
        # One pooled HTTP client for the run: log-ins, pauses and reads of acd's figures.
        self._http = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            connector=aiohttp.TCPConnector(limit=32),
        )

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request to acd's HTTP API as admin: (status, JSON body)."""
        assert self._http is not None
        url = f"http://127.0.0.1:{self.http_port}/api/v1{path}"
        async with self._http.request(method, url, json=body) as response:
            return response.status, await response.json(content_type=None)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        await _stop(self.process, self._drain)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds acd has used so far (/proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def memory(self) -> tuple[int, int]:
        """(RSS now, peak RSS) in bytes (/proc/PID/status VmRSS and VmHWM)."""
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
        return values.get("VmRSS", 0), values.get("VmHWM", 0)


@dataclass(frozen=True, slots=True)
class RedisFigures:
    """What redis-server says of itself at one moment."""

    used_memory: int
    commands: int  # every command but INFO (the generator's own reads)
    by_command: Mapping[str, int]


async def redis_figures(redis: Redis) -> RedisFigures:
    """INFO memory and INFO commandstats, read in one go."""
    memory = await redis.info("memory")
    stats = await redis.info("commandstats")
    by_command = {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if isinstance(value, dict)
    }
    commands = sum(n for name, n in by_command.items() if name != "info")
    return RedisFigures(int(memory["used_memory"]), commands, by_command)


async def _wait_for_line(
    process: asyncio.subprocess.Process, marker: bytes, keep: list[bytes] | None = None
) -> None:
    stream = process.stdout if process.stdout is not None else process.stderr
    assert stream is not None
    while True:
        line = await stream.readline()
        if not line:
            raise RuntimeError(f"exited before saying {marker.decode()!r}")
        if keep is not None:
            keep.append(line)
            del keep[:-50]
        if marker in line.lower() or marker in line:
            return


async def _drain(stream: asyncio.StreamReader | None) -> None:
    """Read a child's output until it closes, so it never blocks on a full pipe."""
    if stream is not None:
        while await stream.read(1 << 16):
            pass


async def _stop(
    process: asyncio.subprocess.Process | None, drain: asyncio.Task[None] | None
) -> None:
    if process is not None and process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
    if drain is not None:
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain
