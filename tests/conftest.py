"""Real parts for every test: a redis-server child process, the simulator over TCP, acd."""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from acd.redis_server import find_redis_server

_sites = itertools.count()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One private redis-server for the session (tests isolate by site, not by server)."""
    directory = tmp_path_factory.mktemp("redis")
    socket = directory / "redis.sock"
    process = subprocess.Popen(
        [find_redis_server(), "--port", "0", "--unixsocket", str(socket), "--dir",
         str(directory), "--save", "", "--appendonly", "no", "--logfile", ""],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    for line in process.stdout:  # block until it says it is ready: no polling, no sleeping
        if b"ready to accept connections" in line.lower():
            break
    else:
        raise RuntimeError("redis-server did not start")
    # Keep reading its log so it never blocks on a full pipe.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    yield f"unix://{socket}"
    process.terminate()
    process.wait(10)


@pytest.fixture
def site() -> str:
    """A site name of its own for each test: its keys never meet another test's."""
    return f"t{os.getpid()}-{next(_sites)}"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def dialplan() -> Path:
    return Path(__file__).resolve().parents[1] / "asterisk" / "extensions_acd.conf"
