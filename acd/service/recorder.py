"""Recording business events: one method per event, doing in one place what each needs, the
counter, the log line, the stream event and the call's history.

Counters and log lines happen at once. Stream events (and through them daily figures and
webhooks) and history entries are side writes: they are buffered and written by
:meth:`Recorder.flush`, which the worker calls when it has nothing else to do (or the buffer
is large), so they never sit between an event and the decision it leads to, and many calls'
side writes share one round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from acd.domain.event_kinds import EventKind
from acd.domain.model import Agent, AgentState, Call, Outcome
from acd.domain.steps import Overflow
from acd.errors import StoreUnavailable
from acd.metrics import Metrics
from acd.service.event_log import Fanout
from acd.service.ports import EventSink
from acd.store import Store

log = logging.getLogger("acd.router")

# The queue label of calls for a queue acd does not know.
UNKNOWN_QUEUE_LABEL = "_unknown"
FLUSH_AT = 500  # buffered side writes that make the worker flush even while busy


class Recorder:
    """See the module docstring."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        sink: EventSink | None,
        clock: Callable[[], float],
        short_abandon_seconds: float,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.sink = sink
        self.clock = clock
        self.short_abandon_seconds = short_abandon_seconds
        self._events: list[tuple[str, dict[str, object]]] = []
        self._history: list[tuple[str, dict[str, object]]] = []

    # --- side writes --------------------------------------------------------------------------

    def publish(self, kind: EventKind, **data: object) -> None:
        """An event for the stream (SSE, webhooks, daily figures)."""
        if self.sink is not None:
            self._events.append((kind.value, data))

    def history(self, call_id: str, kind: EventKind | str, **data: object) -> None:
        """An entry of the call's history."""
        self._history.append((call_id, {"at": self.clock(), "event": str(kind), **data}))

    def pending(self) -> int:
        return len(self._events) + len(self._history)

    async def flush(self) -> None:
        """Write what is buffered: events and history in one round trip (a Redis outage is
        counted and logged there: a call never waits on its records)."""
        events, self._events = self._events, []
        history, self._history = self._history, []
        if isinstance(self.sink, Fanout):
            await self.sink.publish_batch(
                events,
                also=lambda writes: (
                    self.store.add_history_into(writes, history) if history else None
                ),
            )
            return
        if events and self.sink is not None:
            await self.sink.publish_batch(events)
        if history:
            try:
                await self.store.add_history_many(history)
            except StoreUnavailable:
                self._history[:0] = history  # tried again at the next flush
                raise

    # --- calls --------------------------------------------------------------------------------

    def call_entered(self, call: Call, from_queue: str = "") -> None:
        self.metrics.calls_offered.labels(call.queue).inc()
        if from_queue:
            self.publish(
                EventKind.CALL_OFFERED,
                call=call.id,
                queue=call.queue,
                priority=call.priority,
                caller_name=call.caller_name,
                from_queue=from_queue,
            )
            return
        log.info(
            "call entered",
            extra={
                "call": call.id,
                "queue": call.queue,
                "priority": call.priority,
                "caller": call.caller_name,
            },
        )
        self.publish(
            EventKind.CALL_OFFERED,
            call=call.id,
            queue=call.queue,
            priority=call.priority,
            caller_name=call.caller_name,
        )

    def unknown_queue(self, call_id: str, queue: str) -> None:
        self.metrics.calls_offered.labels(UNKNOWN_QUEUE_LABEL).inc()
        self.metrics.calls_failed.labels(UNKNOWN_QUEUE_LABEL, "unknown_queue").inc()
        log.warning(
            "call for unknown queue sent to fallback", extra={"call": call_id, "queue": queue[:64]}
        )

    def offered_to_agent(self, call: Call, agent: Agent, fence: int, decided_in: float) -> None:
        self.metrics.routing_decision_seconds.observe(decided_in)
        log.info(
            "call offered",
            extra={"call": call.id, "agent": agent.id, "queue": call.queue, "fence": fence},
        )
        self.history(
            call.id, EventKind.CALL_OFFERED_TO_AGENT, agent=agent.id, attempt=call.attempts + 1
        )

    def call_answered(
        self, call: Call, agent_id: str, team: str, wait: float, within_service_level: bool
    ) -> None:
        self.history(call.id, EventKind.CALL_ANSWERED, agent=agent_id)
        if call.escalated_by:
            # Counted answered (and its wait and first response) when the first agent took it.
            log.info(
                "escalated call answered",
                extra={"call": call.id, "agent": agent_id, "queue": call.queue},
            )
            self.publish(
                EventKind.CALL_ANSWERED,
                call=call.id,
                agent=agent_id,
                queue=call.queue,
                team=team,
                wait_seconds=round(wait, 3),
                escalated=True,
            )
            return
        self.metrics.calls_answered.labels(call.queue).inc()
        self.metrics.wait_seconds.labels(call.queue, Outcome.ANSWERED.value).observe(wait)
        self.metrics.first_response_seconds.labels(call.queue, "voice").observe(wait)
        log.info(
            "call answered",
            extra={"call": call.id, "agent": agent_id, "queue": call.queue, "wait": round(wait, 3)},
        )
        self.publish(
            EventKind.CALL_ANSWERED,
            call=call.id,
            agent=agent_id,
            queue=call.queue,
            team=team,
            wait_seconds=round(wait, 3),
            within_service_level=within_service_level,
        )

    def agent_missed(self, call: Call, agent_id: str, status: str) -> None:
        log.info(
            "agent did not answer, call back in line",
            extra={"call": call.id, "agent": agent_id, "status": status},
        )
        self.publish(EventKind.AGENT_MISSED, call=call.id, agent=agent_id, status=status)
        self.history(call.id, EventKind.AGENT_MISSED, agent=agent_id, status=status)

    def offer_withdrawn(self, call: Call, agent_id: str, state: AgentState) -> None:
        """The agent paused or logged out while the call rang it: the call is back in line
        (not the agent's no-answer)."""
        log.info(
            "offer withdrawn, call back in line",
            extra={"call": call.id, "agent": agent_id, "state": state.value},
        )
        self.call_action(call, EventKind.CALL_OFFER_WITHDRAWN, agent=agent_id, state=state.value)

    def agent_pending(self, agent_id: str, state: AgentState | None, reason: str) -> None:
        """A pause or log-out asked for during a call, taken when it ends ('' state: the
        request was taken back)."""
        pending = state.value if state is not None else ""
        log.info("agent state after call", extra={"agent": agent_id, "pending": pending})
        self.publish(EventKind.AGENT_PENDING, agent=agent_id, pending_state=pending, reason=reason)

    def call_ended(self, call: Call, outcome: Outcome, detail: str, wait: float) -> None:
        """A call that never talked ended (abandoned, overflowed or failed)."""
        if outcome is Outcome.ABANDONED:
            self.metrics.calls_abandoned.labels(call.queue).inc()
            if wait <= self.short_abandon_seconds:
                self.metrics.calls_short_abandoned.labels(call.queue).inc()
        elif outcome is Outcome.OVERFLOWED:
            self.metrics.calls_overflowed.labels(call.queue, detail).inc()
        elif outcome is Outcome.FAILED:
            self.metrics.calls_failed.labels(call.queue, detail).inc()
        self.metrics.wait_seconds.labels(call.queue, outcome.value).observe(wait)
        log.info(
            "call ended",
            extra={
                "call": call.id,
                "queue": call.queue,
                "outcome": outcome.value,
                "detail": detail,
                "wait": round(wait, 3),
            },
        )
        kind = EventKind(f"call.{outcome.value}")
        self.publish(
            kind, call=call.id, queue=call.queue, wait_seconds=round(wait, 3), detail=detail
        )
        self.history(call.id, kind, detail=detail)

    def talk_counted(self, call: Call, talk: float, wrap_up: float) -> None:
        """An agent's part of a conversation is over (it ended, or went to a lead)."""
        self.metrics.talk_seconds.labels(call.queue).observe(talk)
        self.metrics.handle_seconds.labels(call.queue).observe(talk + wrap_up)
        self.metrics.wrapup_seconds.labels(call.queue).observe(wrap_up)

    def call_completed(
        self, call: Call, agent_id: str, team: str, talk: float, wrap_up: float
    ) -> None:
        log.info(
            "call completed",
            extra={"call": call.id, "agent": agent_id, "queue": call.queue, "talk": round(talk, 3)},
        )
        self.publish(
            EventKind.CALL_ENDED,
            call=call.id,
            agent=agent_id,
            queue=call.queue,
            team=team,
            talk_seconds=round(talk, 3),
            handle_seconds=round(talk + wrap_up, 3),
        )
        self.history(call.id, EventKind.CALL_ENDED, agent=agent_id, outcome="answered")

    def call_overflowed(self, call: Call, queue: str, decision: Overflow) -> None:
        self.metrics.calls_overflowed.labels(queue, decision.label).inc()
        to = decision.to.value if decision.to else ""
        log.info(
            "call overflowed",
            extra={
                "call": call.id,
                "queue": queue,
                "step": decision.label,
                "reason": decision.reason.value,
                "to": to,
            },
        )
        self.publish(
            EventKind.CALL_OVERFLOWED,
            call=call.id,
            queue=queue,
            step=decision.label,
            reason=decision.reason.value,
            to=to,
        )

    def moved_out(self, call: Call, source: str, counted_as: str) -> None:
        """A waiting call left ``source`` for another queue (overflowed there)."""
        if counted_as:
            self.metrics.calls_overflowed.labels(source, counted_as).inc()
            self.publish(
                EventKind.CALL_OVERFLOWED,
                call=call.id,
                queue=source,
                step=counted_as,
                reason=counted_as,
                to="queue",
            )
        self.metrics.wait_seconds.labels(source, Outcome.OVERFLOWED.value).observe(
            self.clock() - call.arrived_at
        )

    def overflow_wait(self, call: Call, queue: str, now: float) -> None:
        self.metrics.wait_seconds.labels(queue, Outcome.OVERFLOWED.value).observe(
            now - call.arrived_at
        )

    def escalated(self, call: Call, agent: Agent) -> None:
        self.metrics.calls_escalated.labels(call.queue).inc()
        log.info(
            "call escalated",
            extra={"call": call.id, "agent": agent.id, "queue": call.queue, "team": agent.team},
        )
        self.call_action(call, EventKind.CALL_ESCALATED, agent=agent.id, team=agent.team)

    def call_transferred(
        self, call: Call, agent_id: str, kind: str, target: str, external: bool
    ) -> None:
        """The agent handed the caller on; the call stays answered once, by that agent."""
        self.metrics.transfers.labels(call.queue, kind).inc()
        log.info(
            "call transferred",
            extra={"call": call.id, "agent": agent_id, "queue": call.queue, "kind": kind},
        )
        self.call_action(
            call,
            EventKind.CALL_TRANSFERRED,
            agent=agent_id,
            transfer=kind,
            target=target,
            external=external,
        )

    def call_held(self, call: Call, agent_id: str, who: str) -> None:
        self.call_action(call, EventKind.CALL_HELD, agent=agent_id, by=who)

    def call_unheld(self, call: Call, agent_id: str, who: str, seconds: float) -> None:
        self.metrics.hold_seconds.labels(call.queue).observe(seconds)
        self.call_action(
            call, EventKind.CALL_UNHELD, agent=agent_id, by=who, hold_seconds=round(seconds, 3)
        )

    def call_action(self, call: Call, kind: EventKind, **data: Any) -> None:
        """What a supervisor, integrator or agent did to a call: history and stream."""
        self.history(call.id, kind, **data)
        self.publish(kind, call=call.id, queue=call.queue, **data)

    # --- agents and telephony -----------------------------------------------------------------

    def agent_state(
        self,
        agent_id: str,
        state: AgentState,
        previous: AgentState,
        reason: str,
        *,
        logged: bool = True,
    ) -> None:
        if logged:
            log.info(
                "agent state",
                extra={
                    "agent": agent_id,
                    "state": state.value,
                    "from": previous.value,
                    "reason": reason,
                },
            )
        self.publish(
            EventKind.AGENT_STATE,
            agent=agent_id,
            state=state.value,
            previous=previous.value,
            reason=reason,
        )

    def agent_phone(self, agent_id: str, busy: bool) -> None:
        self.publish(EventKind.AGENT_PHONE, agent=agent_id, busy=busy)

    def reconciled(self, reconnect: bool, channels: int) -> None:
        log.info("reconciled with Asterisk", extra={"reconnect": reconnect, "channels": channels})
        self.publish(EventKind.TELEPHONY_RECONCILED, reconnect=reconnect, channels=channels)
