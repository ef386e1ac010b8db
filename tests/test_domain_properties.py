"""Properties of routing over random workloads, driven through a small pure simulation.

The loop below stands in for the service: arrivals, overflow decisions, offers, answers,
no-answers, talk and abandon, on a fake clock in 5-second ticks. Every decision is taken by
the reference functions and by the indexes, which must agree; and the invariants a contact
centre relies on are checked at every offer and at the end.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.domain.agent_index import AgentIndex
from acd.domain.call_index import WaitingCalls
from acd.domain.model import (
    Agent,
    AgentState,
    Assignment,
    Call,
    FallbackKind,
    Outcome,
    Queue,
    Role,
    Step,
    StepKind,
    Strategy,
)
from acd.domain.outcomes import after_conversation, after_no_answer, after_timer, arrival_plan
from acd.domain.priority import call_order_key, effective_priority
from acd.domain.routing import can_take, choose_agent_for_call, choose_call_for_agent
from acd.domain.state_machine import PauseReason, transition
from acd.domain.steps import Overflow, eligibility, escalation_tier, overflow_decision
from acd.domain.strategies import is_available

T0 = 1_700_000_000.0
TICK = 5.0
SKILLS = ("lang:ru", "lang:en", "billing")
TEAMS = ("t0", "t1")
S = AgentState

BOUNDED = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Requirements mostly low and agents' levels spread, so that most calls find someone.
skill_sets = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 6), max_size=2)


@st.composite
def routing_steps(draw: st.DrawFn, queue: str, queues: list[str]) -> tuple[Step, ...]:
    steps = [Step(skills=draw(skill_sets))]
    after = 0.0
    for _ in range(draw(st.integers(0, 3))):
        after += draw(st.sampled_from([5.0, 10.0, 30.0, 60.0]))
        steps.append(
            Step(
                after=after,
                kind=draw(st.sampled_from([StepKind.SKILLS, StepKind.LEADS, StepKind.SUPERVISORS])),
                skills=draw(
                    st.dictionaries(st.sampled_from(SKILLS), st.integers(0, 10), max_size=2)
                ),
                cap=draw(st.sampled_from([0, 0, 1, 3])),
            )
        )
    if draw(st.integers(0, 2)) == 0:
        to = draw(st.sampled_from(list(FallbackKind)))
        others = [q for q in queues if q != queue] + ["nowhere"]
        target = {
            FallbackKind.QUEUE: draw(st.sampled_from(others)),
            FallbackKind.VOICEMAIL: "vm",
        }.get(to, "")
        steps.append(
            Step(
                after=after + draw(st.sampled_from([10.0, 60.0])),
                kind=StepKind.FALLBACK,
                to=to,
                target=target,
            )
        )
    return tuple(steps)


@st.composite
def queues_(draw: st.DrawFn) -> dict[str, Queue]:
    names = [f"q{n}" for n in range(draw(st.integers(1, 3)))]
    return {
        name: Queue(
            name,
            strategy=draw(st.sampled_from(list(Strategy))),
            skills=draw(skill_sets),
            steps=draw(routing_steps(name, names)),
            teams=tuple(draw(st.sets(st.sampled_from(TEAMS)))),
            aging_seconds=draw(st.sampled_from([0.0, 10.0, 60.0])),
            max_length=draw(st.sampled_from([0, 0, 2, 5])),
            max_wait_seconds=draw(st.sampled_from([600, 100])),
        )
        for name in names
    }


@st.composite
def agents_(draw: st.DrawFn, queues: list[str]) -> list[Agent]:
    agents = []
    for n in range(draw(st.integers(0, 8))):
        memberships = draw(
            st.dictionaries(st.sampled_from(queues), st.integers(1, 3), min_size=1 if n % 4 else 0)
        )
        agents.append(
            Agent(
                id=f"a{n}",
                dial=f"PJSIP/{n}",
                role=draw(st.sampled_from([Role.AGENT, Role.AGENT, Role.LEAD, Role.SUPERVISOR])),
                team=draw(st.sampled_from(("", *TEAMS))),
                skills=draw(
                    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), min_size=1)
                ),
                queues=memberships,
                state=draw(
                    st.sampled_from([S.READY, S.READY, S.READY, S.PAUSED, S.LOGGED_OUT, S.BUSY])
                ),
                idle_since=T0 - draw(st.integers(0, 5)) * 10.0,
                calls_taken=draw(st.integers(0, 3)),
                talk_seconds=draw(st.integers(0, 3)) * 60.0,
                device_busy=draw(st.booleans()) and draw(st.booleans()),
            )
        )
    return agents


@st.composite
def calls_(draw: st.DrawFn, queues: list[str], at: float = T0) -> list[Call]:
    return [
        Call(
            id=f"c{n}",
            channel=f"PJSIP/t-{n}",
            queue=draw(st.sampled_from(queues)),
            priority=draw(st.integers(0, 9)),
            arrived_at=at - draw(st.integers(0, 40)) * 5.0,
            skills=draw(skill_sets),
            step=draw(st.sampled_from([0, 0, 1])),
        )
        for n in range(draw(st.integers(0, 10)))
    ]


# --- the indexes agree with the reference on any snapshot --------------------------------------


@BOUNDED
@given(st.data())
def test_indexes_choose_what_the_reference_chooses(data: st.DataObject) -> None:
    queues = data.draw(queues_())
    names = list(queues)
    before = data.draw(agents_(names))
    # Index one snapshot, then move every agent to another: updates must leave it exact.
    after = [
        replace(
            a,
            state=data.draw(st.sampled_from(list(S))),
            idle_since=data.draw(st.floats(T0 - 100, T0)),
            calls_taken=data.draw(st.integers(0, 3)),
            device_busy=data.draw(st.booleans()),
        )
        for a in before
    ]
    # ... and queues that change strategy must be re-sorted.
    first_strategies = [data.draw(st.sampled_from(list(Strategy))) for _ in names]
    index = AgentIndex(
        [replace(queues[n], strategy=s) for n, s in zip(names, first_strategies, strict=True)],
        before,
    )
    for agent in after:
        index.update(agent)
    for queue in queues.values():
        index.set_queue(queue)
    calls = data.draw(calls_(names))
    now = T0 + data.draw(st.integers(0, 60)) * 5.0
    cursor = data.draw(st.sampled_from(["", "a0", "a3", "a9"]))
    for call in calls:
        queue = queues[call.queue]
        expected = choose_agent_for_call(
            call, queue, after, now=now, rng=random.Random(1), cursor=cursor
        )
        got = index.choose_agent_for_call(call, now=now, rng=random.Random(1), cursor=cursor)
        assert got == expected
        ahead = data.draw(st.integers(0, 6))
        assert index.overflow_decision(call, now, waiting_ahead=ahead) == overflow_decision(
            call, queue, after, now, waiting_ahead=ahead
        )
    waiting = WaitingCalls(queues.values(), calls)
    by_queue = {name: [c for c in calls if c.queue == name] for name in names}
    for agent in after:
        expected = choose_call_for_agent(agent, by_queue, now=now, queues=queues)
        assert waiting.choose_call_for_agent(agent, now=now) == expected


# --- a day in a small contact centre -----------------------------------------------------------


@dataclass
class Centre:
    """The service's part, played by the test: state changes on a fake clock."""

    queues: dict[str, Queue]
    agents: dict[str, Agent]
    answers: dict[str, bool]  # does the agent pick up offers?
    talk_ticks: dict[str, int]
    index: AgentIndex = field(init=False)
    waiting: WaitingCalls = field(init=False)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    patience: dict[str, float] = field(default_factory=dict)
    holding: dict[str, str] = field(default_factory=dict)  # agent -> call
    back_at: dict[str, float] = field(default_factory=dict)  # agent -> end of talk / pause
    cursors: dict[str, str] = field(default_factory=dict)
    hops: dict[str, int] = field(default_factory=dict)
    decisions: int = 0

    def __post_init__(self) -> None:
        self.index = AgentIndex(self.queues.values(), self.agents.values())
        self.waiting = WaitingCalls(self.queues.values())

    def set_agent(self, agent: Agent) -> None:
        self.agents[agent.id] = agent
        self.index.update(agent)

    def end(self, call_id: str, outcome: Outcome) -> None:
        assert call_id not in self.outcomes, f"{call_id} ended twice"
        self.outcomes[call_id] = outcome
        self.waiting.remove(call_id)

    # --- the routing the service does, each decision taken twice ------------------------------

    def offer(self, decision: Assignment, now: float) -> None:
        call = self.waiting.get(decision.call_id)
        agent = self.agents[decision.agent_id]
        assert call is not None
        queue = self.queues[call.queue]
        who = eligibility(call, queue, now)
        assert who is not None and who.admits(agent), "offered to an agent who may not take it"
        assert is_available(agent) and agent.id not in self.holding, "agent holds two calls"
        assert not agent.call
        level = effective_priority(call, queue, now)
        for other in self.waiting.in_line(call.queue, now):
            other_who = eligibility(other, queue, now)
            if other.id == call.id or other_who is None or not other_who.admits(agent):
                continue
            other_level = effective_priority(other, queue, now)
            assert other_level <= level, "a more urgent call was waiting"
            assert other_level < level or other.arrived_at >= call.arrived_at, "served out of turn"
        self.cursors[call.queue] = agent.id
        self.waiting.remove(call.id)
        agent = transition(agent, S.RESERVED, now, call=call.id)
        agent = transition(agent, S.RINGING, now)
        if self.answers[agent.id]:
            self.holding[agent.id] = call.id
            self.back_at[agent.id] = now + self.talk_ticks[agent.id] * TICK
            self.end(call.id, Outcome.ANSWERED)
            self.set_agent(transition(agent, S.BUSY, now))
        else:  # no answer: the caller goes back in line, the agent is paused for a while
            change = after_no_answer(agent, now, pause=True, pause_seconds=2 * TICK)
            assert change.agent.pause_reason == PauseReason.NO_ANSWER and not change.free
            self.back_at[agent.id] = change.resume_at
            self.set_agent(change.agent)
            # Back in line at its place; the settling that follows every event offers it
            # again (offering it at once, mid-settle, could pass over a more urgent call).
            self.waiting.add(replace(call, attempts=call.attempts + 1))

    def route_arrival(self, call: Call, now: float) -> None:
        """As the router does, with the router's own plan: a ready agent who may take it
        first, else the arrival's own overflow check (other calls' overflows wait for the
        tick); a call moved to another queue arrives there."""
        self.decisions += 1
        queue, cursor = self.queues[call.queue], self.cursors.get(call.queue, "")
        expected = choose_agent_for_call(
            call,
            queue,
            self.agents.values(),
            now=now,
            rng=random.Random(self.decisions),
            cursor=cursor,
        )
        plan = arrival_plan(
            call, self.index, self.waiting, now, cursor=cursor, rng=random.Random(self.decisions)
        )
        if isinstance(plan, Assignment):
            assert plan == expected
            self.offer(plan, now)
            return
        assert expected is None
        self.overflow_call(call, now, plan)
        moved = self.waiting.get(call.id)
        if moved is not None:  # at a later step, or in another queue: offered again there
            self.route(moved, now)

    def route(self, call: Call, now: float) -> None:
        self.decisions += 1
        queue, cursor = self.queues[call.queue], self.cursors.get(call.queue, "")
        expected = choose_agent_for_call(
            call,
            queue,
            self.agents.values(),
            now=now,
            rng=random.Random(self.decisions),
            cursor=cursor,
        )
        got = self.index.choose_agent_for_call(
            call, now=now, rng=random.Random(self.decisions), cursor=cursor
        )
        assert got == expected
        if got is not None:
            self.offer(got, now)

    def settle(self, now: float) -> None:
        """Freed agents take the best call they may, until nobody can take anything."""
        progress = True
        while progress:
            progress = False
            order = sorted(self.agents.values(), key=lambda a: (a.idle_since, a.id))
            for agent_id in [a.id for a in order]:
                agent = self.agents[agent_id]  # an offer may have changed it meanwhile
                by_queue = {name: self.waiting.in_line(name) for name in self.queues}
                expected = choose_call_for_agent(agent, by_queue, now=now, queues=self.queues)
                got = self.waiting.choose_call_for_agent(agent, now=now)
                assert got == expected
                if got is not None:
                    self.offer(got, now)
                    progress = True

    def overflow(self, now: float) -> None:
        for call in self.all_waiting():
            self.overflow_call(call, now)

    def overflow_call(
        self, call: Call, now: float, planned: Overflow | str | None = "unplanned"
    ) -> None:
        queue = self.queues[call.queue]
        ahead = self.waiting.waiting_ahead(call, now)
        decision = overflow_decision(call, queue, self.agents.values(), now, waiting_ahead=ahead)
        assert self.index.overflow_decision(call, now, waiting_ahead=ahead) == decision
        if planned != "unplanned":
            assert planned == decision
        if decision is None:
            return
        assert decision.step > call.step or decision.leaves
        if not decision.leaves:
            self.waiting.add(replace(call, step=decision.step))
        elif decision.to is FallbackKind.QUEUE:
            self.move(call, decision.target, now)
        else:
            self.end(call.id, Outcome.OVERFLOWED)

    def move(self, call: Call, target: str, now: float) -> None:
        """Overflow to another queue: a fresh entry there, or a failure if it cannot be."""
        self.hops[call.id] = self.hops.get(call.id, 0) + 1
        if target not in self.queues or self.hops[call.id] > 3:
            self.end(call.id, Outcome.FAILED)
            return
        self.waiting.remove(call.id)
        self.waiting.add(replace(call, queue=target, step=0, arrived_at=now))

    def all_waiting(self) -> list[Call]:
        return [c for name in self.queues for c in self.waiting.in_line(name)]

    def tick(self, now: float, arrivals: list[Call]) -> None:
        for agent_id, at in list(self.back_at.items()):
            if at <= now:
                del self.back_at[agent_id]
                agent = self.agents[agent_id]
                if self.holding.pop(agent_id, None):
                    done = after_conversation(
                        agent, now, talk=0.0, wrap_up_seconds=TICK, today=agent.counts_day
                    )
                    assert done.agent.state is S.WRAP_UP and not done.free
                    agent = done.agent
                back = after_timer(agent, now)
                assert back.free
                self.set_agent(back.agent)
        for call in self.all_waiting():
            if self.patience[call.id] <= now:
                self.end(call.id, Outcome.ABANDONED)
        self.overflow(now)
        self.settle(now)
        for call in arrivals:
            # As the router does: a ready agent who may take it first, then the arrival's
            # own overflow check (other calls' overflows wait for the tick), then the agents
            # who are free take what they may.
            self.waiting.add(call)
            self.route_arrival(call, now)
            self.settle(now)


