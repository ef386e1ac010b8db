"""Erlang B, C and A of the load generator against textbook values and exact special cases."""

from __future__ import annotations

import math

import pytest

from loadtest.erlang import erlang_b, erlang_c, predict_erlang_a, predict_erlang_c


@pytest.mark.parametrize(
    ("agents", "offered", "blocking"),
    [
        # Erlang B tables: the traffic N circuits carry at 1 %, 2 % and 5 % blocking.
        (10, 4.461, 0.01),
        (10, 5.084, 0.02),
        (10, 6.216, 0.05),
        (15, 8.108, 0.01),
        (15, 9.010, 0.02),
        (15, 10.63, 0.05),
    ],
)
def test_erlang_b_matches_the_blocking_tables(agents: int, offered: float, blocking: float) -> None:
    assert erlang_b(offered, agents) == pytest.approx(blocking, rel=0.01)


def test_three_agents_with_two_erlangs_make_four_callers_in_nine_wait() -> None:
    # M/M/3 at A = 2: (A^3/3! * 3/(3-2)) / (1 + 2 + 2 + that) = 4 / 9, by hand.
    assert erlang_c(2.0, 3) == pytest.approx(4 / 9)


def test_one_agent_is_the_m_m_1_queue() -> None:
    # M/M/1: P(wait) = rho, ASA = rho * h / (1 - rho), P(W > t) = rho * exp(-(1-rho) t / h).
    rate, handle = 0.004, 180.0
    rho = rate * handle
    predicted = predict_erlang_c(rate, handle, 1, threshold=20)
    assert predicted.wait_probability == pytest.approx(rho)
    assert predicted.asa == pytest.approx(rho * handle / (1 - rho))
    assert predicted.service_level == pytest.approx(1 - rho * math.exp(-(1 - rho) * 20 / handle))


def test_a_textbook_centre_answers_most_calls_within_20_seconds() -> None:
    # 100 calls per 30 minutes, AHT 180 s (10 Erlangs), 14 agents: the usual worked example
    # (P(wait) 17.4 %, SL 20 s 88.9 %, ASA 7.8 s).
    predicted = predict_erlang_c(100 / 1800, 180.0, 14, threshold=20)
    assert predicted.wait_probability == pytest.approx(0.1741, abs=0.001)
    assert predicted.service_level == pytest.approx(0.8883, abs=0.001)
    assert predicted.asa == pytest.approx(7.8, abs=0.1)


def test_an_overloaded_queue_never_reaches_its_service_level() -> None:
    predicted = predict_erlang_c(1.0, 20.0, 10, threshold=20)
    assert predicted.service_level == 0.0
    assert predicted.asa == math.inf


def test_erlang_a_with_very_patient_callers_is_erlang_c() -> None:
    c = predict_erlang_c(100 / 1800, 180.0, 14, threshold=20)
    a = predict_erlang_a(100 / 1800, 180.0, 14, patience=1e7, threshold=20)
    assert a.wait_probability == pytest.approx(c.wait_probability, rel=1e-3)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-3)
    assert a.asa == pytest.approx(c.asa, rel=1e-3)
    assert a.abandon_probability < 1e-4


def test_erlang_a_with_patience_equal_to_handle_time_is_the_infinite_server_queue() -> None:
    # When callers give up at the rate agents finish, everyone leaves at rate 1/h whatever
    # they do: the number in the system is Poisson(A), so P(wait) = P(Poisson(A) >= N).
    rate, handle, agents = 0.05, 200.0, 12
    offered = rate * handle
    below = sum(math.exp(-offered) * offered**n / math.factorial(n) for n in range(agents))
    a = predict_erlang_a(rate, handle, agents, patience=handle, threshold=20)
    assert a.wait_probability == pytest.approx(1 - below, rel=1e-6)
    # And every caller leaves in Exp(1/h) time: busy agents E[min(n, N)], the rest abandon.
    busy = sum(
        math.exp(-offered) * offered**n / math.factorial(n) * min(n, agents) for n in range(120)
    )
    assert a.abandon_probability == pytest.approx(1 - busy / offered, rel=1e-6)


def test_erlang_a_stays_stable_when_offered_more_than_the_agents_can_take() -> None:
    a = predict_erlang_a(1.0, 20.0, 10, patience=60, threshold=20)
    assert 0.5 < a.abandon_probability < 1
    assert a.occupancy == pytest.approx(1.0, abs=0.01)
    assert 0 < a.service_level < 1
