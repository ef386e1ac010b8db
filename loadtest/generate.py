"""The load generator: a contact-centre day in compressed time against ``acd serve``.

Starts a private redis-server (behind a round-trip counting proxy), the project's Asterisk
simulator with ``asterisk/manager.conf``'s event filters for the acd user, and acd as its own
process (``acd serve`` with a settings file written for the run). Callers arrive per queue as
a Poisson process following an hourly profile, with skills, languages, priorities, talk times
and patience; agents log in and out, take breaks and miss calls through acd's HTTP API. It
prints a progress line while it runs, a table at the end, and writes the report as JSON.

Run: ``python -m loadtest.generate --help`` (``acd-load`` is the same).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import uvloop
from redis.asyncio import Redis

from acd.sim import SimCall, Simulator
from acd.sim.traffic import CALLER_NAMES, random_number
from loadtest.centre import (
    ERLANG_QUEUE,
    MARKER_AGENT,
    MARKER_QUEUE,
    PARK_MAX_WAIT,
    PARK_QUEUE,
    AgentSpec,
    Centre,
    Plan,
    build_centre,
    sample_talk,
    settings_toml,
)
from loadtest.decisions import DecisionClock
from loadtest.ingest import acted_on_frames, ignored_frames
from loadtest.processes import AMI_SECRET, AcdServe, RedisFigures, RedisProcess, redis_figures
from loadtest.redis_proxy import CountingProxy
from loadtest.report import Report, build_report, format_report

MANAGER_CONF = Path(__file__).resolve().parents[1] / "asterisk" / "manager.conf"
NEVER = 1e9  # simulated seconds: the agents' phones never end a call, the caller does


@dataclass
class CallRecord:
    """One caller of the run, in simulated seconds."""

    channel: str
    queue: str
    arrived: float
    talk: float
    answered: float | None = None
    ended: float | None = None
    outcome: str | None = None  # completed, abandoned, fallback, dropped; None: not yet


@dataclass
class Window:
    """Figures read when the traffic starts and when the run's calls are over."""

    perf: float
    sim: float
    cpu: float
    redis: RedisFigures
    round_trips: int
    events: int
    decisions: int


