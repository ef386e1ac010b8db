"""``make bench``: each scenario of issue 11, each figure beside its target, PASS or MISS.

Each scenario prints the machine's load average before it runs and repeats (3 runs by
default), printing min / median / max; the verdict is the median's (this machine is shared
and noisy, so one run says little). Targets are never adjusted to the figures.

(a) a large centre at 50 calls/s: decision latency; (b) 500 calls within one second: the
slowest decision; (c) 100,000 calls waiting: Redis memory; (d) AMI ingest per second, events
acd acts on and events it drops; (e) Redis round trips per routed call; an Erlang check
(measured service level and ASA beside Erlang C and A, no target); (f), the real-Asterisk
comparison with app_queue, is ``loadtest.bench_asterisk_ring``, which ``make bench`` runs
after this.

Run: ``python -m loadtest.bench`` (``--quick``: shorter runs, one of each, in minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvloop

from loadtest.centre import Plan
from loadtest.generate import run_plan
from loadtest.report import Report, format_report

MiB = 2**20
# 5,000 agents in 200 queues with 50 skills, all six strategies (centre.py), as issue 10's
# measurements ran. At 50 calls/s with 193 s per call an agent's day runs 2.3x faster than
# real time, so that the offered load is 85 % of the staff: 50 * 193 * 0.44 / 5000.
LARGE = Plan(
    agents=5000,
    queues=200,
    skills=50,
    peak_rate=50.0,
    time_scale=0.44,
    start_hour=9.0,
    patience_mean=300.0,
    park=0,
    erlang_agents=0,
    idle_seconds=0.0,
    redis_proxy=False,
    drain_seconds=0.0,
)

ERLANG = Plan(
    agents=4,
    queues=1,
    skills=4,
    peak_rate=0.2,
    time_scale=0.02,
    sim_minutes=120,
    wrap_up=0.0,
    erlang_agents=50,
    erlang_patience=600.0,
    park=0,
    idle_seconds=0,
    redis_proxy=False,
    no_answer=0.0,
    breaks_per_hour=0.0,
)


@dataclass(frozen=True)
class Target:
    """One figure of a report and the bound it must meet."""

    label: str
    read: Callable[[dict[str, Any]], float]
    bound: float | None  # None: printed without a target
    at_most: bool = True
    unit: str = ""
    scale: float = 1.0  # the figure is shown as value / scale

    def verdict(self, value: float) -> str:
        if self.bound is None:
            return ""
        ok = value <= self.bound if self.at_most else value >= self.bound
        return "PASS" if ok else "MISS"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    plan: Plan
    quick: Plan
    targets: tuple[Target, ...]
    show_report: bool = False  # print the generator's whole table after each run


def _frame(name: str) -> Callable[[dict[str, Any]], float]:
    return lambda d: float(d["decisions"]["on_a_frame"][name])


def _all(name: str) -> Callable[[dict[str, Any]], float]:
    return lambda d: float(d["decisions"]["all"][name])


def _memory_of_100k(d: dict[str, Any]) -> float:
    """Only a run where acd counts every parked call as waiting measures waiting calls."""
    redis = d["redis"]
    if redis["parked_calls_acd_counts_waiting"] != redis["waiting_calls_parked"]:
        return float("nan")
    return float(redis["memory_per_waiting_call_bytes"]) * 100_000


SCENARIOS = (
    Scenario(
        "a",
        "5,000 agents, 200 queues, 50 skills, six strategies, 50 calls/s",
        replace(LARGE, sim_minutes=5.0),
        replace(LARGE, sim_minutes=1.0),
        (
            Target("decision p50 (frame -> Redirect)", _frame("p50_ms"), 0.5, unit="ms"),
            Target("decision p99 (frame -> Redirect)", _frame("p99_ms"), 2.0, unit="ms"),
            Target("decision p99.9 (frame -> Redirect)", _frame("p999_ms"), None, unit="ms"),
            Target("decision max (frame -> Redirect)", _frame("max_ms"), None, unit="ms"),
            Target("decision p50, all (incl. wrap-up ends)", _all("p50_ms"), None, unit="ms"),
            Target("AMI events to acd per second", lambda d: d["ami"]["events_per_second"], None),
            Target(
                "acd CPU per routed call",
                lambda d: d["acd_process"]["cpu_ms_per_routed_call"],
                None,
                unit="ms",
            ),
            Target(
                "acd CPU, % of one core",
                lambda d: d["acd_process"]["cpu_percent_of_one_core"],
                None,
                unit="%",
            ),
            Target(
                "acd peak RSS",
                lambda d: d["acd_process"]["peak_rss_bytes"],
                None,
                unit="MiB",
                scale=MiB,
            ),
        ),
    ),
    Scenario(
        "b",
        "500 calls within one second, same centre",
        replace(LARGE, burst_calls=500, talk_mean=10.0, patience_mean=None, drain_seconds=60),
        replace(LARGE, burst_calls=500, talk_mean=10.0, patience_mean=None, drain_seconds=60),
        (
            Target("slowest decision", _all("max_ms"), 100.0, unit="ms"),
            Target("decision p50", _all("p50_ms"), None, unit="ms"),
            Target("decision p99", _all("p99_ms"), None, unit="ms"),
        ),
    ),
    Scenario(
        "c",
        "100,000 calls waiting",
        Plan(
            agents=10,
            queues=2,
            skills=4,
            sim_minutes=0,
            park=100_000,
            idle_seconds=0,
            redis_proxy=False,
            erlang_agents=0,
        ),
        Plan(
            agents=10,
            queues=2,
            skills=4,
            sim_minutes=0,
            park=10_000,
            idle_seconds=0,
            redis_proxy=False,
            erlang_agents=0,
        ),
        (
            Target(
                "Redis memory, 100,000 waiting calls (bytes per call x 1e5)",
                _memory_of_100k,
                200 * MiB,
                unit="MiB",
                scale=MiB,
            ),
            Target(
                "bytes per waiting call",
                lambda d: d["redis"]["memory_per_waiting_call_bytes"],
                None,
                unit="B",
            ),
        ),
    ),
    Scenario(
        "d",
        "AMI ingest: one flood of each kind written at once, then a call behind it",
        Plan(
            agents=200,
            queues=10,
            skills=20,
            sim_minutes=0,
            park=0,
            idle_seconds=0,
            redis_proxy=False,
            ingest_events=100_000,
            erlang_agents=0,
        ),
        Plan(
            agents=200,
            queues=10,
            skills=20,
            sim_minutes=0,
            park=0,
            idle_seconds=0,
            redis_proxy=False,
            ingest_events=20_000,
            erlang_agents=0,
        ),
        (
            Target(
                "events acd acts on, per second",
                lambda d: d["ingest"]["acted_on_per_second"],
                20_000,
                at_most=False,
                unit="/s",
            ),
            Target(
                "events acd ignores, per second",
                lambda d: d["ingest"]["ignored_per_second"],
                20_000,
                at_most=False,
                unit="/s",
            ),
        ),
    ),
    Scenario(
        "e",
        "Redis round trips per routed call: the centre of (a) at 50 calls/s, 30 s talks "
        "so that every call ends within the run, through a counting proxy",
        replace(
            LARGE,
            sim_minutes=1.0,
            talk_mean=30.0,
            redis_proxy=True,
            idle_seconds=3.0,
            drain_seconds=120.0,
        ),
        replace(
            LARGE,
            sim_minutes=0.5,
            talk_mean=30.0,
            redis_proxy=True,
            idle_seconds=3.0,
            drain_seconds=120.0,
        ),
        (
            Target(
                "round trips per routed call (everything acd sent Redis)",
                lambda d: d["redis"]["round_trips_per_routed_call"],
                10.0,
            ),
            Target(
                "of which background (ticks, gauges), per routed call",
                lambda d: d["redis"]["background_round_trips_per_routed_call"],
                None,
            ),
            Target(
                "background round trips per second, no traffic",
                lambda d: d["redis"]["idle"]["round_trips_per_second"],
                None,
                unit="/s",
            ),
            Target(
                "commands per routed call", lambda d: d["redis"]["commands_per_routed_call"], None
            ),
            Target(
                "acd CPU per routed call",
                lambda d: d["acd_process"]["cpu_ms_per_routed_call"],
                None,
                unit="ms",
            ),
        ),
    ),
    Scenario(
        "erlang",
        "Erlang check: 50 dedicated agents, one skill, patient callers "
        "(exponential patience of 600 s), 85 % occupancy, no wrap-up (so that "
        "agents free up on a frame, not on acd's timer, whose delay the 50x "
        "compression would multiply)",
        ERLANG,
        replace(ERLANG, sim_minutes=60),
        (
            Target(
                "measured service level (20 s)",
                lambda d: 100 * d["erlang"]["measured"]["service_level"],
                None,
                unit="%",
            ),
            Target(
                "Erlang C service level",
                lambda d: 100 * d["erlang"]["predicted"][0]["service_level"],
                None,
                unit="%",
            ),
            Target(
                "Erlang A service level",
                lambda d: 100 * d["erlang"]["predicted"][1]["service_level"],
                None,
                unit="%",
            ),
            Target(
                "measured ASA", lambda d: d["erlang"]["measured"]["asa_seconds"], None, unit="s"
            ),
            Target(
                "Erlang C ASA", lambda d: d["erlang"]["predicted"][0]["asa_seconds"], None, unit="s"
            ),
            Target(
                "Erlang A ASA", lambda d: d["erlang"]["predicted"][1]["asa_seconds"], None, unit="s"
            ),
        ),
        show_report=True,
    ),
)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _number(value: float) -> str:
    if value != value:  # nan
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def summarise(scenario: Scenario, reports: Sequence[Report]) -> list[dict[str, Any]]:
    """Min, median and max of each figure over the runs, beside the target."""
    rows = []
    for target in scenario.targets:
        values = []
        for report in reports:
            try:
                values.append(target.read(report.data) / target.scale)
            except (KeyError, TypeError, IndexError, ZeroDivisionError):
                values.append(float("nan"))
        present = [v for v in values if v == v]
        median = statistics.median(present) if present else float("nan")
        bound = None if target.bound is None else target.bound / target.scale
        rows.append(
            {
                "figure": target.label,
                "unit": target.unit,
                "runs": values,
                "min": min(present, default=float("nan")),
                "median": median,
                "max": max(present, default=float("nan")),
                "target": None
                if bound is None
                else ("<= " if target.at_most else ">= ") + _number(bound),
                "verdict": target.verdict(median * target.scale)
                if present
                else ("MISS" if bound is not None else ""),
            }
        )
    return rows


def print_rows(rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        unit = f" {row['unit']}" if row["unit"] else ""
        figures = f"{_number(row['min'])} / {_number(row['median'])} / {_number(row['max'])}"
        target = f"target {row['target']}{unit}: {row['verdict']}" if row["target"] else ""
        print(f"  {row['figure']:<58} {figures:>24}{unit:<4} {target}", flush=True)


def run_scenario(scenario: Scenario, quick: bool, runs: int) -> dict[str, Any]:
    plan = scenario.quick if quick else scenario.plan
    length = (
        f", {plan.sim_minutes:g} simulated minutes ({plan.sim_seconds * plan.time_scale:.0f}"
        " s real)"
        if plan.sim_minutes and not plan.burst_calls
        else ""
    )
    print(f"\n({scenario.key}) {scenario.title}{length}", flush=True)
    reports = []
    loads = []
    for n in range(runs):
        loads.append(load_average())
        print(f"  run {n + 1}/{runs}: {loads[-1]}", flush=True)
        started = time.perf_counter()
        report = uvloop.run(run_plan(replace(plan, seed=plan.seed + n)))
        print(f"  run {n + 1}/{runs} took {time.perf_counter() - started:.0f} s", flush=True)
        if scenario.show_report:
            print("    " + format_report(report).replace("\n", "\n    "), flush=True)
        reports.append(report)
    rows = summarise(scenario, reports)
    print(f"  {'figure':<58} {'min / median / max':>24}", flush=True)
    print_rows(rows)
    return {
        "scenario": scenario.key,
        "title": scenario.title,
        "quick": quick,
        "plan": {k: v for k, v in dataclasses.asdict(plan).items() if k != "profile"},
        "load_average_before_runs": loads,
        "figures": rows,
        "reports": [r.data for r in reports],
    }


def run_asterisk_ring(quick: bool, runs: int) -> None:
    """(f): ``loadtest.bench_asterisk_ring``, as its own process each run (it starts a real
    Asterisk, or says what to install and stops)."""
    print(
        "\n(f) a real Asterisk 22, agent hangs up -> next DialBegin, acd beside app_queue "
        "(no target: the comparison)",
        flush=True,
    )
    command = [sys.executable, "-m", "loadtest.bench_asterisk_ring"]
    if quick:
        command += ["--seconds", "10"]
    for n in range(runs):
        print(f"  run {n + 1}/{runs}: {load_average()}", flush=True)
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        print("    " + (done.stdout + done.stderr).strip().replace("\n", "\n    "), flush=True)
        if "agent hangs up" not in done.stdout:
            break  # it measured nothing (no Asterisk that runs here): once says so


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shorter runs, one of each unless --runs says otherwise",
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per scenario (3)")
    parser.add_argument("--only", default="", help="scenarios to run, e.g. 'a,e'")
    parser.add_argument("--json", type=Path, default=Path(".cache/bench-report.json"))
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    wanted = {k.strip() for k in args.only.split(",") if k.strip()}
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"make bench{' (quick)' if args.quick else ''}: {when}, {runs} run(s) per "
        f"scenario, {load_average()}; verdicts are the median's",
        flush=True,
    )
    results = [
        run_scenario(s, args.quick, runs) for s in SCENARIOS if not wanted or s.key in wanted
    ]
    if not wanted or "f" in wanted:
        run_asterisk_ring(args.quick, runs)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    misses = [
        f"({r['scenario']}) {row['figure']}"
        for r in results
        for row in r["figures"]
        if row["verdict"] == "MISS"
    ]
    print(
        f"\n{len(misses)} target(s) missed" + (": " + "; ".join(misses) if misses else ""),
        flush=True,
    )
    print(f"figures of every run written to {args.json}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
