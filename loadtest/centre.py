"""The simulated contact centre of a load run: its plan, queues, agents and acd's settings.

Times in a :class:`Plan` are simulated seconds (the simulator's clock, which runs
``1 / time_scale`` times faster than real time) except ``peak_rate``, which is what acd sees:
calls per real second at the busiest hour of the profile.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

# All six of acd's strategies, in turn over the queues.
STRATEGIES = (
    "longest-idle",
    "fewest-calls",
    "least-talk-time",
    "round-robin",
    "best-skill",
    "random",
)
LANGUAGES = ("en", "ru", "de", "fr", "es", "ar", "nl", "tr", "it", "pl", "uk", "zh")
# Calls per hour of a weekday in a consumer contact centre, relative to the busiest hour:
# a morning peak, a dip at lunch, a second smaller peak.
WEEKDAY = (
    0.02,
    0.01,
    0.01,
    0.01,
    0.02,
    0.05,
    0.15,
    0.45,
    0.85,
    1.0,
    0.95,
    0.85,
    0.7,
    0.8,
    0.85,
    0.75,
    0.65,
    0.5,
    0.35,
    0.25,
    0.15,
    0.1,
    0.05,
    0.03,
)
ERLANG_QUEUE = "erlang"
PARK_QUEUE = "park"  # no agent serves it: calls parked there measure memory per waiting call
PARK_MAX_WAIT = 10_000_000  # seconds, acd's and the dialplan's: nobody parked times out
MARKER_QUEUE = "marker"  # one agent of its own: a call there shows acd has read all before it
MARKER_AGENT = "69999"


@dataclass(frozen=True)
class Plan:
    """What a load run simulates."""

    seed: int = 1
    agents: int = 200
    queues: int = 20
    skills: int = 30  # languages and products together
    peak_rate: float = 10.0  # calls per real second at the profile's busiest hour
    time_scale: float = 0.05  # real seconds per simulated second
    sim_minutes: float = 60.0  # length of the simulated day's window
    start_hour: float = 9.0  # where in the profile the window starts
    profile: tuple[float, ...] = WEEKDAY
    handle: str = "lognormal"  # talk time distribution: lognormal or exponential
    talk_mean: float = 180.0
    talk_sigma: float = 0.6  # log-normal shape
    wrap_up: float = 10.0
    answer_after: float = 3.0  # the phone rings this long (0.5x-1.5x) before an answer
    ring_timeout: int = 15
    patience_mean: float | None = 120.0  # exponential; None: nobody hangs up while waiting
    service_level_seconds: float = 20.0
    no_answer: float = 0.02  # chance an agent lets an offered call ring out
    resume_after: float = 30.0  # an agent paused by a no-answer makes itself ready again
    breaks_per_hour: float = 0.3  # per agent (breaks through the API)
    break_mean: float = 300.0
    shift_change: float = 0.05  # of the agents: some log in late, as many log out early
    priority_share: float = 0.05  # calls with a priority of their own (5)
    skilled_share: float = 0.3  # calls that also need their queue's product skill
    erlang_agents: int = 0  # a single-skill queue of dedicated agents, checked by Erlang C
    erlang_occupancy: float = 0.85
    erlang_patience: float | None = 600.0
    park: int = 100  # calls parked at the end to measure Redis memory per waiting call
    redis_proxy: bool = True  # count round trips (the proxy adds its own latency)
    idle_seconds: float = 2.0  # real seconds of no traffic, for acd's background Redis use
    tick_seconds: float | None = None  # acd's housekeeping tick; None: acd's default
    burst_calls: int = 0  # instead of the day: this many callers within burst_seconds (real)
    burst_seconds: float = 1.0
    ingest_events: int = 0  # before the day: floods of this many AMI events of each kind
    drain_seconds: float = 60.0  # real seconds to wait for the last callers after the traffic

    @property
    def sim_seconds(self) -> float:
        return self.sim_minutes * 60

    @property
    def handle_mean(self) -> float:
        """Simulated seconds an agent is taken by one call: ringing, talk and wrap-up."""
        return self.answer_after + self.talk_mean + self.wrap_up

    def rate_at(self, sim_elapsed: float) -> float:
        """Calls per real second at ``sim_elapsed`` simulated seconds into the window."""
        hour = int(self.start_hour + sim_elapsed / 3600) % len(self.profile)
        return self.peak_rate * self.profile[hour] / max(self.profile)

    def erlang_rate(self) -> float:
        """Calls per simulated second of the Erlang queue, for its target occupancy."""
        return self.erlang_occupancy * self.erlang_agents / self.handle_mean


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    strategy: str
    language: str
    product: str
    weight: float  # share of the arrivals


@dataclass(frozen=True, slots=True)
class AgentSpec:
    id: str
    queues: dict[str, int]  # queue -> rank
    skills: dict[str, int]
    primary: str
    shift: str  # "all", "late" (logs in at 30 %), "early" (logs out at 70 %)


@dataclass(frozen=True)
class Centre:
    """Queues and agents built from a plan (deterministic for its seed)."""

    queues: list[QueueSpec]
    agents: list[AgentSpec]
    erlang_agents: list[AgentSpec]


def build_centre(plan: Plan) -> Centre:
    rng = random.Random(plan.seed)
    languages = [
        f"lang:{code}" for code in LANGUAGES[: max(1, min(len(LANGUAGES), plan.skills // 4))]
    ]
    products = [f"skill{n:02d}" for n in range(max(1, plan.skills - len(languages)))]
    # Zipf-like sizes: a few big queues, a long tail of small ones.
    weights = [1 / (n + 1) for n in range(plan.queues)]
    total = sum(weights)
    queues = [
        QueueSpec(
            f"q{n:03d}",
            STRATEGIES[n % len(STRATEGIES)],
            languages[n % len(languages)],
            products[n % len(products)],
            weights[n] / total,
        )
        for n in range(plan.queues)
    ]
    agents = []
    for n in range(plan.agents):
        # Every queue gets an agent first, then staff follows the traffic.
        primary = queues[n] if n < len(queues) else rng.choices(queues, weights)[0]
        others = rng.sample(queues, min(len(queues) - 1, rng.randint(0, 3)))
        memberships = [primary, *(q for q in others if q is not primary)]
        skills: dict[str, int] = {}
        for queue in memberships:
            skills[queue.language] = max(skills.get(queue.language, 0), rng.randint(3, 10))
            skills[queue.product] = max(skills.get(queue.product, 0), rng.randint(1, 10))
        for product in rng.sample(products, min(len(products), rng.randint(0, 2))):
            skills.setdefault(product, rng.randint(1, 10))
        draw = rng.random()
        shift = (
            "late"
            if draw < plan.shift_change
            else "early"
            if draw < 2 * plan.shift_change
            else "all"
        )
        agents.append(
            AgentSpec(
                f"{70000 + n}",
                {q.name: rank for rank, q in enumerate(memberships, 1)},
                skills,
                primary.name,
                shift,
            )
        )
    erlang = [
        AgentSpec(f"{60000 + n}", {ERLANG_QUEUE: 1}, {"erlang": 5}, ERLANG_QUEUE, "all")
        for n in range(plan.erlang_agents)
    ]
    return Centre(queues, agents, erlang)


def sample_talk(plan: Plan, rng: random.Random, *, exponential: bool = False) -> float:
    """One call's talk time, simulated seconds."""
    if exponential or plan.handle == "exponential":
        return rng.expovariate(1 / plan.talk_mean)
    # A log-normal with the plan's mean: mu = ln(mean) - sigma^2 / 2.
    mu = math.log(plan.talk_mean) - plan.talk_sigma**2 / 2
    return rng.lognormvariate(mu, plan.talk_sigma)


