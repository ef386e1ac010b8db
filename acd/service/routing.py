"""Routing decisions carried out: which agent takes a call, which call a freed agent takes,
read from the in-memory view; then the claim (one atomic script that refuses a stale
decision) and the ring.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from acd.domain.model import Agent, AgentState, Assignment, Call, Queue, Role, Strategy
from acd.domain.routing import choose_agent_for_call
from acd.domain.strategies import is_available
from acd.errors import AmiError, InvalidInput
from acd.service.mirror import Mirror
from acd.service.ports import Telephony
from acd.service.recorder import Recorder
from acd.service.routing_settings import RoutingSettings
from acd.store import Store

log = logging.getLogger("acd.router")

CLAIM_ATTEMPTS = 3  # another process may win a claim; the next best is tried


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
        """Claim the pair in Redis, then ring the agent. False if the claim was lost."""
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
        except (AmiError, InvalidInput) as exc:
            # The caller may have hung up, or Asterisk is unreachable: undo the claim. If the
            # caller is gone, their Hangup ends the call.
            log.warning(
                "offer failed", extra={"call": call.id, "agent": agent.id, "error": str(exc)}
            )
            await self.store.release(call, fence, agent.id)
            await self.store.set_agent_state(
                agent, AgentState.READY, self.clock(), expected_call=call.id
            )
            return True
        self.recorder.offered_to_agent(call, agent, fence, time.perf_counter() - received)
        return True

    async def route_waiting(self, received: float, queues: set[str] | None = None) -> None:
        """Try waiting calls against available agents where both exist (a safety net: the
        events themselves route; this catches what another process freed or a race left)."""
        mirror = self.mirror
        for name in sorted(queues if queues is not None else mirror.queues):
            queue = mirror.queues.get(name)
            if queue is None or not self._anyone_available(queue):
                continue
            for call in mirror.waiting_in(name):
                routed = await self.route_call(call, queue, received)
                if not routed and not call.escalated_by:
                    break  # nobody ready for this call; later calls rarely fare better

    def _anyone_available(self, queue: Queue) -> bool:
        agents = self.mirror.agents
        return agents.has_available(queue.name) or any(
            agents.available_staff(team) for team in queue.teams
        )
