"""Real parts for every test: a redis-server child process, the simulator over TCP, acd."""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from acd.app import AcdApp
from acd.redis_server import find_redis_server
from acd.sim import Simulator
from tests.support import RecordingSink, contact_centre

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


# The simulator's clock runs 50x faster: a 15 s ring timeout passes in 0.3 s.
TIME_SCALE = 0.02

MakeAcd = Callable[..., Awaitable[tuple[AcdApp, RecordingSink]]]


@pytest.fixture
async def sim(dialplan: Path) -> AsyncIterator[Simulator]:
    simulator = Simulator(username="acd", secret="s3cret", dialplan_files=[dialplan],
                          time_scale=TIME_SCALE, seed=7)
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def make_acd(redis_url: str, site: str, sim: Simulator) -> AsyncIterator[MakeAcd]:
    apps: list[AcdApp] = []

    async def make(**overrides: Any) -> tuple[AcdApp, RecordingSink]:
        sink = RecordingSink()
        app = AcdApp(contact_centre(redis_url, sim.port, site=site, **overrides), sink=sink)
        await app.start()
        apps.append(app)
        await app.ami.wait_connected(10)
        # Its first look at Asterisk's channels is done: a caller placed from now on is seen
        # entering (adoption of callers acd missed is tested on its own).
        await sink.wait_for("telephony.reconciled")
        return app, sink

    yield make
    for app in apps:
        await app.stop()
