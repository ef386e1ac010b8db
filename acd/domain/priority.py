"""Call priority and aging: the order waiting calls are served in.

Higher priority first, first come first served within a priority. A queue may age its calls:
one level up per ``aging_seconds`` waited, capped at the top level, so a steady stream of
urgent calls cannot starve the others.
"""

from __future__ import annotations

from acd.domain.model import ESCALATED_PRIORITY, MAX_PRIORITY, MIN_PRIORITY, Call, Queue


def effective_priority(call: Call, queue: Queue | None = None, now: float | None = None) -> int:
    """The priority ``call`` has at ``now`` in ``queue``: its own, plus the levels it aged."""
    if call.escalated_by:
        return ESCALATED_PRIORITY
    base = min(MAX_PRIORITY, max(MIN_PRIORITY, call.priority))
    if queue is None or now is None or queue.aging_seconds <= 0:
        return base
    waited = max(0.0, now - call.arrived_at)
    return min(MAX_PRIORITY, base + int(waited // queue.aging_seconds))


def call_order_key(
    call: Call, queue: Queue | None = None, now: float | None = None
) -> tuple[int, float, str]:
    """Higher (aged) priority first, then first come first served; the id breaks exact ties.

    Within one queue, an older call of a priority has aged at least as much as a newer one,
    so aging never reorders calls that came in with the same priority.
    """
    return (-effective_priority(call, queue, now), call.arrived_at, call.id)