def settings_toml(plan: Plan, centre: Centre) -> str:
    """acd's settings file for the run (without the connection settings, which the
    environment gives, as in production)."""
    lines: list[str] = []
    if plan.tick_seconds is not None:
        lines += ["[routing]", f"tick_seconds = {plan.tick_seconds}", ""]
    # acd's wrap-up runs on acd's clock, which is real time: scaled like the simulator's.
    wrap_real = plan.wrap_up * plan.time_scale
    names = [(q.name, q.strategy, {q.language: 1}) for q in centre.queues]
    if centre.erlang_agents:
        names.append((ERLANG_QUEUE, "longest-idle", {"erlang": 1}))
    for name, strategy, skills in names:
        lines += _queue_lines(plan, name, strategy, skills, wrap_real)
    # No wrap-up where the generator waits on one agent, call after call.
    lines += [
        *_queue_lines(plan, PARK_QUEUE, "longest-idle", {}, 0.0)[:-1],
        f"max_wait_seconds = {PARK_MAX_WAIT}",
        "",
    ]
    lines += _queue_lines(plan, MARKER_QUEUE, "longest-idle", {}, 0.0)
    for agent in [*centre.agents, *centre.erlang_agents]:
        lines += _agent_lines(agent.id, agent.queues, agent.skills)
    lines += _agent_lines(MARKER_AGENT, {MARKER_QUEUE: 1}, {})
    return "\n".join(lines)


def _queue_lines(
    plan: Plan, name: str, strategy: str, skills: dict[str, int], wrap_real: float
) -> list[str]:
    return [
        "[[queues]]",
        f"name = {_s(name)}",
        f"strategy = {_s(strategy)}",
        f"skills = {_table(skills)}",
        f"wrap_up_seconds = {wrap_real:.6f}",
        f"ring_timeout_seconds = {plan.ring_timeout}",
        f"service_level_seconds = {max(1.0, plan.service_level_seconds)}",
        "",
    ]


def _agent_lines(agent_id: str, queues: dict[str, int], skills: dict[str, int]) -> list[str]:
    return [
        "[[agents]]",
        f"id = {_s(agent_id)}",
        f"dial = {_s('PJSIP/' + agent_id)}",
        f"queues = {_table(queues)}",
        f"skills = {_table(skills)}",
        "",
    ]


def _s(text: str) -> str:
    return json.dumps(text)  # a TOML basic string for the ASCII names used here


def _table(values: dict[str, int]) -> str:
    return "{ " + ", ".join(f"{_s(k)} = {v}" for k, v in values.items()) + " }"
