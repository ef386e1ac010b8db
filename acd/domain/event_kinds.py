"""The kinds of business event acd publishes (event stream, SSE, webhooks, call history).

One enum shared by whoever publishes and whoever filters, so a kind that is published can
always be subscribed to.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    """What happened, as integrators see it in an event's ``kind``."""

    CALL_OFFERED = "call.offered"
    CALL_OFFERED_TO_AGENT = "call.offered_to_agent"
    CALL_ANSWERED = "call.answered"
    CALL_ABANDONED = "call.abandoned"
    CALL_OVERFLOWED = "call.overflowed"
    CALL_FAILED = "call.failed"
    CALL_ENDED = "call.ended"
    CALL_ESCALATED = "call.escalated"
    CALL_TRANSFERRED = "call.transferred"
    CALL_HELD = "call.held"
    CALL_UNHELD = "call.unheld"
    CALL_HANGUP_REQUESTED = "call.hangup_requested"
    CALL_MONITORED = "call.monitored"
    CALL_MOVED = "call.moved"
    CALL_REPRIORITIZED = "call.reprioritized"
    CALL_SENT = "call.sent"
    CALL_RESERVED = "call.reserved"
    CALL_RESERVATION_ENDED = "call.reservation_ended"
    CALL_OFFER_WITHDRAWN = "call.offer_withdrawn"
    AGENT_STATE = "agent.state"
    AGENT_PENDING = "agent.pending"
    AGENT_MISSED = "agent.missed"
    AGENT_PHONE = "agent.phone"
    TELEPHONY_RECONCILED = "telephony.reconciled"
