"""Erlang B, Erlang C and Erlang A: what queueing theory predicts for one queue of agents.

Pure functions, standard library only. Units: ``rate`` calls per second, ``handle`` mean
handle time in seconds (talk and wrap-up: the time an agent is taken by one call),
``patience`` mean patience in seconds, ``threshold`` the service level's answer time.

- Erlang C (M/M/N): Poisson arrivals, exponential handle times, N agents, callers who never
  hang up. Service level and ASA in closed form.
- Erlang A (M/M/N+M, Palm's model): the same with exponential patience; callers whose wait
  outlasts their patience abandon. Solved numerically from the birth-death chain (exact up
  to the truncation of the chain, which is chosen so that the mass cut off is negligible).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model predicts for one queue."""

    model: str
    wait_probability: float  # an arriving caller finds every agent taken
    service_level: float  # answered within the threshold, of all offered calls
    asa: float  # average speed of answer of answered calls, seconds
    abandon_probability: float  # 0 in Erlang C
    occupancy: float  # busy agents / agents


def erlang_b(offered: float, agents: int) -> float:
    """Blocking probability of an M/M/N/N system (the stable recursion, no factorials)."""
    if agents < 0 or offered < 0:
        raise ValueError("erlang_b needs agents >= 0 and offered >= 0")
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = offered * blocking / (n + offered * blocking)
    return blocking


def erlang_c(offered: float, agents: int) -> float:
    """Probability that a caller waits in an M/M/N queue (1 when the queue is unstable)."""
    if offered >= agents:
        return 1.0
    blocking = erlang_b(offered, agents)
    return agents * blocking / (agents - offered * (1 - blocking))


def predict_erlang_c(rate: float, handle: float, agents: int, threshold: float) -> Prediction:
    """Service level within ``threshold`` and ASA of an M/M/N queue of patient callers."""
    offered = rate * handle
    if offered >= agents:
        return Prediction("Erlang C", 1.0, 0.0, math.inf, 0.0, 1.0)
    waits = erlang_c(offered, agents)
    spare = agents - offered
    return Prediction(
        model="Erlang C",
        wait_probability=waits,
        service_level=1 - waits * math.exp(-spare * threshold / handle),
        asa=waits * handle / spare,
        abandon_probability=0.0,
        occupancy=offered / agents,
    )


def _stationary(
    rate: float, service: float, abandon: float, agents: int, tolerance: float = 1e-12
) -> list[float]:
    """Steady-state probabilities of n callers in an M/M/N+M system, n = 0..K, with K large
    enough that the probability beyond it is below ``tolerance`` (abandonment makes the
    chain stable whatever the load, so K is finite)."""
    weights = [1.0]
    n, total = 0, 1.0
    while True:
        n += 1
        death = service * min(n, agents) + abandon * max(n - agents, 0)
        weights.append(weights[-1] * rate / death)
        total += weights[-1]
        # Past the agents and where the ratio has turned below 1, the tail is geometric-ish.
        if n > agents and rate < death and weights[-1] / total < tolerance:
            break
        if n > 1_000_000:
            raise ValueError("Erlang A: the chain does not converge (no abandonment?)")
    return [w / total for w in weights]


def predict_erlang_a(
    rate: float, handle: float, agents: int, patience: float, threshold: float
) -> Prediction:
    """Service level within ``threshold``, ASA and abandonment of an M/M/N+M queue.

    An arriving caller sees the chain's stationary state (PASTA). One who finds k callers
    ahead in line moves up at rate m_k = N/handle + k/patience (an agent frees, or someone
    ahead gives up) and gives up itself at rate 1/patience. Which of the two happens first is
    independent of when, so the chance to be answered from k ahead is the product of
    m_j / (m_j + 1/patience) for j <= k, and the expected wait of those answered is that times
    the sum of 1 / (m_j + 1/patience): ASA and abandonment in closed form. The service level
    needs the wait's distribution up to the threshold: the line positions of all waiting
    callers are integrated together (RK4) from 0 to the threshold.
    """
    service, abandon = 1 / handle, 1 / patience
    states = _stationary(rate, service, abandon, agents)
    immediate = sum(states[:agents])
    # p[k]: probability that the tagged caller has k callers ahead and is still waiting; at
    # arrival, what it finds beyond the agents.
    p = states[agents:]
    move = [agents * service + k * abandon for k in range(len(p))]
    answered = weighted_wait = 0.0
    served_from, wait_sum = 1.0, 0.0
    for k, found in enumerate(p):
        served_from *= move[k] / (move[k] + abandon)
        wait_sum += 1 / (move[k] + abandon)
        answered += found * served_from
        weighted_wait += found * served_from * wait_sum
    queued = sum(k * states[agents + k] for k in range(len(p)))
    busy = sum(states[n] * min(n, agents) for n in range(len(states)))
    return Prediction(
        model="Erlang A",
        wait_probability=1 - immediate,
        service_level=immediate + _answered_within(p, move, abandon, threshold),
        asa=weighted_wait / (immediate + answered),
        abandon_probability=abandon * queued / rate,
        occupancy=busy / agents,
    )


def _answered_within(p: list[float], move: list[float], abandon: float, threshold: float) -> float:
    """Probability mass of ``p`` (callers waiting at each position) answered by
    ``threshold`` seconds, by RK4 on dp_k/dt = -(m_k + a) p_k + m_(k+1) p_(k+1)."""
    if threshold <= 0 or not p:
        return 0.0
    steps = max(50, math.ceil(threshold * 5 * (move[-1] + abandon)))
    dt = threshold / steps
    last = len(p) - 1

    def derivative(q: list[float]) -> list[float]:
        return [
            -(move[k] + abandon) * q[k] + (move[k + 1] * q[k + 1] if k < last else 0.0)
            for k in range(len(q))
        ]

    answered = 0.0
    for _ in range(steps):
        k1 = derivative(p)
        k2 = derivative([x + dt / 2 * d for x, d in zip(p, k1, strict=True)])
        k3 = derivative([x + dt / 2 * d for x, d in zip(p, k2, strict=True)])
        k4 = derivative([x + dt * d for x, d in zip(p, k3, strict=True)])
        # The answer flow m_0 p_0, integrated with the same RK4 weights.
        answered += (
            dt
            / 6
            * move[0]
            * (p[0] + 2 * (p[0] + dt / 2 * k1[0]) + 2 * (p[0] + dt / 2 * k2[0]) + p[0] + dt * k3[0])
        )
        p = [
            x + dt / 6 * (a + 2 * b + 2 * c + d)
            for x, a, b, c, d in zip(p, k1, k2, k3, k4, strict=True)
        ]
    return answered