@BOUNDED
@given(st.data())
def test_routing_invariants_hold_over_a_random_day(data: st.DataObject) -> None:
    queues = data.draw(queues_())
    names = list(queues)
    agents = [a for a in data.draw(agents_(names)) if a.state is not S.BUSY]
    centre = Centre(
        queues=queues,
        agents={a.id: a for a in agents},
        answers={a.id: data.draw(st.booleans()) or data.draw(st.booleans()) for a in agents},
        talk_ticks={a.id: data.draw(st.integers(1, 6)) for a in agents},
    )
    arrivals: dict[int, list[Call]] = {}
    entered = []
    for n in range(data.draw(st.integers(1, 25))):
        tick = data.draw(st.integers(0, 30))
        at = T0 + tick * TICK + n * 0.001  # distinct arrival times keep the order clear
        call = Call(
            id=f"c{n}",
            channel=f"PJSIP/t-{n}",
            queue=data.draw(st.sampled_from(names)),
            priority=data.draw(st.integers(0, 9)),
            arrived_at=at,
            skills=data.draw(skill_sets),
        )
        centre.patience[call.id] = at + data.draw(st.integers(1, 40)) * TICK
        arrivals.setdefault(tick, []).append(call)
        entered.append(call.id)
    for tick in range(200):
        centre.tick(T0 + tick * TICK, arrivals.get(tick, []))
        if tick > 30 and not len(centre.waiting) and not centre.holding:
            break
    assert set(centre.outcomes) == set(entered), "a call never ended"
    assert set(centre.outcomes.values()) <= set(Outcome)


