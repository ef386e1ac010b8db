"""The NOC's view against a running acd: every metric the dashboard and the alert rules name is
exported, and a real Prometheus computes the same service level and abandonment as acd."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from acd.app import AcdApp
from acd.domain.model import AgentState
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.support import log_in, sample
from tests.test_deploy_metrics_names import (
    dashboard_exprs,
    exported_metric_names,
    names_used_in,
    rule_exprs,
)


async def run_a_few_calls(sim: Simulator, make_acd: MakeAcd) -> tuple[AcdApp, str]:
    """Two answered calls and one abandoned; returns acd and its /metrics text."""
    sim.add_phone("1001", answer_after=0.5, talk_for=0.5)
    app, sink = await make_acd()
    await log_in(app, "1001")
    for name in ("Иван", "سارا"):
        call = await sim.place_call(queue="sales", caller_name=name, patience=300)
        await sink.wait_for("call.ended", call=call.uniqueid)
    await app.router.call(lambda: app.router.change_agent_state("1001", AgentState.PAUSED, "break"))
    gone = await sim.place_call(queue="sales", caller_name="Kees", patience=2)
    await sink.wait_for("call.abandoned", call=gone.uniqueid)
    await app.router.call(app.router.reload_config)  # a no-op command: the worker is idle
    url = f"http://127.0.0.1:{app.http_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return app, await response.text()


async def test_every_metric_in_dashboard_and_rules_is_exported_by_a_running_acd(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    _, text = await run_a_few_calls(sim, make_acd)
    exported = exported_metric_names(text)
    recorded = {name for name in rule_exprs() if name.startswith("acd:")}
    used = set().union(*(names_used_in(e) for e in rule_exprs().values()))
    used |= set().union(*(names_used_in(e) for _, e in dashboard_exprs()))
    missing = sorted(n for n in used - recorded if n not in exported)
    assert missing == []
    assert 'acd_calls_answered_total{queue="sales"} 2.0' in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A real Prometheus (Debian's package); the test writes its scrape target."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (.ci/run installs Debian's package)")
    yield Path(binary), _free_port()


async def test_prometheus_computes_the_same_service_level_and_abandonment_as_acd(
    sim: Simulator, make_acd: MakeAcd, prometheus: tuple[Path, int], tmp_path: Path
) -> None:
    binary, web_port = prometheus
    app, _ = await run_a_few_calls(sim, make_acd)
    acd_port = app.http_port
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: acd\n    static_configs: [{{targets: ['127.0.0.1:{acd_port}']}}]\n",
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{web_port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(60):  # its log says when it serves queries
            while b"Server is ready to receive web requests" not in (
                line := await process.stderr.readline()
            ):
                assert line, "prometheus exited at start"
        base = f"http://127.0.0.1:{web_port}/api/v1/query"
        async with aiohttp.ClientSession() as http:

            async def query(expr: str) -> float | None:
                async with http.get(base, params={"query": expr}) as response:
                    result = (await response.json())["data"]["result"]
                return float(result[0]["value"][1]) if result else None

            # Prometheus scrapes on its own clock and has no push notification: ask until the
            # first scrape is in (bounded; one scrape interval is 1 s).
            deadline = time.monotonic() + 30
            while await query("sum(acd_calls_offered_total)") != 3:
                assert time.monotonic() < deadline, "prometheus never scraped acd"
                await asyncio.sleep(0.2)
            service_level = await query(
                'sum(acd_wait_seconds_bucket{outcome="answered",le="20.0"})'
                " / sum(acd_calls_offered_total)"
            )
            abandonment = await query(
                "sum(acd_calls_abandoned_total) / sum(acd_calls_offered_total)"
            )
    finally:
        process.terminate()
        await process.communicate()
    offered = sample(app, "acd_calls_offered_total", queue="sales")
    within = sample(app, "acd_wait_seconds_bucket", queue="sales", outcome="answered", le="20.0")
    abandoned = sample(app, "acd_calls_abandoned_total", queue="sales")
    assert (offered, within, abandoned) == (3, 2, 1)
    assert service_level == pytest.approx(within / offered)
    assert abandonment == pytest.approx(abandoned / offered)
