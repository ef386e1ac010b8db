"""``acd serve`` as its own process, as production runs it, so a test can SIGKILL it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from acd.api.auth import token_hash
from acd.metrics import Metrics
from acd.store.event_stream import EventStream
from acd.store.keys import Keys
from tests.pbx.asterisk import AMI_SECRET, free_tcp_port

ADMIN_TOKEN = "admin-token-for-tests"


class AcdProcess:
    """One ``acd serve`` child with a config file of the test's queues and agents."""

    def __init__(
        self,
        directory: Path,
        *,
        ami_port: int,
        redis_url: str,
        site: str,
        config: str,
        routing: str = "",
    ) -> None:
        """``routing``: more lines of the ``[routing]`` table."""
        self.config = directory / "acd.toml"
        self.config.write_text(
            f"""[routing]
tick_seconds = 0.2
offer_grace_seconds = 5.0
{routing}

[[http.tokens]]
name = "admin"
role = "admin"
sha256 = "{token_hash(ADMIN_TOKEN)}"

{config}""",
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
            "ACD_SITE": site,
            "ACD_HTTP_PORT": str(self.http_port),
            "ACD_HTTP_HOST": "127.0.0.1",
        }
        self.process: asyncio.subprocess.Process | None = None
        self.log: list[bytes] = []
        self._reconciled = asyncio.Event()
        self._drain: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 30.0) -> None:
        """Start, and return once acd has reconciled with Asterisk."""
        self._reconciled.clear()
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
        )
        self._drain = asyncio.get_running_loop().create_task(self._read(self.process))
        done = asyncio.ensure_future(self._reconciled.wait())
        exited = asyncio.ensure_future(self.process.wait())
        await asyncio.wait([done, exited], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        exited.cancel()
        done.cancel()
        assert self._reconciled.is_set(), b"".join(self.log[-30:]).decode("utf-8", "replace")

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            self.log.append(line)
            if b"reconciled with Asterisk" in line:
                self._reconciled.set()

    async def kill(self) -> None:
        """SIGKILL: no log-off, nothing finished."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        if self._drain is not None:
            await self._drain

    async def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM, as a service manager stops it: (exit status, seconds until it exited)."""
        process, self.process = self.process, None
        assert process is not None
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(process.wait(), timeout)
        took = time.monotonic() - started
        if self._drain is not None:
            await self._drain
        return status, took

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        url = f"http://127.0.0.1:{self.http_port}/api/v1{path}"
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, url, json=body, headers=headers) as response,
        ):
            return response.status, await response.json()

    async def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return await response.text()


async def stream_event(
    redis: Redis, site: str, kind: str, timeout: float = 15.0, **match: object
) -> dict[str, Any]:
    """The first event ``kind`` on acd's Redis event stream (what integrators read) whose
    fields include ``match``: blocking reads, whichever acd process wrote it."""
    stream = EventStream(redis, Keys(site), Metrics())
    async with asyncio.timeout(timeout), contextlib.aclosing(stream.follow("0-0")) as batches:
        async for events in batches:
            for event in events:
                if event.kind == kind and all(event.data.get(k) == v for k, v in match.items()):
                    return dict(event.data)
    raise AssertionError("the event stream ended")  # follow() never does