class LoadRun:
    """One run of a plan; :meth:`run` returns its report."""

    def __init__(
        self, plan: Plan, directory: Path, progress: Callable[[str], None] | None = None
    ) -> None:
        self.plan, self.directory, self.progress = plan, directory, progress
        self.centre: Centre = build_centre(plan)
        self.rng = random.Random(plan.seed)
        self.calls: list[CallRecord] = []
        self.api_results: Counter[str] = Counter()
        self.logged_in: dict[str, list[list[float]]] = {}  # agent -> [[in, out], ...]
        self.lag: list[float] = []
        self.notes: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._followers: list[asyncio.Task[None]] = []
        self._timers: list[asyncio.TimerHandle] = []
        self.parked_waiting = -1  # parked calls acd counts as waiting
        self._always_answer = {a.id for a in self.centre.erlang_agents} | {MARKER_AGENT}

    # --- the run ---------------------------------------------------------------------------------
    async def run(self) -> Report:
        plan = self.plan
        redis_process = RedisProcess(self.directory)
        await redis_process.start()
        proxy = CountingProxy("127.0.0.1", redis_process.port) if plan.redis_proxy else None
        sim = Simulator(
            username="acd",
            secret=AMI_SECRET,
            time_scale=plan.time_scale,
            seed=plan.seed,
            manager_conf=MANAGER_CONF,
        )
        redis = Redis.from_url(redis_process.url, decode_responses=True)
        acd: AcdServe | None = None
        try:
            url = redis_process.url
            if proxy is not None:
                await proxy.start()
                url = f"redis://127.0.0.1:{proxy.port}/0"
            await sim.start("127.0.0.1", 0)
            self.sim = sim
            self._add_phones(sim)
            self.tap = DecisionClock(
                sim.clock,
                agents=self._timed_agents(),
                wrap_up=plan.wrap_up,
                no_answer_pause=True,
                on_offer=self._offered,
                on_missed=self._missed,
            )
            sim.taps.append(self.tap)
            acd = AcdServe(
                self.directory,
                ami_port=sim.port,
                redis_url=url,
                settings=settings_toml(plan, self.centre),
            )
            started = time.perf_counter()
            await acd.start()
            self.acd = acd
            self.notes.append(f"acd serve up in {time.perf_counter() - started:.1f} s")
            return await self._drive(acd, redis, proxy)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if acd is not None:
                await acd.stop()
            await sim.stop()
            if proxy is not None:
                await proxy.stop()
            await redis.aclose()
            await redis_process.stop()

    async def _drive(self, acd: AcdServe, redis: Redis, proxy: CountingProxy | None) -> Report:
        plan = self.plan
        lag = self._spawn(self._watch_loop_lag())
        started = time.perf_counter()
        await self._log_in([a for a in self._all_agents() if a.shift != "late"])
        await self._log_in_marker()
        self.notes.append(
            f"{len(self.logged_in)} agents logged in through the API in "
            f"{time.perf_counter() - started:.1f} s"
        )
        idle = await self._idle_background(redis, proxy)
        ingest = await self._ingest() if plan.ingest_events else None
        begin = await self._window(acd, redis, proxy)
        self._schedule_agents()
        await self._arrivals(begin)
        traffic_end = self.sim.clock.now()
        await self._drain()
        end = await self._window(acd, redis, proxy)
        rss, peak = acd.memory()
        lag.cancel()
        for timer in self._timers:  # no more breaks or log-ins: the day is over
            timer.cancel()
        for task in list(self._tasks):
            if task is not lag:
                task.cancel()
        self._close_logins(traffic_end)
        snapshot = [dataclasses.replace(c) for c in self.calls]
        per_waiting = await self._park(redis) if plan.park else None
        return build_report(
            plan=plan,
            centre=self.centre,
            calls=snapshot,
            tap=self.tap,
            begin=begin,
            end=end,
            traffic_end=traffic_end,
            logged_in=self.logged_in,
            idle=idle,
            memory_per_waiting=per_waiting,
            rss=(rss, peak),
            api_results=self.api_results,
            lag=self.lag,
            notes=self.notes,
            excluded={MARKER_AGENT},
            ingest=ingest,
            parked_waiting=self.parked_waiting,
        )

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _window(self, acd: AcdServe, redis: Redis, proxy: CountingProxy | None) -> Window:
        return Window(
            time.perf_counter(),
            self.sim.clock.now(),
            acd.cpu_seconds(),
            await redis_figures(redis),
            proxy.counts.round_trips if proxy is not None else -1,
            sum(self.tap.events.values()),
            len(self.tap.decisions),
        )

    async def _idle_background(self, redis: Redis, proxy: CountingProxy | None) -> dict[str, float]:
        """acd's own use of Redis with no traffic at all (its ticks and gauges), per second."""
        if self.plan.idle_seconds <= 0:
            return {}
        before = await redis_figures(redis)
        trips = proxy.counts.round_trips if proxy is not None else 0
        started = time.perf_counter()
        await asyncio.sleep(self.plan.idle_seconds)  # the quiet itself is what is measured
        elapsed = time.perf_counter() - started
        after = await redis_figures(redis)
        figures = {
            "seconds": elapsed,
            "commands_per_second": (after.commands - before.commands) / elapsed,
        }
        if proxy is not None:
            figures["round_trips_per_second"] = (proxy.counts.round_trips - trips) / elapsed
        return figures

    # --- people ----------------------------------------------------------------------------------
    def _all_agents(self) -> list[AgentSpec]:
        return [*self.centre.agents, *self.centre.erlang_agents]

    def _timed_agents(self) -> set[str]:
        return {a.id for a in self._all_agents()}

    def _add_phones(self, sim: Simulator) -> None:
        phone_rng = random.Random(self.plan.seed + 1)
        for agent in self._all_agents():
            sim.add_phone(
                agent.id, answer_after=self.plan.answer_after, talk_for=NEVER, rng=phone_rng
            )
        sim.add_phone(MARKER_AGENT, answer_after=0.1, talk_for=NEVER)

    def _offered(self, agent_id: str) -> None:
        """acd sends a call to ``agent_id``: will this one let it ring out?"""
        self.sim.phone(agent_id).answers = (
            agent_id in self._always_answer or self.rng.random() >= self.plan.no_answer
        )

    def _missed(self, agent_id: str) -> None:
        """acd paused the agent for not answering; the agent makes itself ready later."""
        self._later(self.plan.resume_after, lambda: self._set_state(agent_id, "ready"))

    def _later(self, sim_seconds: float, action: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        loop = asyncio.get_running_loop()
        self._timers.append(
            loop.call_later(self.sim.clock.real(sim_seconds), lambda: self._spawn(action()))
        )

    async def _set_state(self, agent_id: str, state: str, reason: str = "") -> int:
        body: dict[str, str] = {"state": state}
        if reason:
            body["reason"] = reason
        if state == "ready":
            self.tap.agent_ready(agent_id, time.perf_counter())
        status, _ = await self.acd.api("POST", f"/agents/{agent_id}/state", body)
        self.api_results[f"{state} {reason}".strip() + f" -> {status}"] += 1
        now = self.sim.clock.now()
        spans = self.logged_in.setdefault(agent_id, [])
        if status == 200 and state == "ready" and (not spans or spans[-1][1] >= 0):
            spans.append([now, -1.0])
        elif status == 200 and state == "logged_out" and spans and spans[-1][1] < 0:
            spans[-1][1] = now
        return status

    async def _log_in(self, agents: list[AgentSpec]) -> None:
        gate = asyncio.Semaphore(16)

        async def one(agent_id: str) -> None:
            async with gate:
                await self._set_state(agent_id, "ready")

        await asyncio.gather(*(one(a.id) for a in agents))

    async def _log_in_marker(self) -> None:
        status, _ = await self.acd.api("POST", f"/agents/{MARKER_AGENT}/state", {"state": "ready"})
        if status != 200:
            raise RuntimeError(f"acd refused to log the marker agent in: {status}")

    def _schedule_agents(self) -> None:
        """Shift changes and breaks, at simulated times within the window."""
        plan, rng = self.plan, random.Random(self.plan.seed + 2)
        window = plan.sim_seconds
        for agent in self.centre.agents:
            if agent.shift == "late":
                self._later(0.3 * window, partial(self._set_state, agent.id, "ready"))
            elif agent.shift == "early":
                self._later(0.7 * window, partial(self._set_state, agent.id, "logged_out"))
            at = rng.expovariate(plan.breaks_per_hour / 3600) if plan.breaks_per_hour else NEVER
            if at < window:
                length = rng.expovariate(1 / plan.break_mean)
                self._later(at, partial(self._take_break, agent.id, length))

    async def _take_break(self, agent_id: str, length: float) -> None:
        state = self.tap.agents[agent_id]
        if state.offered or state.talking_since is not None:
            self.api_results["break skipped: on a call"] += 1
            return
        if await self._set_state(agent_id, "paused", "break") == 200:
            self._later(length, lambda: self._set_state(agent_id, "ready"))

    def _close_logins(self, at: float) -> None:
        for spans in self.logged_in.values():
            if spans and spans[-1][1] < 0:
                spans[-1][1] = at

    # --- callers ---------------------------------------------------------------------------------
    async def _arrivals(self, begin: Window) -> None:
        """Callers for the window's length of simulated time, on an absolute schedule (no
        drift), by thinning a Poisson process at the peak rate down to the profile's."""
        plan = self.plan
        rng = random.Random(plan.seed + 3)
        queues = self.centre.queues
        weights = [q.weight for q in queues]
        if plan.burst_calls:
            await self._burst(begin, rng)
            return
        erlang_rate = plan.erlang_rate() if self.centre.erlang_agents else 0.0
        peak_sim = plan.peak_rate * plan.time_scale  # calls per simulated second
        total_sim = peak_sim + erlang_rate
        elapsed = 0.0
        report_at = time.perf_counter() + 2.0
        while True:
            elapsed += rng.expovariate(total_sim)
            if elapsed >= plan.sim_seconds:
                break
            due = begin.perf + elapsed * plan.time_scale
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # the arrival process's own clock
            if rng.random() * total_sim < erlang_rate:
                await self._place(ERLANG_QUEUE, rng, erlang=True)
            elif rng.random() < plan.rate_at(elapsed) / plan.peak_rate:
                queue = rng.choices(queues, weights)[0]
                await self._place(queue.name, rng, product=queue.product)
            if self.progress is not None and time.perf_counter() >= report_at:
                report_at += 2.0
                self.progress(self._progress_line(elapsed))

    async def _burst(self, begin: Window, rng: random.Random) -> None:
        """``burst_calls`` callers at uniformly random moments of ``burst_seconds``."""
        plan, queues = self.plan, self.centre.queues
        weights = [q.weight for q in queues]
        moments = sorted(rng.uniform(0, plan.burst_seconds) for _ in range(plan.burst_calls))
        for moment in moments:
            delay = begin.perf + moment - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # the burst's own schedule
            queue = rng.choices(queues, weights)[0]
            await self._place(queue.name, rng, product=queue.product)

    async def _place(
        self, queue: str, rng: random.Random, *, erlang: bool = False, product: str = ""
    ) -> None:
        plan = self.plan
        skills = (
            {product: rng.randint(1, 3)} if product and rng.random() < plan.skilled_share else None
        )
        patience = plan.erlang_patience if erlang else plan.patience_mean
        talk = sample_talk(plan, rng, exponential=erlang)
        call = await self.sim.place_call(
            queue=queue,
            priority=5 if not erlang and rng.random() < plan.priority_share else None,
            skills=skills,
            caller_name=rng.choice(CALLER_NAMES),
            caller_number=random_number(rng),
            patience=rng.expovariate(1 / patience) if patience else None,
            talk_for=talk,
        )
        record = CallRecord(call.channel, queue, self.sim.clock.now(), talk)
        self.calls.append(record)
        self._followers.append(self._spawn(self._follow(call, record)))

    async def _follow(self, call: SimCall, record: CallRecord) -> None:
        if await call.answered() is not None:
            record.answered = self.sim.clock.now()
        record.outcome = await call.ended()
        record.ended = self.sim.clock.now()

    async def _drain(self) -> None:
        """Until every caller is answered or gone (at most ``drain_seconds`` of real time)."""
        limit = self.plan.drain_seconds
        pending = [t for t in self._followers if not t.done()]
        if pending:
            _, left = await asyncio.wait(pending, timeout=limit)
            if left:
                self.notes.append(f"{len(left)} calls still up {limit:g} s after the traffic")

    async def _park(self, redis: Redis) -> float | None:
        """Redis bytes per waiting call: ``park`` callers nobody serves, then a marker call
        that acd reads after them (one AMI connection keeps their order)."""
        count = self.plan.park
        for call in self.sim.calls:  # what is left talks or waits: end it before parking
            call.hang_up()
        await self._marker(timeout=300)  # the hang-ups are behind it
        before = (await redis_figures(redis)).used_memory
        started = time.perf_counter()
        for n in range(count):
            # The dialplan's maximum wait is on the compressed clock: parked callers must
            # outwait the parking of all of them.
            await self.sim.place_call(
                queue=PARK_QUEUE,
                caller_name="Олег Иванов",
                caller_number=random_number(self.rng),
                patience=None,
                variables={"ACD_MAXWAIT": str(PARK_MAX_WAIT)},
            )
            if n % 500 == 499:
                await asyncio.sleep(0)  # let acd's socket drain while placing many
        await self._marker(timeout=max(60.0, count / 100))
        self.notes.append(
            f"parked {count} calls; acd had read them all "
            f"{time.perf_counter() - started:.1f} s after the first"
        )
        after = (await redis_figures(redis)).used_memory
        status, body = await self.acd.api("GET", f"/queues/{PARK_QUEUE}")
        waiting = int(body.get("waiting", -1)) if status == 200 else -1
        self.parked_waiting = waiting
        if waiting != count:
            self.notes.append(f"parked {count} calls, acd counts {waiting} waiting")
        return (after - before) / count

    async def _ingest(self) -> dict[str, float]:
        """Events per second acd takes in: a flood of frames written to its socket at once,
        then a marker call; acd reads one connection in order, so its Redirect for the
        marker comes after it has handled every frame of the flood."""
        count, epoch = self.plan.ingest_events, int(self.sim.clock.now())
        devices = [f"PJSIP/{a.id}" for a in self._all_agents()]
        result: dict[str, float] = {}
        for kind, frames in (
            ("acted_on", acted_on_frames(count, devices, epoch)),
            ("ignored", ignored_frames(count, epoch)),
        ):
            await self._marker(timeout=60)  # nothing of acd's is still in flight
            started = time.perf_counter()
            self.sim.send_raw(frames)
            await self._marker(timeout=max(60.0, count / 200))
            result[f"{kind}_per_second"] = count / (time.perf_counter() - started)
        result["events"] = count
        return result

    async def _marker(self, timeout: float) -> None:
        call = await self.sim.place_call(
            queue=MARKER_QUEUE, caller_name="Marker", patience=None, talk_for=0.05
        )
        await asyncio.wait_for(self.tap.watch(call.channel), timeout)
        await call.ended(timeout)

    # --- the generator's own health --------------------------------------------------------------
    async def _watch_loop_lag(self) -> None:
        """How late a 20 ms timer fires on this process's loop: the floor under every time
        measured here (the simulator, the tap and this generator share the loop)."""
        while True:
            due = time.perf_counter() + 0.02
            await asyncio.sleep(0.02)
            self.lag.append(time.perf_counter() - due)

    def _progress_line(self, elapsed: float) -> str:
        ended = Counter(c.outcome for c in self.calls)
        answered = sum(c.answered is not None for c in self.calls)
        waiting = sum(c.answered is None and c.outcome is None for c in self.calls)
        recent = [d.latency for d in self.tap.decisions[-500:]]
        p50 = sorted(recent)[len(recent) // 2] * 1000 if recent else 0.0
        hour = self.plan.start_hour + elapsed / 3600
        return (
            f"sim {int(hour):02d}:{int(hour * 60) % 60:02d} offered {len(self.calls)} "
            f"answered {answered} abandoned {ended['abandoned']} waiting {waiting} "
            f"decisions {len(self.tap.decisions)} (last 500 p50 {p50:.1f} ms) "
            f"acd cpu {self.acd.cpu_seconds():.0f} s"
        )


async def run_plan(plan: Plan, progress: Callable[[str], None] | None = None) -> Report:
    """One load run in a private temporary directory."""
    with tempfile.TemporaryDirectory(prefix="acd-load-") as tmp:
        return await LoadRun(plan, Path(tmp), progress).run()


def plan_from_args(argv: list[str] | None = None) -> tuple[Plan, argparse.Namespace]:
    defaults = Plan()
    parser = argparse.ArgumentParser(prog="acd-load", description=__doc__.split("\n")[0])
    for item in dataclasses.fields(Plan):
        if item.name == "profile":
            continue
        default = getattr(defaults, item.name)
        flag = "--" + item.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif default is None or isinstance(default, float):
            parser.add_argument(flag, type=_optional_float, default=default)
        elif isinstance(default, int):
            parser.add_argument(flag, type=int, default=default)
        else:
            parser.add_argument(flag, default=default)
    parser.add_argument("--json", type=Path, default=Path("load-report.json"))
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    values = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(Plan) if f.name != "profile"
    }
    return Plan(**values), args


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "off", "") else float(text)


def progress_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``acd-load`` and ``python -m loadtest.generate``."""
    plan, args = plan_from_args(argv)
    print(
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores",
        flush=True,
    )
    report = uvloop.run(run_plan(plan, None if args.quiet else progress_to_stderr))
    print(format_report(report))
    args.json.write_text(
        json.dumps(report.data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"report written to {args.json}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