# --- escalated calls go to leads and supervisors only, own team's lead first --------------------


@BOUNDED
@given(st.data())
def test_an_escalated_call_goes_to_staff_never_back_and_own_team_lead_first(
    data: st.DataObject,
) -> None:
    queues = data.draw(queues_())
    agents = data.draw(agents_(list(queues)))
    queue = queues[data.draw(st.sampled_from(sorted(queues)))]
    by = data.draw(st.sampled_from([a.id for a in agents] or ["gone"]))
    team = data.draw(st.sampled_from(("", *TEAMS)))
    call = Call(
        id="c1",
        channel="PJSIP/t-1",
        queue=queue.name,
        priority=0,
        arrived_at=T0,
        skills={"lang:ru": 9},
        escalated_by=by,
        escalation_team=team,
    )
    chosen = choose_agent_for_call(call, queue, agents, now=T0 + 5)
    admitted = [a for a in agents if can_take(a, call, queue, T0 + 5)]
    assert (chosen is None) == (not admitted)
    if chosen is None:
        return
    agent = next(a for a in agents if a.id == chosen.agent_id)
    assert agent.role is not Role.AGENT and agent.id != by
    assert escalation_tier(call, agent) == min(escalation_tier(call, a) for a in admitted)
    # ... and it is served before any ordinary call of the highest priority.
    ordinary = Call(
        id="c0", channel="PJSIP/t-0", queue=queue.name, priority=9, arrived_at=T0 - 1000
    )
    assert call_order_key(call, queue, T0) < call_order_key(ordinary, queue, T0)
