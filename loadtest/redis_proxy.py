"""A TCP proxy between acd and redis-server that counts round trips, without changing acd.

A round trip is a burst of requests: bytes from the client that start after the server has
answered everything before them (or on a fresh connection). A pipeline or a MULTI/EXEC block
written at once is one round trip; two commands each awaited in turn are two. Counted over
every connection acd opens (its pool), which is what each call costs in waiting on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class RoundTrips:
    """Counters, read at any time (the proxy runs on the caller's event loop)."""

    round_trips: int = 0
    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class CountingProxy:
    """Listens on 127.0.0.1 and forwards every connection to ``target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.counts = RoundTrips()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on a free port (see :attr:`port`)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and every forwarded connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.counts.connections += 1
        try:
            server_in, server_out = await asyncio.open_connection(*self.target)
        except OSError:
            client_out.close()
            self._tasks.discard(task)
            return
        # One flag per connection: has the server answered since the client last wrote?
        answered = [True]
        up = asyncio.ensure_future(self._pump(client_in, server_out, answered, upstream=True))
        down = asyncio.ensure_future(self._pump(server_in, client_out, answered, upstream=False))
        try:
            await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in (up, down):
                pump.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            for writer in (server_out, client_out):
                writer.close()
            self._tasks.discard(task)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        answered: list[bool],
        *,
        upstream: bool,
    ) -> None:
        counts = self.counts
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if upstream:
                    counts.bytes_up += len(data)
                    if answered[0]:
                        counts.round_trips += 1
                        answered[0] = False
                else:
                    counts.bytes_down += len(data)
                    answered[0] = True
                writer.write(data)
                await writer.drain()
