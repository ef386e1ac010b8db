"""The router: turns telephony events into Redis changes, routing decisions and AMI actions.

One worker consumes a queue of events and commands, so one process never races itself; Lua
claims make several processes safe against each other. Read this file after ``acd.ami.translate``
and before ``acd.domain.routing`` to follow one call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from acd.config import RoutingSettings
from acd.domain.events import (
    AgentAnswered,
    AgentMissed,
    AgentRinging,
    CallEntered,
    CallFellBack,
    ChannelGone,
    ChannelShutDown,
    DeviceChanged,
    EscalationRequested,
    TelephonyConnected,
    TelephonyEvent,
)
from acd.domain.model import Agent, AgentState, Call, Outcome, Queue, Role, Strategy
from acd.domain.names import check_channel
from acd.domain.priority import call_order_key
from acd.domain.routing import choose_agent_for_call, choose_call_for_agent
from acd.domain.skills import parse_skills
from acd.domain.state_machine import IllegalTransition, PauseReason
from acd.errors import AmiError, InvalidInput, NotFound, StoreUnavailable
from acd.metrics import Metrics
from acd.service import call_actions, offers
from acd.service.daily_stats import local_day
from acd.service.endings import call_fell_back, channel_gone, channel_shut_down
from acd.service.overflow import check_overflows, overflow_on_arrival
from acd.service.ports import EventSink, Telephony
from acd.service.recovery import reconcile
from acd.store import Store

log = logging.getLogger("acd.router")

BUSY_DEVICE_STATES = frozenset({"INUSE", "BUSY", "RINGINUSE", "ONHOLD"})
UNKNOWN_QUEUE_LABEL = "_unknown"
# How many waiting calls of each queue a freed agent looks at.
CALLS_PER_QUEUE_LOOKAHEAD = 50
# ... and the oldest few of every priority, which aging may have lifted above all of those.
CALLS_PER_PRIORITY_LOOKAHEAD = 5
# How many of a longest-idle queue's ready agents a decision reads first.
LONGEST_IDLE_BATCH = 16


@dataclass(frozen=True, slots=True)
class Tick:
    """Housekeeping: wrap-ups that ended, offers that were lost, calls left unrouted."""


@dataclass(slots=True)
class Command:
    """Work submitted by the API, run in the worker; its result comes back on ``done``."""

    run: Callable[[], Awaitable[Any]]
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(frozen=True, slots=True)
class Stop:
    """The worker's last item."""


Work = TelephonyEvent | Tick | Command | Stop


