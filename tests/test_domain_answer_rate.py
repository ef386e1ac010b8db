"""A queue's recent answer rate, the estimated wait that follows, and a call's place in line:
the pure parts of the call figures the API and the dialplan show."""

from __future__ import annotations

import random

import pytest

from acd.domain.answer_rate import (
    MIN_WATCH_SECONDS,
    RATE_TAU_SECONDS,
    AnswerRate,
    estimated_wait,
)
from acd.domain.call_index import WaitingCalls
from acd.domain.model import Call, Queue, call_skills, in_queue

NOW = 1_700_000_000.0


def test_a_steady_pace_of_one_answer_every_ten_seconds_is_a_rate_of_a_tenth() -> None:
    rate = AnswerRate(since=NOW)
    for i in range(1, 361):  # an hour
        rate.answered(NOW + 10 * i)
    assert rate.per_second(NOW + 3600) == pytest.approx(0.1, rel=0.1)


def test_the_rate_of_a_queue_watched_briefly_is_not_biased_low() -> None:
    # Twenty answers, one every 5 s, in the first 100 s of watching: 0.2 a second, although
    # the decay's time constant is five minutes.
    rate = AnswerRate(since=NOW)
    for i in range(1, 21):
        rate.answered(NOW + 5 * i)
    assert rate.per_second(NOW + 100) == pytest.approx(0.2, rel=0.15)


def test_a_few_answers_in_the_first_second_are_taken_over_a_minute() -> None:
    rate = AnswerRate(since=NOW)
    for i in range(3):
        rate.answered(NOW + 0.1 * i)
    assert rate.per_second(NOW + 1) == pytest.approx(3 / MIN_WATCH_SECONDS, rel=0.15)


def test_the_rate_is_unknown_until_three_answers_and_fades_when_answers_stop() -> None:
    rate = AnswerRate(since=NOW)
    rate.answered(NOW + 1)
    rate.answered(NOW + 2)
    assert rate.per_second(NOW + 3) is None
    rate.answered(NOW + 3)
    fresh = rate.per_second(NOW + 3)
    assert fresh is not None
    later = rate.per_second(NOW + 3 + RATE_TAU_SECONDS)
    assert later is not None and later < fresh / 2.718  # decayed, and watched for longer


def test_an_answer_reported_late_counts_from_its_own_time() -> None:
    in_order, late = AnswerRate(since=NOW), AnswerRate(since=NOW)
    for t in (10, 20, 30):
        in_order.answered(NOW + t)
    for t in (10, 30, 20):
        late.answered(NOW + t)
    assert late.per_second(NOW + 40) == pytest.approx(in_order.per_second(NOW + 40))


def test_estimated_wait_is_position_over_rate_capped_and_unknown_without_a_rate() -> None:
    assert estimated_wait(3, 0.1) == 30
    assert estimated_wait(1, 0.5) == 2
    assert estimated_wait(500, 0.1, cap=600) == 600
    assert estimated_wait(1, 0.0, cap=600) == 600
    assert estimated_wait(1, None) is None


def _call(call_id: str, arrived: float, priority: int = 0, escalated: bool = False) -> Call:
    return Call(
        id=call_id,
        channel=f"PJSIP/trunk-{call_id}",
        queue="support",
        priority=priority,
        arrived_at=arrived,
        escalated_by="1001" if escalated else "",
    )


@pytest.mark.parametrize("aging", [0.0, 30.0])
def test_position_in_line_is_one_plus_the_calls_served_first(aging: float) -> None:
    generator = random.Random(13)
    waiting = WaitingCalls([Queue("support", aging_seconds=aging)])
    calls = [
        _call(
            f"c{i}",
            NOW - generator.uniform(0, 300),
            priority=generator.randint(0, 9),
            escalated=generator.random() < 0.05,
        )
        for i in range(60)
    ]
    for call in calls:
        waiting.add(call)
    for call in calls[::3]:
        waiting.remove(call.id)
    served = waiting.in_line("support", NOW)
    assert [waiting.position(c.id, NOW) for c in served] == list(range(1, len(served) + 1))
    assert waiting.position("c0", NOW) is None  # no longer waiting


def test_a_call_moved_to_another_queue_takes_its_skills_and_keeps_its_own() -> None:
    sales = Queue("sales", skills={"lang:ru": 5, "vip": 1})
    billing = Queue("billing", skills={"billing": 3, "vip": 1})
    own = {"vip": 2}
    call = Call(
        "c1", "PJSIP/trunk-1", "sales", 0, NOW, skills=call_skills(sales, own), own_skills=own
    )
    assert call.skills == {"lang:ru": 5, "vip": 2}
    moved = in_queue(call, billing)
    assert (moved.queue, moved.skills, moved.own_skills) == (
        "billing",
        {"billing": 3, "vip": 2},
        own,
    )
