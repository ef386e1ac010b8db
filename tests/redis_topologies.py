"""Real redis-server processes on TCP ports for the production topologies: a master with a
replica watched by Sentinels, and a three-master Cluster. Each process's log is read as it
comes, so a test awaits the line that says something happened (never a sleep)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from acd.redis_server import find_redis_server


class FeatureMissing(Exception):
    """The redis-server binary exited at start or refused a command a topology needs (an
    older version): the test skips saying so."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisProcess:
    """One redis-server (or sentinel) child on 127.0.0.1:``port``."""

    def __init__(self, directory: Path, args: Sequence[str], *, config: str = "") -> None:
        self.directory = directory
        self.port = free_port()
        self.args = list(args)
        self.config = config
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, ready: str = "ready to accept connections", timeout: float = 10) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        first: list[str] = []
        if self.config:
            path = self.directory / "redis.conf"
            path.write_text(self.config.format(port=self.port), "utf-8")
            first = [str(path)]
        self._process = await asyncio.create_subprocess_exec(
            find_redis_server(),
            *first,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--logfile",
            "",
            "--daemonize",
            "no",
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait_for(ready, timeout)

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            async with self._changed:
                self.lines.append(line.decode("utf-8", "replace").rstrip())
                self._changed.notify_all()
        async with self._changed:
            self.lines.append("<exited>")
            self._changed.notify_all()

    async def wait_for(self, pattern: str, timeout: float = 10) -> str:
        """The first log line matching ``pattern`` (a regex, case-insensitive)."""
        wanted = re.compile(pattern, re.IGNORECASE)

        def found() -> str | None:
            return next((line for line in self.lines if wanted.search(line)), None)

        def seen() -> bool:
            return found() is not None or (bool(self.lines) and self.lines[-1] == "<exited>")

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(seen)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} in: {' | '.join(self.lines[-8:])}") from None
        line = found()
        if line is None:
            last = next((x for x in reversed(self.lines[:-1]) if x.strip()), "")
            raise FeatureMissing(f"{find_redis_server()} exited: {last[-160:]}")
        return line

    async def kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGCONT)
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


DATA_NODE = ["--save", "", "--appendonly", "no"]

SENTINEL_CONF = """port {port}
sentinel monitor acd 127.0.0.1 MASTER_PORT 1
sentinel down-after-milliseconds acd 400
sentinel failover-timeout acd 4000
sentinel parallel-syncs acd 1
"""


class SentinelSet:
    """A master, one replica, and two sentinels (quorum 1) watching service ``acd``."""

    def __init__(self, directory: Path) -> None:
        self.master = RedisProcess(directory / "master", DATA_NODE)
        self.replica = RedisProcess(directory / "replica", DATA_NODE)
        self.sentinels = [
            RedisProcess(directory / f"sentinel{i}", ["--sentinel"], config="") for i in range(2)
        ]

    @property
    def url(self) -> str:
        hosts = ",".join(s.address for s in self.sentinels)
        return f"redis+sentinel://{hosts}/acd"

    async def start(self) -> None:
        await self.master.start()
        self.replica.args += ["--replicaof", "127.0.0.1", str(self.master.port)]
        await self.replica.start("sync: finished with success")
        for sentinel in self.sentinels:
            sentinel.config = SENTINEL_CONF.replace("MASTER_PORT", str(self.master.port))
            await sentinel.start(r"\+monitor master acd")
        for sentinel in self.sentinels:  # each knows the replica it may promote
            await sentinel.wait_for(rf"\+slave slave 127\.0\.0\.1:{self.replica.port}")

    async def stop(self) -> None:
        for process in (*self.sentinels, self.replica, self.master):
            await process.stop()


CLUSTER_NODE = [*DATA_NODE, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]


class Cluster:
    """Three masters, slots split in three, met with CLUSTER MEET and ADDSLOTSRANGE."""

    def __init__(self, directory: Path) -> None:
        # The bus of each node on a port of its own (port + 10000 may not be free).
        self.buses = [free_port() for _ in range(3)]
        self.nodes = [
            RedisProcess(
                directory / f"node{i}",
                [
                    *CLUSTER_NODE,
                    "--cluster-config-file",
                    f"nodes-{i}.conf",
                    "--cluster-port",
                    str(bus),
                ],
            )
            for i, bus in enumerate(self.buses)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(n.address for n in self.nodes)

    async def start(self) -> None:
        for node in self.nodes:
            await node.start()
        clients = [Redis(host="127.0.0.1", port=n.port, decode_responses=True) for n in self.nodes]
        try:
            await self._meet(clients)
        except ResponseError as exc:
            raise FeatureMissing(f"{find_redis_server()}: {exc}") from None
        finally:
            for client in clients:
                await client.aclose()

    async def _meet(self, clients: list[Redis]) -> None:
        bounds = [0, 5461, 10923, 16384]
        for i, client in enumerate(clients):
            await client.cluster("ADDSLOTSRANGE", bounds[i], bounds[i + 1] - 1)
        for node, bus in zip(self.nodes[1:], self.buses[1:], strict=True):
            # With the bus port, which cluster_meet() does not take.
            meet = ("CLUSTER MEET", "127.0.0.1", node.port, bus)
            await clients[0].execute_command(*meet)  # type: ignore[no-untyped-call]
        for node in self.nodes:
            await node.wait_for("cluster state changed: ok")

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()
