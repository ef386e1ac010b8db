"""How fast each queue's line moves, and the estimated wait that follows from it: pure.

A queue's answer rate is an exponentially weighted count of its answered calls divided by the
equally weighted time it has been watched (at least a minute), so recent answers count most
and a rate watched for less than a time constant is not biased low (``tau`` is the decay's
time constant). The
estimated wait of a call at position ``p`` is ``p / rate``: the time for ``p`` more answers at
the recent pace, capped, and unknown (None) until the queue has had a few answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RATE_TAU_SECONDS = 300.0  # answers of the last ~5 minutes weigh most
MIN_ANSWERS = 3  # answers seen before an estimate is given
# A rate is never taken over less than this: three answers in a process's first second are
# no sign of three a second.
MIN_WATCH_SECONDS = 60.0
EWT_CAP_SECONDS = 3_600.0  # never promise more than this (or the queue's maximum wait)


@dataclass(slots=True)
class AnswerRate:
    """One queue's recent answers: their decayed weight as of ``at``, and their count."""

    since: float  # when watching began
    weight: float = 0.0
    at: float = 0.0
    answers: int = 0

    def answered(self, when: float, tau: float = RATE_TAU_SECONDS) -> None:
        """Count an answer at ``when`` (late ones decay from their own time)."""
        if when >= self.at:
            self.weight = self.weight * math.exp(-(when - self.at) / tau) + 1.0
            self.at = when
        else:
            self.weight += math.exp(-(self.at - when) / tau)
        self.answers += 1

    def per_second(self, now: float, tau: float = RATE_TAU_SECONDS) -> float | None:
        """Answers per second at ``now``; None while too few were seen to say."""
        if self.answers < MIN_ANSWERS:
            return None
        watched = tau * (1.0 - math.exp(-max(now - self.since, MIN_WATCH_SECONDS) / tau))
        return self.weight * math.exp(-max(0.0, now - self.at) / tau) / watched


ANSWERS_REMEMBERED = 10_000  # answers kept so that one seen twice is counted once


class AnswerRates:
    """Every queue's :class:`AnswerRate`, each answer counted once however often it is
    reported (by its key: the call and when it was answered)."""

    def __init__(self, since: float) -> None:
        self.since = since
        self.queues: dict[str, AnswerRate] = {}
        self._counted: dict[str, None] = {}  # the latest answers' keys, oldest first

    def answered(self, queue: str, key: str, when: float) -> None:
        if key in self._counted:
            return
        self._counted[key] = None
        if len(self._counted) > ANSWERS_REMEMBERED:
            del self._counted[next(iter(self._counted))]
        rate = self.queues.get(queue)
        if rate is None:
            rate = self.queues[queue] = AnswerRate(self.since)
        rate.answered(when)

    def per_second(self, queue: str, now: float) -> float | None:
        """The queue's answers per second at ``now``; None while unknown."""
        rate = self.queues.get(queue)
        return rate.per_second(now) if rate else None


def estimated_wait(position: int, rate: float | None, cap: float = EWT_CAP_SECONDS) -> int | None:
    """Seconds until the call at ``position`` is answered at ``rate`` answers/s, at most
    ``cap``; None when the rate is unknown."""
    if rate is None:
        return None
    if rate <= 0.0:
        return round(cap)
    return round(min(cap, position / rate))
