"""A load run's report: figures computed from what the generator saw, a table, and JSON.

Definitions (simulated seconds unless said otherwise):
- offered: callers placed; each ends as exactly one of answered (an agent's phone was
  bridged to it, whether or not it has hung up since), abandoned (hung up unanswered),
  fallback (the dialplan's maximum wait sent it on), dropped, or waiting (still unanswered
  when the report was taken).
- service level: answered within the threshold, of all offered.
- ASA: mean time from arrival to answer, answered calls. FRT (first response time): mean
  time from arrival to acd's first offer (the Redirect that rings an agent), offered calls.
- occupancy: of the agents whose first queue it is, time on calls (answer to hang-up, plus
  wrap-up) over time logged in, both within the traffic window.
- a routed call: a call acd offered to an agent at least once.
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loadtest.centre import ERLANG_QUEUE, Centre, Plan
from loadtest.decisions import ACTED_ON, Decision, DecisionClock, Trigger
from loadtest.erlang import predict_erlang_a, predict_erlang_c

if TYPE_CHECKING:
    from loadtest.generate import CallRecord, Window

# Decisions that a frame on the wire made possible (the latency targets' definition).
FRAME_TRIGGERS = (Trigger.ARRIVAL, Trigger.REOFFER, Trigger.AGENT_FREE)


@dataclass(frozen=True)
class Report:
    """The figures of one run, as JSON-ready data."""

    data: dict[str, Any]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank of ``values`` (sorted or not); nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def latency_summary(decisions: Sequence[Decision]) -> dict[str, float]:
    ms = [d.latency * 1000 for d in decisions]
    return {
        "count": len(ms),
        "p50_ms": percentile(ms, 0.5),
        "p90_ms": percentile(ms, 0.9),
        "p99_ms": percentile(ms, 0.99),
        "p999_ms": percentile(ms, 0.999),
        "max_ms": max(ms) if ms else math.nan,
    }


def build_report(
    *,
    plan: Plan,
    centre: Centre,
    calls: Sequence[CallRecord],
    tap: DecisionClock,
    begin: Window,
    end: Window,
    traffic_end: float,
    logged_in: Mapping[str, list[list[float]]],
    idle: Mapping[str, float],
    memory_per_waiting: float | None,
    rss: tuple[int, int],
    api_results: Counter[str],
    lag: Sequence[float],
    notes: list[str],
    excluded: set[str],
    ingest: Mapping[str, float] | None = None,
    parked_waiting: int = -1,
) -> Report:
    decisions = [
        d for d in tap.decisions[begin.decisions : end.decisions] if d.agent not in excluded
    ]
    routed = {d.call for d in decisions}
    real = end.perf - begin.perf
    events = end.events - begin.events
    acted = sum(n for name, n in tap.events.items() if name in ACTED_ON)
    ignored = sum(n for name, n in tap.events.items() if name not in ACTED_ON)
    commands = end.redis.commands - begin.redis.commands
    per_command = {
        name: (n - begin.redis.by_command.get(name, 0)) / max(1, len(routed))
        for name, n in end.redis.by_command.items()
        if name != "info"
    }
    top = dict(sorted(per_command.items(), key=lambda kv: -kv[1])[:8])
    cpu = end.cpu - begin.cpu
    redis: dict[str, Any] = {
        "commands": commands,
        "commands_per_routed_call": commands / max(1, len(routed)),
        "top_commands_per_routed_call": top,
        "memory_per_waiting_call_bytes": memory_per_waiting,
        "waiting_calls_parked": plan.park,
        "parked_calls_acd_counts_waiting": parked_waiting,
        "idle": dict(idle),
    }
    if end.round_trips >= 0:
        trips = end.round_trips - begin.round_trips
        background = idle.get("round_trips_per_second", 0.0) * real
        redis.update(
            {
                "round_trips": trips,
                "round_trips_per_routed_call": trips / max(1, len(routed)),
                "background_round_trips_per_routed_call": background / max(1, len(routed)),
                "round_trips_include": "everything acd sent Redis from the first arrival until "
                "the last caller was answered or gone: arrivals, decisions "
                "and claims, ringing, answers, endings, abandons, no-answers, "
                "API log-ins and pauses, ticks and gauge refreshes",
            }
        )
    by_trigger = {
        t.value: latency_summary([d for d in decisions if d.trigger is t]) for t in Trigger
    }
    data: dict[str, Any] = {
        "plan": {k: v for k, v in dataclasses.asdict(plan).items() if k != "profile"},
        "machine": {"cores": os.cpu_count(), "load_average_after": os.getloadavg()},
        "window": {
            "real_seconds": real,
            "simulated_seconds": end.sim - begin.sim,
            "traffic_simulated_seconds": traffic_end - begin.sim,
        },
        "queues": _queues(plan, centre, calls, tap, begin.sim, traffic_end, logged_in),
        "decisions": {
            "on_a_frame": latency_summary([d for d in decisions if d.trigger in FRAME_TRIGGERS]),
            "all": latency_summary(decisions),
            "by_trigger": by_trigger,
            "clamped_negative": tap.negative,
        },
        "routed_calls": len(routed),
        "ami": {
            "events_to_acd": events,
            "events_per_second": events / real,
            "acted_on_share": acted / max(1, acted + ignored),
            "by_event": dict(tap.events.most_common()),
            "actions_by_name": dict(tap.actions.most_common()),
        },
        "acd_process": {
            "cpu_seconds": cpu,
            "cpu_percent_of_one_core": 100 * cpu / real,
            "cpu_ms_per_routed_call": 1000 * cpu / max(1, len(routed)),
            "rss_bytes": rss[0],
            "peak_rss_bytes": rss[1],
        },
        "redis": redis,
        "ingest": dict(ingest) if ingest is not None else None,
        "erlang": _erlang(plan, centre, calls, begin.sim, traffic_end),
        "generator": {
            "loop_lag_p99_ms": percentile(lag, 0.99) * 1000,
            "loop_lag_max_ms": max(lag, default=0.0) * 1000,
        },
        "api": dict(api_results),
        "notes": notes,
    }
    return Report(data)


def _outcomes(calls: Sequence[CallRecord]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for call in calls:
        if call.answered is not None:
            counts["answered"] += 1
        elif call.outcome is None:
            counts["waiting"] += 1
        elif call.outcome in ("abandoned", "fallback", "dropped"):
            counts[call.outcome] += 1
        else:
            counts["other"] += 1
    return counts


def queue_figures(
    plan: Plan, calls: Sequence[CallRecord], first_offer: Mapping[str, float]
) -> dict[str, Any]:
    outcomes = _outcomes(calls)
    waits = [c.answered - c.arrived for c in calls if c.answered is not None]
    offers = [first_offer[c.channel] - c.arrived for c in calls if c.channel in first_offer]
    within = sum(w <= plan.service_level_seconds for w in waits)
    return {
        "offered": len(calls),
        "answered": outcomes["answered"],
        "abandoned": outcomes["abandoned"],
        "fallback": outcomes["fallback"],
        "dropped": outcomes["dropped"],
        "waiting": outcomes["waiting"],
        "other": outcomes["other"],
        "service_level": within / len(calls) if calls else math.nan,
        "asa_seconds": statistics.fmean(waits) if waits else math.nan,
        "frt_seconds": statistics.fmean(offers) if offers else math.nan,
    }


def _queues(
    plan: Plan,
    centre: Centre,
    calls: Sequence[CallRecord],
    tap: DecisionClock,
    start: float,
    stop: float,
    logged_in: Mapping[str, list[list[float]]],
) -> dict[str, Any]:
    by_queue: dict[str, list[CallRecord]] = {}
    for call in calls:
        by_queue.setdefault(call.queue, []).append(call)
    primary: dict[str, list[str]] = {}
    for agent in [*centre.agents, *centre.erlang_agents]:
        primary.setdefault(agent.primary, []).append(agent.id)
    result: dict[str, Any] = {}
    names = [q.name for q in centre.queues] + ([ERLANG_QUEUE] if centre.erlang_agents else [])
    for name in names:
        figures = queue_figures(plan, by_queue.get(name, []), tap.first_offer)
        figures["occupancy"] = _occupancy(primary.get(name, []), tap, logged_in, start, stop)
        result[name] = figures
    everyone = [a for ids in primary.values() for a in ids]
    total = queue_figures(plan, calls, tap.first_offer)
    total["occupancy"] = _occupancy(everyone, tap, logged_in, start, stop)
    result["all"] = total
    return result


def _overlap(spans: Sequence[Sequence[float]], start: float, stop: float) -> float:
    return sum(max(0.0, min(b, stop) - max(a, start)) for a, b in spans)


def _occupancy(
    agents: Sequence[str],
    tap: DecisionClock,
    logged_in: Mapping[str, list[list[float]]],
    start: float,
    stop: float,
) -> float:
    staffed = sum(_overlap(logged_in.get(a, []), start, stop) for a in agents)
    busy = sum(_overlap(tap.agents[a].busy, start, stop) for a in agents if a in tap.agents)
    return busy / staffed if staffed else math.nan


def _erlang(
    plan: Plan, centre: Centre, calls: Sequence[CallRecord], start: float, stop: float
) -> dict[str, Any] | None:
    """Erlang C and A beside the Erlang queue's measured service level and ASA, after a
    warm-up (the run starts with idle agents and an empty line), with the error of the
    measurement from batch means (ten batches by arrival time)."""
    if not centre.erlang_agents:
        return None
    warm = start + max(0.1 * (stop - start), 2 * plan.handle_mean)
    sample = [c for c in calls if c.queue == ERLANG_QUEUE and warm <= c.arrived < stop]
    if len(sample) < 20:
        return {"note": f"only {len(sample)} calls after the warm-up: no comparison"}
    threshold, ring = plan.service_level_seconds, plan.answer_after
    rate = plan.erlang_rate()
    # An agent is taken from the ring to the end of wrap-up; the caller's wait ends at the
    # answer, so the models' wait is measured against the threshold less the ring.
    c = predict_erlang_c(rate, plan.handle_mean, plan.erlang_agents, threshold - ring)
    models = [c]
    if plan.erlang_patience:
        models.append(
            predict_erlang_a(
                rate, plan.handle_mean, plan.erlang_agents, plan.erlang_patience, threshold - ring
            )
        )
    # Consecutive blocks, not interleaved ones: neighbours in time are correlated.
    size = len(sample) // 10
    batches = [sample[i * size : (i + 1) * size] for i in range(10)]
    sls = [queue_figures(plan, b, {})["service_level"] for b in batches]
    asas = [queue_figures(plan, b, {})["asa_seconds"] for b in batches]
    asas = [a for a in asas if not math.isnan(a)]
    measured = queue_figures(plan, sample, {})
    sl_error = statistics.stdev(sls) / math.sqrt(len(sls))
    asa_error = statistics.stdev(asas) / math.sqrt(len(asas)) if len(asas) > 1 else math.nan
    rows = []
    for model in models:
        asa = model.asa + ring
        rows.append(
            {
                "model": model.model,
                "service_level": model.service_level,
                "asa_seconds": asa,
                "wait_probability": model.wait_probability,
                "abandon_probability": model.abandon_probability,
                "service_level_diverges": abs(model.service_level - measured["service_level"])
                > 2 * sl_error,
                "asa_diverges": abs(asa - measured["asa_seconds"]) > 2 * asa_error,
            }
        )
    return {
        "agents": plan.erlang_agents,
        "calls": len(sample),
        "rate_per_simulated_second": rate,
        "handle_seconds": plan.handle_mean,
        "offered_erlangs": rate * plan.handle_mean,
        "patience_seconds": plan.erlang_patience,
        "measured": {
            "service_level": measured["service_level"],
            "service_level_error": sl_error,
            "asa_seconds": measured["asa_seconds"],
            "asa_error": asa_error,
            "abandoned_share": measured["abandoned"] / len(sample),
        },
        "predicted": rows,
        "assumptions": "exponential talk times, constant wrap-up and a ring of "
        f"{ring:g} s (0.5x-1.5x) on top: handle = ring + talk + wrap-up; the "
        "error is two standard errors of ten consecutive batch means",
    }


def _f(value: float, digits: int = 1) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}f}"
    )


def format_report(report: Report) -> str:
    """The table printed at the end of a run."""
    d = report.data
    out: list[str] = []
    window = d["window"]
    out.append(
        f"window: {window['traffic_simulated_seconds'] / 60:.1f} simulated minutes "
        f"of traffic, {window['real_seconds']:.1f} real seconds to the last caller"
    )
    out.append(
        f"{'queue':<8} {'offered':>7} {'answer':>7} {'abandon':>7} {'fallbk':>6} "
        f"{'waiting':>7} {'SL':>6} {'ASA s':>7} {'FRT s':>7} {'occup':>6}"
    )
    queues = d["queues"]
    shown = sorted((q for q in queues if q != "all"), key=lambda q: -queues[q]["offered"])
    for name in [*shown[:12], "all"]:
        q = queues[name]
        out.append(
            f"{name:<8} {q['offered']:>7} {q['answered']:>7} {q['abandoned']:>7} "
            f"{q['fallback']:>6} {q['waiting']:>7} {_f(100 * q['service_level']):>5}% "
            f"{_f(q['asa_seconds']):>7} {_f(q['frt_seconds']):>7} "
            f"{_f(100 * q['occupancy']):>5}%"
        )
    if len(shown) > 12:
        out.append(f"({len(shown) - 12} smaller queues in the JSON)")
    out.append("")
    out.append("decision latency, ms (frame written to acd -> its Redirect read back):")
    out.append(
        f"  {'made possible by':<34} {'count':>7} {'p50':>8} {'p90':>8} {'p99':>8} "
        f"{'p99.9':>8} {'max':>8}"
    )
    rows = [
        ("any frame (arrival, re-offer, hang-up)", d["decisions"]["on_a_frame"]),
        *d["decisions"]["by_trigger"].items(),
        ("all decisions", d["decisions"]["all"]),
    ]
    for label, s in rows:
        if s["count"]:
            out.append(
                f"  {label:<34} {s['count']:>7} {_f(s['p50_ms'], 2):>8} "
                f"{_f(s['p90_ms'], 2):>8} {_f(s['p99_ms'], 2):>8} "
                f"{_f(s['p999_ms'], 2):>8} {_f(s['max_ms'], 2):>8}"
            )
    ami, proc, redis = d["ami"], d["acd_process"], d["redis"]
    out.append("")
    out.append(
        f"AMI events written to acd: {ami['events_to_acd']} "
        f"({ami['events_per_second']:.0f}/s, {100 * ami['acted_on_share']:.0f} % of a "
        f"kind acd acts on); actions from acd: "
        + ", ".join(f"{k} {v}" for k, v in ami["actions_by_name"].items())
    )
    out.append(
        f"acd process: {proc['cpu_seconds']:.1f} s CPU "
        f"({proc['cpu_percent_of_one_core']:.0f} % of one core, "
        f"{proc['cpu_ms_per_routed_call']:.1f} ms per routed call), "
        f"peak RSS {proc['peak_rss_bytes'] / 2**20:.0f} MiB"
    )
    line = (
        f"Redis: {redis['commands_per_routed_call']:.1f} commands per routed call "
        f"({d['routed_calls']} routed calls)"
    )
    if "round_trips_per_routed_call" in redis:
        line += (
            f"; {redis['round_trips_per_routed_call']:.1f} round trips per routed call, "
            f"of which background (ticks, gauges: "
            f"{redis['idle'].get('round_trips_per_second', 0):.0f}/s when idle) "
            f"{redis['background_round_trips_per_routed_call']:.1f}"
        )
    out.append(line)
    out.append(
        "  most used per routed call: "
        + ", ".join(f"{k} {v:.1f}" for k, v in redis["top_commands_per_routed_call"].items())
    )
    if redis["memory_per_waiting_call_bytes"] is not None:
        out.append(
            f"Redis memory per waiting call: {redis['memory_per_waiting_call_bytes']:.0f}"
            f" bytes ({redis['waiting_calls_parked']} calls parked)"
        )
    if d["ingest"]:
        ingest = d["ingest"]
        out.append(
            f"AMI ingest ({ingest['events']:.0f} events written at once, until acd "
            f"acts on a call behind them): {ingest['acted_on_per_second']:.0f}/s of "
            f"kinds acd acts on, {ingest['ignored_per_second']:.0f}/s of kinds it drops"
        )
    erlang = d["erlang"]
    if erlang and "measured" in erlang:
        m = erlang["measured"]
        out.append("")
        out.append(
            f"Erlang check, queue '{ERLANG_QUEUE}': {erlang['agents']} agents, "
            f"{erlang['offered_erlangs']:.1f} Erlangs, {erlang['calls']} calls after "
            f"warm-up: measured SL {100 * m['service_level']:.1f} % "
            f"± {200 * m['service_level_error']:.1f}, ASA {m['asa_seconds']:.1f} s "
            f"± {2 * m['asa_error']:.1f}"
        )
        for row in erlang["predicted"]:
            flags = [
                what
                for what, key in (("SL", "service_level_diverges"), ("ASA", "asa_diverges"))
                if row[key]
            ]
            verdict = (
                ("diverges beyond the error: " + ", ".join(flags)) if flags else "within the error"
            )
            out.append(
                f"  {row['model']}: SL {100 * row['service_level']:.1f} %, "
                f"ASA {row['asa_seconds']:.1f} s, abandon "
                f"{100 * row['abandon_probability']:.1f} % -- {verdict}"
            )
    elif erlang:
        out.append(f"Erlang check: {erlang['note']}")
    gen = d["generator"]
    out.append(
        f"generator loop lag: p99 {gen['loop_lag_p99_ms']:.1f} ms, "
        f"max {gen['loop_lag_max_ms']:.1f} ms (the floor under the latencies above)"
    )
    for note in d["notes"]:
        out.append(f"note: {note}")
    return "\n".join(out)
