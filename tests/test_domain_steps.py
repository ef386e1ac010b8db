"""Routing steps and overflow in the contact centre's words."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from acd.domain.model import (
    Agent,
    AgentState,
    Call,
    FallbackKind,
    Queue,
    Role,
    Step,
    StepKind,
)
from acd.domain.routing import choose_agent_for_call, choose_call_for_agent
from acd.domain.steps import (
    OverflowReason,
    current_step,
    current_step_index,
    effective_requirements,
    eligibility,
    overflow_decision,
    routing_steps,
    step_label,
)
from acd.errors import ConfigError

T0 = 1_700_000_000.0

RUSSIAN = Queue(
    "ru-support",
    teams=("ru-team",),
    skills={"lang:ru": 5},
    steps=(
        Step(after=0, skills={"lang:ru": 5}),
        Step(after=30, skills={"lang:ru": 1}),
        Step(after=90, kind=StepKind.LEADS),
        Step(after=300, kind=StepKind.FALLBACK, to=FallbackKind.VOICEMAIL, target="ru-vm"),
    ),
)


def agent(agent_id: str, **kw: object) -> Agent:
    fields: dict[str, object] = {
        "dial": f"PJSIP/{agent_id}",
        "queues": {"ru-support": 1},
        "state": AgentState.READY,
        "idle_since": T0 - 1000,
        "team": "ru-team",
    }
    fields.update(kw)
    return Agent(id=agent_id, **fields)  # type: ignore[arg-type]


def call(call_id: str = "c1", queue: str = "ru-support", **kw: object) -> Call:
    fields: dict[str, object] = {"priority": 0, "arrived_at": T0}
    fields.update(kw)
    return Call(id=call_id, channel=f"PJSIP/trunk-{call_id}", queue=queue, **fields)  # type: ignore[arg-type]


LEARNER = agent("learner", skills={"lang:ru": 2})
NATIVE = agent("native", skills={"lang:ru": 9}, state=AgentState.BUSY)
LEAD = agent("lead", role=Role.LEAD, queues={}, skills={"lang:ru": 8})
SUPERVISOR = agent("boss", role=Role.SUPERVISOR, queues={}, skills={"lang:ru": 10})


def who_gets(c: Call, q: Queue, agents: list[Agent], waited: float) -> str | None:
    decision = choose_agent_for_call(c, q, agents, now=T0 + waited)
    return decision.agent_id if decision else None


@pytest.mark.parametrize(
    ("waited", "expected"),
    [(0, 0), (29.9, 0), (30, 1), (89, 1), (90, 2), (299, 2), (300, 3), (10_000, 3)],
)
def test_call_moves_through_the_steps_as_it_waits(waited: float, expected: int) -> None:
    assert current_step_index(RUSSIAN, call(), T0 + waited) == expected
    assert current_step(RUSSIAN, call(), T0 + waited) is RUSSIAN.steps[expected]


def test_recorded_overflow_step_holds_even_before_its_time() -> None:
    assert current_step_index(RUSSIAN, call(step=2), T0 + 1) == 2
    assert current_step_index(RUSSIAN, call(step=9), T0 + 1) == 3  # clamped to the plan


def test_queue_without_steps_has_one_step_with_its_skills() -> None:
    q = Queue("billing", skills={"billing": 3})
    assert routing_steps(q) == (Step(),)
    who = eligibility(call(queue="billing"), q, T0 + 5000)
    assert who is not None and who.requirements == {"billing": 3} and not who.leads


@pytest.mark.parametrize(
    ("waited", "agents", "expected"),
    [
        (10, [LEARNER, LEAD], None),  # only fluent speakers at first; leads not yet
        (10, [LEARNER, replace(NATIVE, state=AgentState.READY)], "native"),
        (31, [LEARNER, LEAD], "learner"),  # threshold relaxed to 1 after 30 s
        (95, [NATIVE, LEAD], "lead"),  # the learner is busy too: the team lead steps in
        (95, [replace(LEAD, team="other-team")], None),  # only leads of the serving teams
        (95, [SUPERVISOR], None),  # supervisors only when a step names them
        (400, [LEARNER, LEAD], None),  # fallback time: nobody, the call leaves
    ],
)
def test_who_may_take_a_russian_call_over_time(
    waited: float, agents: list[Agent], expected: str | None
) -> None:
    assert who_gets(call(), RUSSIAN, agents, waited) == expected


def test_call_overflows_to_team_lead_after_90_seconds() -> None:
    busy_learner = replace(LEARNER, state=AgentState.BUSY)
    assert who_gets(call(), RUSSIAN, [busy_learner, LEAD], 89) is None
    decision = overflow_decision(call(step=1), RUSSIAN, [busy_learner, LEAD], T0 + 90)
    assert decision is not None and not decision.leaves
    assert (decision.step, decision.label, decision.reason) == (2, "2-leads", OverflowReason.WAIT)
    assert who_gets(call(step=decision.step), RUSSIAN, [busy_learner, LEAD], 90) == "lead"


def test_freed_team_lead_picks_up_the_overflowed_call() -> None:
    waiting = {"ru-support": [call("young", arrived_at=T0 + 50), call("old")]}
    queues = {"ru-support": RUSSIAN}
    decision = choose_call_for_agent(LEAD, waiting, now=T0 + 100, queues=queues)
    assert decision is not None and (decision.call_id, decision.step) == ("old", 2)
    assert choose_call_for_agent(LEAD, waiting, now=T0 + 60, queues=queues) is None


def test_supervisors_take_calls_when_a_step_names_them() -> None:
    q = replace(RUSSIAN, steps=(*RUSSIAN.steps[:3], Step(after=120, kind=StepKind.SUPERVISORS)))
    assert who_gets(call(), q, [SUPERVISOR], 119) is None
    assert who_gets(call(), q, [SUPERVISOR], 120) == "boss"


def test_member_supervisor_waits_for_the_supervisors_step_too() -> None:
    member_boss = replace(SUPERVISOR, queues={"ru-support": 1})
    assert who_gets(call(), RUSSIAN, [member_boss], 95) is None


def test_step_relaxation_is_cumulative() -> None:
    who = eligibility(call(), RUSSIAN, T0 + 100)  # the leads step names no skills
    assert who is not None and who.requirements == {"lang:ru": 1}


def test_level_zero_drops_a_skill_and_cap_relaxes_per_call_languages() -> None:
    q = Queue(
        "support", steps=(Step(), Step(after=60, skills={"billing": 0}), Step(after=120, cap=1))
    )
    c = call(queue="support", skills={"billing": 4, "lang:de": 7})
    assert effective_requirements(c, q) == {"billing": 4, "lang:de": 7}
    requirements = [eligibility(c, q, T0 + t).requirements for t in (0, 60, 120)]  # type: ignore[union-attr]
    assert requirements == [{"billing": 4, "lang:de": 7}, {"lang:de": 7}, {"lang:de": 1}]


# --- overflow decisions ----------------------------------------------------------------------


def test_each_step_is_reported_once_when_entered() -> None:
    agents = [NATIVE, LEARNER, LEAD]
    assert overflow_decision(call(), RUSSIAN, agents, T0 + 10) is None
    first = overflow_decision(call(), RUSSIAN, agents, T0 + 31)
    assert first is not None and (first.step, first.reason) == (1, OverflowReason.WAIT)
    assert overflow_decision(call(step=1), RUSSIAN, agents, T0 + 60) is None


def test_overflows_to_team_leads_at_once_when_no_eligible_agent_is_logged_in() -> None:
    away = replace(LEARNER, state=AgentState.LOGGED_OUT)
    decision = overflow_decision(call(), RUSSIAN, [away, LEAD], T0 + 1)
    assert decision is not None and not decision.leaves
    assert (decision.step, decision.reason) == (2, OverflowReason.NO_AGENTS)


def test_skips_to_a_relaxed_step_when_only_learners_are_logged_in() -> None:
    decision = overflow_decision(call(), RUSSIAN, [LEARNER], T0 + 1)
    assert decision is not None and (decision.step, decision.reason) == (
        1,
        OverflowReason.NO_AGENTS,
    )


def test_paused_agents_count_as_logged_in() -> None:
    paused = replace(LEARNER, skills={"lang:ru": 9}, state=AgentState.PAUSED)
    assert overflow_decision(call(), RUSSIAN, [paused], T0 + 1) is None


def test_falls_back_at_once_when_nobody_at_all_is_logged_in() -> None:
    decision = overflow_decision(call(), RUSSIAN, [], T0 + 1)
    assert decision is not None and decision.leaves
    assert (decision.to, decision.target, decision.reason) == (
        FallbackKind.VOICEMAIL,
        "ru-vm",
        OverflowReason.NO_AGENTS,
    )
    assert decision.label == "3-fallback"


def test_without_a_fallback_step_an_empty_queue_keeps_the_caller_waiting() -> None:
    assert overflow_decision(call(queue="plain"), Queue("plain"), [], T0 + 1) is None


def test_falls_back_to_voicemail_after_five_minutes() -> None:
    decision = overflow_decision(call(step=2), RUSSIAN, [LEARNER, LEAD], T0 + 300)
    assert decision is not None and decision.leaves
    assert (decision.step, decision.to, decision.reason) == (
        3,
        FallbackKind.VOICEMAIL,
        OverflowReason.WAIT,
    )


def test_long_queue_sends_new_callers_to_the_team_leads() -> None:
    q = replace(RUSSIAN, max_length=5)
    staff = [NATIVE, LEARNER, LEAD]
    assert overflow_decision(call(), q, staff, T0, waiting_ahead=4) is None
    decision = overflow_decision(call(), q, staff, T0, waiting_ahead=5)
    assert decision is not None and (decision.step, decision.reason) == (
        2,
        OverflowReason.QUEUE_FULL,
    )
    assert overflow_decision(call(step=2), q, staff, T0, waiting_ahead=9) is None


def test_long_queue_without_leads_sends_callers_to_the_fallback() -> None:
    q = Queue("plain", max_length=2)
    decision = overflow_decision(call(queue="plain"), q, [LEARNER], T0, waiting_ahead=2)
    assert decision is not None and decision.leaves
    assert (decision.to, decision.reason, decision.label) == (
        FallbackKind.DIALPLAN,
        OverflowReason.QUEUE_FULL,
        "fallback",
    )


def test_caller_leaves_after_the_queues_maximum_wait() -> None:
    q = Queue("plain", max_wait_seconds=120)
    c = call(queue="plain")
    assert overflow_decision(c, q, [LEARNER], T0 + 119) is None
    decision = overflow_decision(c, q, [LEARNER], T0 + 120)
    assert decision is not None and decision.reason is OverflowReason.TIMEOUT
    assert decision.to is FallbackKind.DIALPLAN


def test_overflow_to_another_queue_names_it() -> None:
    q = Queue(
        "night",
        steps=(Step(), Step(after=60, kind=StepKind.FALLBACK, to=FallbackKind.QUEUE, target="day")),
    )
    decision = overflow_decision(call(queue="night"), q, [], T0 + 61)
    assert decision is not None and (decision.to, decision.target) == (FallbackKind.QUEUE, "day")


def test_step_labels_use_names_when_given() -> None:
    q = Queue("x", steps=(Step(name="fluent"), Step(after=5, kind=StepKind.LEADS)))
    assert [step_label(q, i) for i in range(3)] == ["fluent", "1-leads", "fallback"]


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((Step(after=5),), "first step must start at 0"),
        ((Step(), Step(after=60), Step(after=30)), "in order of time"),
        ((Step(), Step(after=9, kind=StepKind.FALLBACK), Step(after=10)), "must be the last"),
        ((Step(kind=StepKind.FALLBACK),), "cannot start with its fallback"),
        ((Step(), Step(after=9, kind=StepKind.FALLBACK, to=FallbackKind.QUEUE)), "say which"),
        (
            (Step(), Step(after=9, kind=StepKind.FALLBACK, to=FallbackKind.QUEUE, target="q")),
            "itself",
        ),
        ((Step(cap=11),), "cap"),
        ((Step(skills={"lang:ru": 11}),), "level must be"),
    ],
)
def test_bad_step_plans_are_refused_with_the_setting_named(
    steps: tuple[Step, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        Queue("q", steps=steps)
    assert "queues.q.steps[" in str(error.value)


def test_queue_with_steps_survives_the_stores_json_round_trip() -> None:
    """The store saves ``asdict(queue)`` as JSON and rebuilds with ``Queue(**data)``."""
    data = json.loads(json.dumps(asdict(RUSSIAN), ensure_ascii=False))
    assert Queue(**data) == RUSSIAN
