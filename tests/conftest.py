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
from tests.pbx.asterisk import AsteriskProcess, fallback_context, find_install
from tests.pbx.tiers import Pbx, RealPbx, SimulatedPbx
from tests.support import RecordingSink, contact_centre

_sites = itertools.count()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One private redis-server for the session (tests isolate by site, not by server)."""
    directory = tmp_path_factory.mktemp("redis")
    socket = directory / "redis.sock"
    process = subprocess.Popen(
        [
            find_redis_server(),
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            "",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
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
MANAGER_CONF = Path(__file__).resolve().parents[1] / "asterisk" / "manager.conf"


async def _start_simulator(
    dialplan: Path, *, filtered: bool, time_scale: float = TIME_SCALE
) -> Simulator:
    """A simulator on a free port; ``filtered``: with asterisk/manager.conf's event filters."""
    simulator = Simulator(
        username="acd",
        secret="s3cret",
        dialplan_files=[dialplan],
        time_scale=time_scale,
        seed=7,
        manager_conf=MANAGER_CONF if filtered else None,
    )
    await simulator.start(host="127.0.0.1", port=0)
    return simulator


@pytest.fixture
async def sim(dialplan: Path) -> AsyncIterator[Simulator]:
    simulator = await _start_simulator(dialplan, filtered=False)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def filtered_sim(dialplan: Path) -> AsyncIterator[Simulator]:
    """The simulator with the shipped manager.conf's event filters, as a deployment has."""
    simulator = await _start_simulator(dialplan, filtered=True)
    yield simulator
    await simulator.stop()


@pytest.fixture(scope="session")
def asterisk_rig() -> Iterator[AsteriskProcess]:
    """One private real Asterisk for the session; without one, its tests skip saying why."""
    install = find_install()
    if isinstance(install, str):
        pytest.skip(f"real-Asterisk tier: {install}")
    rig = AsteriskProcess(install)
    try:
        rig.start()
    except RuntimeError as exc:
        rig.remove()
        first = str(exc).split("\n", 1)[0]
        hint = " (SIGILL: built for another CPU, e.g. BUILD_NATIVE)" if "exit -4" in first else ""
        pytest.skip(f"real-Asterisk tier: {install.binary} does not run here{hint}: {first}")
    yield rig
    rig.remove()


@pytest.fixture(params=["sim", "asterisk"])
async def pbx(request: pytest.FixtureRequest, dialplan: Path, tmp_path: Path) -> AsyncIterator[Pbx]:
    """The same end-to-end test on the simulator and on a real Asterisk with SIPp phones,
    both with the shipped manager.conf (its AMI user's rights and event filters)."""
    if request.param == "sim":
        # A test that also runs acd as a process of its own (start-up takes real seconds)
        # runs the simulator in real time too, so that both tiers see the same moments.
        scale = 1.0 if request.node.get_closest_marker("realtime") else TIME_SCALE
        simulator = await _start_simulator(dialplan, filtered=True, time_scale=scale)
        yield SimulatedPbx(simulator)
        await simulator.stop()
        return
    rig: AsteriskProcess = request.getfixturevalue("asterisk_rig")
    if rig.process is None or rig.process.poll() is not None:
        rig.start()  # a test before this one stopped it
    real = RealPbx(rig, tmp_path, fallback_context())
    await real.open()
    yield real
    await real.close()


def acd_factory(redis_url: str, site: str, port: int, apps: list[AcdApp]) -> MakeAcd:
    async def make(**overrides: Any) -> tuple[AcdApp, RecordingSink]:
        sink = RecordingSink()
        app = AcdApp(contact_centre(redis_url, port, site=site, **overrides), sink=sink)
        await app.start()
        apps.append(app)
        await app.ami.wait_connected(10)
        # Its first look at Asterisk's channels is done: a caller placed from now on is seen
        # entering (adoption of callers acd missed is tested on its own).
        await sink.wait_for("telephony.reconciled")
        return app, sink

    return make


@pytest.fixture
async def make_tier_acd(redis_url: str, site: str, pbx: Pbx) -> AsyncIterator[MakeAcd]:
    """acd against whichever telephony tier ``pbx`` is."""
    apps: list[AcdApp] = []
    yield acd_factory(redis_url, site, pbx.port, apps)
    for app in apps:
        await app.stop()


@pytest.fixture
async def make_acd(redis_url: str, site: str, sim: Simulator) -> AsyncIterator[MakeAcd]:
    apps: list[AcdApp] = []

    make = acd_factory(redis_url, site, sim.port, apps)
    yield make
    for app in apps:
        await app.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The real-Asterisk tier's skips in one line each reason, not one line a test."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        if "real-Asterisk tier" in reason:
            reason = reason.removeprefix("Skipped: ")
            reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in reasons.items():
        terminalreporter.write_line(f"{count} tests skipped, {reason}")