class Router:
    """Reacts to each event in order; see the module docstring."""

    def __init__(
        self,
        store: Store,
        telephony: Telephony,
        metrics: Metrics,
        settings: RoutingSettings,
        sink: EventSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.telephony = telephony
        self.metrics = metrics
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self._zone = ZoneInfo(settings.stats_timezone)
        self._work: asyncio.Queue[tuple[Work, float]] = asyncio.Queue()
        self.queues: dict[str, Queue] = {}
        self._device_agents: dict[str, str] = {}
        self._phone_busy: dict[str, bool] = {}  # as last published, per agent
        self.agents_seen: list[Agent] = []  # every agent, as of roster version ...
        self.roster_seen = -1  # ... this one (see refresh_agents)
        self.handled = 0  # work items done; tests wait on it through `idle()`
        self._idle = asyncio.Event()

    # --- feeding the worker -------------------------------------------------------------------

    def submit(self, work: Work) -> None:
        """Queue an event or command; called from the AMI callback, never blocks."""
        self._idle.clear()
        self._work.put_nowait((work, time.perf_counter()))

    async def call(self, run: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``run`` inside the worker, in order with events, and return its result."""
        command = Command(run)
        self.submit(command)
        return await command.done

    def stop(self) -> None:
        """Ask the worker to finish after the items already queued."""
        self._work.put_nowait((Stop(), time.perf_counter()))

    def pending(self) -> int:
        """Items waiting for the worker."""
        return self._work.qsize()

    async def idle(self) -> None:
        """Wait until every submitted item has been handled."""
        await self._idle.wait()

    async def run(self) -> None:
        """The worker loop: one item at a time; an item's failure is logged, never fatal."""
        await self.reload_config()
        while True:
            if self._work.empty():
                self._idle.set()
            work, received = await self._work.get()
            if isinstance(work, Stop):
                return
            try:
                await self._handle_until_stored(work, received)
            except StoreUnavailable as exc:
                if isinstance(work, Command) and not work.done.done():
                    work.done.set_exception(exc)
            except Exception as exc:
                self.metrics.ami_bad_events.labels("handler_error").inc()
                log.exception("failed to handle %s", type(work).__name__)
                if isinstance(work, Command) and not work.done.done():
                    work.done.set_exception(exc)
            finally:
                self.handled += 1

    async def _handle_until_stored(self, work: Work, received: float) -> None:
        """Handle ``work``; while Redis is down, retry telephony events with backoff.

        Events are facts from Asterisk: dropping one would lose a call, so the worker holds
        them, in order, until Redis is back. Commands fail at once (the API answers 503) and
        ticks are simply skipped.
        """
        delay = 0.05
        while True:
            try:
                await self._handle(work, received)
                return
            except StoreUnavailable as exc:
                if isinstance(work, Command | Tick):
                    raise
                log.error("redis unavailable, holding the event",
                          extra={"event": type(work).__name__, "error": str(exc),
                                 "retry_in": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _handle(self, work: Work, received: float) -> None:
        match work:
            case Command():
                result = await work.run()
                if not work.done.done():
                    work.done.set_result(result)
            case Tick():
                await self._tick()
            case Stop():
                return
            case CallEntered():
                await self.call_entered(work, received)
            case AgentRinging():
                await offers.agent_ringing(self, work)
            case AgentAnswered():
                await offers.agent_answered(self, work)
            case AgentMissed():
                await offers.agent_missed(self, work, received)
            case ChannelGone():
                await channel_gone(self, work, received)
            case ChannelShutDown():
                await channel_shut_down(self, work, received)
            case CallFellBack():
                await call_fell_back(self, work, received)
            case EscalationRequested():
                await call_actions.escalation_requested(self, work)
            case DeviceChanged():
                await self.device_changed(work, received)
            case TelephonyConnected():
                await reconcile(self, work.reconnect)

    async def reload_config(self) -> None:
        """Re-read queues and agents' devices from Redis (after a change through the API)."""
        self.queues = {q.name: q for q in await self.store.list_queues()}
        await self.refresh_agents(force=True)

    async def refresh_agents(self, force: bool = False) -> None:
        """Read every agent again if the roster changed since (or ``force``).

        Only who is logged in, and agents' profiles, are read from this list (overflow
        decisions, phones' devices); they bump the roster version, so between changes an
        arrival or a tick reads one counter instead of every agent.
        """
        version = await self.store.roster_version()  # first: a change after it is seen next
        if force or version != self.roster_seen:
            self.agents_seen = await self.store.list_agents()
            self._device_agents = {a.dial: a.id for a in self.agents_seen}
            self.roster_seen = version

    async def publish(self, kind: str, **data: object) -> None:
        if self.sink is not None:
            await self.sink.publish(kind, data)

    # --- a call arrives -----------------------------------------------------------------------

    async def call_entered(
        self, event: CallEntered, received: float, waited: float = 0.0
    ) -> None:
        now = self.clock()
        queue = self.queues.get(event.queue)
        if queue is None:
            queue = await self.store.get_queue(event.queue)
        if queue is None:
            await self._reject_unknown_queue(event)
            return
        call = Call(
            id=event.call_id,
            channel=check_channel("Channel", event.channel),
            queue=queue.name,
            priority=self._priority(event, queue),
            arrived_at=now - waited,
            skills={**queue.skills, **self._skills(event)},
            attrs=event.attrs,
            caller_name=event.caller_name,
            caller_number=event.caller_number,
        )
        if not await self.store.enqueue(call):
            return  # already known: a duplicate event, or another acd process was first
        self.metrics.calls_offered.labels(queue.name).inc()
        log.info("call entered", extra={"call": call.id, "queue": queue.name,
                                        "priority": call.priority, "caller": call.caller_name})
        await self.publish("call.offered", call=call.id, queue=queue.name,
                            priority=call.priority, caller_name=call.caller_name)
        # A ready agent who may take it settles it at once, whatever the overflow check
        # (which reads who is logged in as of the last tick) would say.
        if await self.route_call(call, queue, received):
            return
        await overflow_on_arrival(self, call, queue, received)

    async def _reject_unknown_queue(self, event: CallEntered) -> None:
        now = self.clock()
        placeholder = Call(event.call_id, event.channel, UNKNOWN_QUEUE_LABEL, 0, now)
        # Kept in Redis as failed, so that the same caller seen again (a duplicate event, or
        # adopted by a reconciliation that raced the first event) is not counted twice.
        if not await self.store.enqueue(placeholder):
            return
        await self.store.finish(placeholder, Outcome.FAILED, now, "unknown_queue")
        self.metrics.calls_offered.labels(UNKNOWN_QUEUE_LABEL).inc()
        self.metrics.calls_failed.labels(UNKNOWN_QUEUE_LABEL, "unknown_queue").inc()
        log.warning("call for unknown queue sent to fallback",
                    extra={"call": event.call_id, "queue": event.queue[:64]})
        try:
            await self.telephony.send_to_fallback(placeholder, "unknown-queue")
        except (AmiError, InvalidInput) as exc:
            log.warning("fallback failed", extra={"call": event.call_id, "error": str(exc)})

    def _priority(self, event: CallEntered, queue: Queue) -> int:
        if event.priority.isdigit() and 0 <= int(event.priority) <= 9:
            return int(event.priority)
        if event.priority:
            self.metrics.ami_bad_events.labels("bad_priority").inc()
            log.warning("bad ACD_PRIORITY, using the queue's",
                        extra={"call": event.call_id, "value": event.priority[:20]})
        return queue.priority

    def _skills(self, event: CallEntered) -> dict[str, int]:
        try:
            return parse_skills("ACD_SKILLS", event.skills)
        except InvalidInput as exc:
            self.metrics.ami_bad_events.labels("bad_skills").inc()
            log.warning("bad ACD_SKILLS, using the queue's",
                        extra={"call": event.call_id, "error": exc.reason})
            return {}

    # --- routing decisions --------------------------------------------------------------------

    async def _candidates(self, queue: Queue, call: Call, members: int = 0) -> list[Agent]:
        """Ready agents who might take ``call`` of ``queue``: members (the ``members`` longest
        idle; 0 = all), then its teams' staff (and for an escalated call, the staff of the
        escalating agent's team).

        Read from the per-queue and per-team ready indexes, never by scanning all agents.
        """
        agents = await self.store.ready_agents(queue.name, members)
        seen = {a.id for a in agents}
        teams = [*queue.teams, call.escalation_team] if call.escalation_team else queue.teams
        for team in dict.fromkeys(teams):
            agents += [a for a in await self.store.ready_staff(team) if a.id not in seen]
            seen = {a.id for a in agents}
        return agents

    async def route_call(self, call: Call, queue: Queue, received: float) -> bool:
        """Offer ``call`` to the best agent its step allows; False if nobody can take it now."""
        for _ in range(3):  # another process may win a claim; try the next best agent
            cursor = ""
            if queue.strategy is Strategy.ROUND_ROBIN:
                cursor = await self.store.round_robin_cursor(queue.name)
            # Longest idle is the ready index's own order: the longest idle few hold the
            # answer unless none of them may take the call; only then read the others.
            first = LONGEST_IDLE_BATCH if queue.strategy is Strategy.LONGEST_IDLE else 0
            agents = self._counted_today(await self._candidates(queue, call, first))
            decision = choose_agent_for_call(call, queue, agents, now=self.clock(),
                                             cursor=cursor)
            if decision is None and first:
                agents = self._counted_today(await self._candidates(queue, call))
                decision = choose_agent_for_call(call, queue, agents, now=self.clock())
            if decision is None:
                return False
            agent = next(a for a in agents if a.id == decision.agent_id)
            if await self.offer(call, agent, queue, received):
                if queue.strategy is Strategy.ROUND_ROBIN:
                    await self.store.set_round_robin_cursor(queue.name, agent.id)
                return True
        return False

    def queues_served_by(self, agent: Agent) -> list[str]:
        """The agent's own queues, and for a lead or supervisor those its team serves."""
        names = list(agent.queues)
        if agent.team and agent.role is not Role.AGENT:
            names += [q.name for q in self.queues.values()
                      if agent.team in q.teams and q.name not in agent.queues]
        return names

    async def route_agent(self, agent_id: str, received: float | None = None) -> bool:
        """Give a freed agent the best call across its queues; False if none fits."""
        received = time.perf_counter() if received is None else received
        for _ in range(3):
            agent = await self.store.get_agent(agent_id)
            if agent is None or agent.state is not AgentState.READY:
                return False
            waiting = {
                q: await self._routable(q)
                for q in self.queues_served_by(agent)
            }
            decision = choose_call_for_agent(agent, waiting, now=self.clock(),
                                             queues=self.queues)
            if decision is None:
                return False
            call = next(c for c in waiting[decision.queue] if c.id == decision.call_id)
            queue = self.queues.get(call.queue) or Queue(call.queue)
            if await self.offer(call, agent, queue, received):
                return True
        return False

    async def _routable(self, queue: str) -> list[Call]:
        """The waiting calls of ``queue`` a decision looks at (see ``Store.routable_calls``)."""
        return await self.store.routable_calls(queue, CALLS_PER_QUEUE_LOOKAHEAD,
                                               CALLS_PER_PRIORITY_LOOKAHEAD)

    def _in_line(self, calls: list[Call], queue: Queue) -> list[Call]:
        """``calls`` in the order the queue serves them now (priority after aging, arrival)."""
        now = self.clock()
        return sorted(calls, key=lambda call: call_order_key(call, queue, now))

    def day_of(self, now: float) -> str:
        """The local calendar day of ``now``, in which agents' call counts are kept."""
        return local_day(now, self._zone)

    def _counted_today(self, agents: list[Agent]) -> list[Agent]:
        """Agents with yesterday's figures read as zero: even sharing starts each day anew."""
        today = self.day_of(self.clock())
        return [a if a.counts_day == today or not (a.calls_taken or a.talk_seconds)
                else replace(a, calls_taken=0, talk_seconds=0.0) for a in agents]

    def queue_of(self, call: Call) -> Queue:
        """The configuration of the call's queue (defaults if it was deleted meanwhile)."""
        return self.queues.get(call.queue) or Queue(call.queue)

    @staticmethod
    def perf() -> float:
        """The monotonic time an action starts at, for the decision-latency histogram."""
        return time.perf_counter()

    async def offer(self, call: Call, agent: Agent, queue: Queue, received: float) -> bool:
        """Claim the pair in Redis, then ring the agent. False if the claim was lost."""
        now = self.clock()
        settle_by = now + queue.ring_timeout_seconds + self.settings.offer_grace_seconds
        fence = await self.store.claim(call, agent, now, settle_by)
        if not fence:
            return False
        try:
            await self.telephony.ring_agent(call, agent, queue.ring_timeout_seconds)
        except (AmiError, InvalidInput) as exc:
            # The caller may have hung up, or Asterisk is unreachable: undo the claim. If the
            # caller is gone, their Hangup ends the call.
            log.warning("offer failed", extra={"call": call.id, "agent": agent.id,
                                               "error": str(exc)})
            await self.store.release(call, fence)
            await self.store.set_agent_state(agent, AgentState.READY, self.clock(),
                                             expected_call=call.id)
            return True
        self.metrics.routing_decision_seconds.observe(time.perf_counter() - received)
        log.info("call offered", extra={"call": call.id, "agent": agent.id,
                                        "queue": call.queue, "fence": fence})
        await self.store.add_history(call.id, {"at": now, "event": "call.offered_to_agent",
                                               "agent": agent.id, "attempt": call.attempts + 1})
        return True

    # --- agents ------------------------------------------------------------------------------

    async def change_agent_state(
        self, agent_id: str, target: AgentState, reason: str = ""
    ) -> Agent:
        """Log in, pause, make ready or log out an agent (run through :meth:`call`)."""
        agent = await self.store.get_agent(agent_id)
        if agent is None:
            raise NotFound(f"agent {agent_id} not found")
        if target is AgentState.PAUSED and reason not in set(PauseReason):
            codes = ", ".join(r.value for r in PauseReason)
            raise InvalidInput("reason", f"a pause needs a reason code: {codes}")
        now = self.clock()
        previous = await self.store.set_agent_state(agent, target, now, reason=reason)
        if previous is None:
            raise IllegalTransition(agent.id, agent.state, target)
        log.info("agent state", extra={"agent": agent.id, "state": target.value,
                                       "from": previous.value, "reason": reason})
        await self.publish("agent.state", agent=agent.id, state=target.value,
                            previous=previous.value, reason=reason)
        if target is AgentState.READY:
            await self.route_agent(agent.id)
        updated = await self.store.get_agent(agent.id)
        assert updated is not None
        return updated

    # --- agents' phones -----------------------------------------------------------------------

    async def device_changed(self, event: DeviceChanged, received: float,
                             known: bool | None = None) -> None:
        """An agent's phone became busy or free (``known``: what acd has recorded, if read:
        nothing to do when it is unchanged)."""
        agent_id = self._device_agents.get(event.device)
        if agent_id is None:
            return
        busy = event.state in BUSY_DEVICE_STATES
        if busy is known:
            return
        await self.store.set_device_busy(agent_id, busy)
        if self._phone_busy.get(agent_id) is not busy:
            # Published on a change only: a phone says RINGING, INUSE, ... many times a call.
            self._phone_busy[agent_id] = busy
            await self.publish("agent.phone", agent=agent_id, busy=busy)
        if not busy:
            await self.route_agent(agent_id, received)

    # --- housekeeping -------------------------------------------------------------------------

    async def _tick(self) -> None:
        now = self.clock()
        received = time.perf_counter()
        for agent_id in await self.store.due_wrap_ups(now):
            agent = await self.store.get_agent(agent_id)
            if agent is None:
                continue
            previous = await self.store.set_agent_state(agent, AgentState.READY, now)
            if previous is not None:
                await self.publish("agent.state", agent=agent_id, state=AgentState.READY.value,
                                   previous=previous.value, reason="timer")
                await self.route_agent(agent_id, received)
        for call_id in await self.store.overdue_offers(now):
            await offers.settle_lost_offer(self, call_id, received)
        await check_overflows(self, now, received)
        await self.route_waiting(received)

    async def route_waiting(self, received: float) -> None:
        """Try every queue's waiting calls against its ready agents (a safety net)."""
        for queue in self.queues.values():
            for call in self._in_line(await self._routable(queue.name), queue):
                if not await self.route_call(call, queue, received) and not call.escalated_by:
                    break  # nobody ready for this call; later calls rarely fare better
