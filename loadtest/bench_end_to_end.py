"""End-to-end benchmark: acd routing calls of the simulator over real sockets and a real Redis.

Prints the routing decision latency (from the AMI event that allowed a decision to the AMI
action sent, the same span as ``acd_routing_decision_seconds``), calls routed per second, and
Redis memory per waiting call. Run: ``python -m loadtest.bench_end_to_end``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from acd.app import AcdApp
from acd.config import settings_from_dict
from acd.domain.model import AgentState
from acd.redis_server import RedisServer
from acd.sim import Simulator

MANAGER_CONF = Path(__file__).resolve().parents[1] / "asterisk" / "manager.conf"


class LatencyRecorder:
    """Stands in for the histogram's ``observe`` to keep every raw value."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def observe(self, value: float) -> None:
        self.values.append(value)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def bench(agents: int, calls: int, waiting: int, rate: float) -> None:
    with tempfile.TemporaryDirectory(prefix="acd-bench-") as tmp:
        redis = RedisServer(Path(tmp))
        await redis.start()
        # The acd user's eventfilter lines of asterisk/manager.conf, as a deployment has them:
        # acd then receives the ~10 events per call it reads, not the ~115 Asterisk publishes.
        sim = Simulator(username="acd", secret="bench", time_scale=0.01, seed=1,
                        manager_conf=MANAGER_CONF)
        await sim.start(host="127.0.0.1", port=0)
        for i in range(agents):
            sim.add_phone(f"{5000 + i}", answer_after=1.0, talk_for=5.0)
        raw: dict[str, Any] = {
            "ami": {"port": sim.port, "secret": "bench"},
            "redis": {"url": redis.url},
            "http": {"port": 0},
            "routing": {"tick_seconds": 0.5},
            "queues": [{"name": "sales"}],
            "agents": [{"id": f"{5000 + i}", "dial": f"PJSIP/{5000 + i}",
                        "queues": {"sales": 1}} for i in range(agents)],
        }
        app = AcdApp(settings_from_dict(raw))
        recorder = LatencyRecorder()
        app.metrics.routing_decision_seconds = recorder  # type: ignore[assignment]
        await app.start()
        await app.ami.wait_connected(10)
        try:
            for i in range(agents):
                agent_id = f"{5000 + i}"
                await app.router.call(
                    functools.partial(app.router.change_agent_state, agent_id, AgentState.READY)
                )
            started = time.perf_counter()
            placed = []
            for i in range(calls):  # a steady arrival rate, not one burst: measure decisions,
                placed.append(    # not the backlog of a queue nobody could serve
                    await sim.place_call(queue="sales", caller_name=f"Caller {i}", patience=600)
                )
                await asyncio.sleep(1 / rate)
            await asyncio.gather(*(c.answered(timeout=120) for c in placed))
            await app.router.call(app.router.reload_config)  # everything before it is done
            elapsed = time.perf_counter() - started
            answered = app.metrics.registry.get_sample_value(
                "acd_calls_answered_total", {"queue": "sales"}
            )
            ms = [v * 1000 for v in recorder.values]
            print(f"routed {len(ms)} offers for {calls} calls arriving at {rate:g}/s "
                  f"with {agents} agents in {elapsed:.2f} s")
            print(f"routing decision latency: p50 {statistics.median(ms):.2f} ms, "
                  f"p90 {percentile(ms, 0.9):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms, "
                  f"max {max(ms):.2f} ms")
            print(f"answered counted by acd: {answered:.0f}")
            await _memory_per_waiting_call(app, sim, waiting)
        finally:
            await app.stop()
            await sim.stop()
            await redis.stop()


async def _memory_per_waiting_call(app: AcdApp, sim: Simulator, waiting: int) -> None:
    """Place calls nobody can take and read Redis's memory before and after."""
    await app.store.save_queue(type((await app.store.list_queues())[0])("overflow"))
    await app.router.call(app.router.reload_config)
    before = int((await app.redis.info("memory"))["used_memory"])
    calls = [
        await sim.place_call(queue="overflow", caller_name="Олег Иванов", patience=600)
        for _ in range(waiting)
    ]
    deadline = time.monotonic() + 60
    while await app.store.waiting_count("overflow") < waiting and time.monotonic() < deadline:
        await app.router.idle()
        await asyncio.sleep(0)
    after = int((await app.redis.info("memory"))["used_memory"])
    print(f"redis memory per waiting call: {(after - before) / len(calls):.0f} bytes "
          f"({waiting} calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--waiting", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="calls arriving per second")
    args = parser.parse_args()
    uvloop.run(bench(args.agents, args.calls, args.waiting, args.rate))


if __name__ == "__main__":
    main()
