"""Routing decisions carried out: which agent takes a call, which call a freed agent takes,
read from the in-memory view; then the claim (one atomic script that refuses a stale
decision) and the ring.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from acd.domain.event_kinds import EventKind
from acd.domain.model import Agent, AgentState, Assignment, Call, Queue, Role, Strategy
from acd.domain.routing import choose_agent_for_call
from acd.domain.steps import is_logged_in
from acd.domain.strategies import is_available
from acd.errors import AmiError, AmiNotDone, InvalidInput, NoSuchChannel
from acd.service.mirror import Mirror
from acd.service.ports import Telephony
from acd.service.recorder import Recorder
from acd.service.routing_settings import RoutingSettings
from acd.store import Store

log = logging.getLogger("acd.router")

CLAIM_ATTEMPTS = 3  # another process may win a claim; the next best is tried
REFUSALS_BOUND = 3  # offers of one call Asterisk may refuse before it is left alone


class Routing:
    """See the module docstring."""

    def __init__(
        self,
        store: Store,
        telephony: Telephony,
        mirror: Mirror,
        recorder: Recorder,
        settings: RoutingSettings,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.telephony = telephony
        self.mirror = mirror
        self.recorder = recorder
        self.settings = settings
        self.clock = clock
        self.claims_lost = 0
        # Calls whose caller Asterisk said it does not have: never offered again; the next
        # tick ends them as failed (after any Hangup already on its way has been handled).
        self.missing: set[str] = set()
        # Set while acd stops: no one is rung or sent out any more (callers stay on hold).
        self.draining = False
        # Offers Asterisk refused, by call: after REFUSALS_BOUND the call is not offered again
        # until the next reconciliation (the dialplan's own timer still protects the caller).
        self.refused: dict[str, int] = {}
        # This process among those sharing the Redis, for claims only one of them may hold.
        self.owner = uuid.uuid4().hex
        self._cursors: dict[str, str] = {}

    def _escalation_candidates(self, call: Call, queue: Queue) -> list[Agent]:
        """Available members, the queue's teams' staff and the escalating agent's team's."""
        mirror = self.mirror
        teams = {*queue.teams, call.escalation_team} - {""}
        return [
            a
            for a in mirror.all_agents()
            if is_available(a)
            and (queue.name in a.queues or (a.team in teams and a.role is not Role.AGENT))
        ]

    async def cursor(self, queue: Queue) -> str:
        """The round-robin cursor of ``queue`` ('' for the other strategies): read from
        Redis once, then kept as this process moves it (several processes each go round
        their own share of the calls)."""
        if queue.strategy is not Strategy.ROUND_ROBIN:
            return ""
        if queue.name not in self._cursors:
            self._cursors[queue.name] = await self.store.round_robin_cursor(queue.name)
        return self._cursors[queue.name]

    async def route_call(
        self, call: Call, queue: Queue, received: float, first: Assignment | None = None
    ) -> bool:
        """Offer ``call`` to the best agent its step allows (``first``, if already decided);
        False if nobody can take it now."""
        mirror = self.mirror
        held = call.reserved_at(self.clock())
        if held:
            named = mirror.agent(held)
            if named is not None and is_logged_in(named) and not not_coming_back(named):
                # Held for the named agent: offered to them once free, to nobody else.
                return is_available(named) and await self.offer(call, named, queue, received)
            call = await self.end_reservation(call, "unavailable")
        for _ in range(CLAIM_ATTEMPTS):
            decision = first
            first = None
            if decision is None:
                decision = await self._decide(call, queue)
            if decision is None:
                return False
            agent = mirror.agent(decision.agent_id)
            if agent is None:
                return False
            if await self.offer(call, agent, queue, received):
                if queue.strategy is Strategy.ROUND_ROBIN:
                    self._cursors[queue.name] = agent.id
                    await self.store.set_round_robin_cursor(queue.name, agent.id)
                return True
            fresh = mirror.call(call.id)
            if fresh is None or fresh.status is not call.status:
                return False  # the call itself was taken or ended meanwhile
        return False

    async def _decide(self, call: Call, queue: Queue) -> Assignment | None:
        mirror = self.mirror
        cursor = await self.cursor(queue)
        now = self.clock()
        if call.escalated_by:
            return choose_agent_for_call(
                call, queue, self._escalation_candidates(call, queue), now=now, cursor=cursor
            )
        return mirror.agents.choose_agent_for_call(call, now=now, cursor=cursor)

    async def route_agent(self, agent_id: str, received: float | None = None) -> bool:
        """Give a freed agent the best call across its queues; False if none fits."""
        received = time.perf_counter() if received is None else received
        mirror = self.mirror
        for _ in range(CLAIM_ATTEMPTS):
            agent = mirror.agent(agent_id)
            if agent is None or not is_available(agent):
                return False
            # Calls sent to this agent by name come before their queues' lines.
            for held in mirror.reserved_for(agent_id):
                queue = mirror.queues.get(held.queue) or Queue(held.queue)
                if await self.offer(held, agent, queue, received):
                    return True
            decision = mirror.waiting.choose_call_for_agent(agent, now=self.clock())
            if decision is None:
                return False
            call = mirror.call(decision.call_id)
            if call is None:
                return False
            queue = mirror.queues.get(call.queue) or Queue(call.queue)
            if await self.offer(call, agent, queue, received):
                return True
        return False

    async def offer(self, call: Call, agent: Agent, queue: Queue, received: float) -> bool:
        """Claim the pair in Redis, then ring the agent. False if the claim was lost, or if
        nothing can ring now (Asterisk unreachable: the reconciliation after reconnecting
        routes again)."""
        if not self.telephony.connected or self.draining or call.id in self.missing:
            return False
        if self.refused.get(call.id, 0) >= REFUSALS_BOUND:
            return False
        now = self.clock()
        settle_by = now + queue.ring_timeout_seconds + self.settings.offer_grace_seconds
        fence = await self.store.claim(call, agent, now, settle_by)
        if not fence:
            # The view was stale about one of the two: read both again (another process
            # changed them; the feed would tell soon, but the next attempt is now).
            self.claims_lost += 1
            await self.mirror.reload_agent(agent.id)
            await self.mirror.reload_call(call.id)
            return False
        try:
            await self.telephony.ring_agent(call, agent, queue.ring_timeout_seconds, fence)
        except (AmiNotDone, InvalidInput) as exc:
            # The caller was not moved: undo the claim, the call waits at its place.
            log.warning(
                "offer failed", extra={"call": call.id, "agent": agent.id, "error": str(exc)}
            )
            await self.undo_offer(call, agent, fence)
            if isinstance(exc, NoSuchChannel):
                # Asterisk has no such caller (gone, or an ACDEnqueue for a channel it never
                # had): never offered again; ended once, as failed, unless its Hangup comes.
                self.missing.add(call.id)
            elif isinstance(exc, AmiNotDone) and self.telephony.connected:
                self.refused[call.id] = self.refused.get(call.id, 0) + 1
            return True
        except AmiError as exc:
            # Unknown whether Asterisk moved the caller (the connection went mid-action):
            # the offer stands; the call's events, the reconciliation after reconnecting or
            # the offer's settle-by time tell what came of it. Undoing it could ring a second
            # agent for a caller who is already talking to this one.
            log.warning(
                "offer sent, outcome unknown",
                extra={"call": call.id, "agent": agent.id, "error": str(exc)},
            )
        self.recorder.offered_to_agent(call, agent, fence, time.perf_counter() - received)
        return True

    async def end_reservation(self, call: Call, reason: str) -> Call:
        """End the hold of a waiting call for its named agent (``reason``: ``timeout``,
        ``unavailable`` when that agent paused or logged out, ``replaced`` when the call was
        sent to another agent); the call, free for anyone."""
        agent_id = call.reserved_for
        if agent_id and await self.store.end_reservation(call.id, agent_id, call.reserved_until):
            self.recorder.call_action(
                call, EventKind.CALL_RESERVATION_ENDED, agent=agent_id, reason=reason
            )
        return replace(call, reserved_for="", reserved_until=0.0)

    async def undo_offer(self, call: Call, agent: Agent, fence: int) -> None:
        """Put an offer that never rang back: the call at its place, the agent ready (not
        paused for no-answer: the phone never rang)."""
        await self.store.release(call, fence, agent.id)
        await self.store.set_agent_state(
            agent, AgentState.READY, self.clock(), expected_call=call.id
        )

    async def route_waiting(self, received: float, queues: set[str] | None = None) -> None:
        """Try waiting calls against available agents where both exist (a safety net: the
        events themselves route; this catches what another process freed or a race left)."""
        mirror = self.mirror
        for name in sorted(queues if queues is not None else mirror.queues):
            queue = mirror.queues.get(name)
            if queue is None or not self._anyone_available(queue):
                continue
            for call in mirror.waiting_in(name):
                if call.id in self.missing or self.refused.get(call.id, 0) >= REFUSALS_BOUND:
                    continue
                routed = await self.route_call(call, queue, received)
                if not routed and not call.escalated_by and not call.reserved_for:
                    break  # nobody ready for this call; later calls rarely fare better

    def _anyone_available(self, queue: Queue) -> bool:
        agents = self.mirror.agents
        return agents.has_available(queue.name) or any(
            agents.available_staff(team) for team in queue.teams
        )


def not_coming_back(agent: Agent) -> bool:
    """Paused, or to be paused or logged out when the present call ends: not coming back to
    take the reserved call."""
    return agent.state is AgentState.PAUSED or agent.pending_state is not None
