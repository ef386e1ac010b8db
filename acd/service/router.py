"""The router: builds the worker, the in-memory view, routing and the recorder, and gives
each telephony event its handler. Read this file after ``acd.ami.translate``; then one
call's path is ``arrivals`` (a caller enters), ``routing`` (who takes it), ``offers`` (ring,
answer, no answer) and ``endings`` (hang-up), each a module of plain functions over
:class:`~acd.service.context.Services`.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from acd.domain.counts import local_day
from acd.domain.events import (
    AgentAnswered,
    AgentMissed,
    AgentRinging,
    CallEntered,
    CallFellBack,
    CallHeld,
    CallTransferred,
    ChannelGone,
    ChannelShutDown,
    DeviceChanged,
    EscalationRequested,
    PositionAsked,
    TelephonyConnected,
)
from acd.domain.model import Agent, AgentState
from acd.domain.state_machine import RequestEffect
from acd.metrics import Metrics
from acd.service import (
    agent_requests,
    arrivals,
    call_actions,
    endings,
    housekeeping,
    offers,
    phones,
    recovery,
    transfers,
)
from acd.service.context import Services
from acd.service.mirror import Mirror
from acd.service.ports import EventSink, Telephony
from acd.service.recorder import FLUSH_AT, Recorder
from acd.service.routing import Routing
from acd.service.routing_settings import RoutingSettings
from acd.service.worker import Handler, Tick, Worker
from acd.store import Store

__all__ = ["Router", "Tick"]


class Router:
    """See the module docstring."""

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
        self.sink = sink
        zone = ZoneInfo(settings.stats_timezone)
        self.mirror = Mirror(store, clock, lambda now: local_day(now, zone))
        recorder = Recorder(store, metrics, sink, clock, settings.short_abandon_seconds)
        routing = Routing(store, telephony, self.mirror, recorder, settings, clock)
        self.services = ctx = Services(
            store, telephony, metrics, settings, self.mirror, recorder, routing, clock, zone
        )
        handlers: dict[type, Handler] = {
            Tick: lambda _work, _received: housekeeping.tick(ctx),
            CallEntered: lambda e, r: arrivals.call_entered(ctx, e, r),
            AgentRinging: lambda e, _r: offers.agent_ringing(ctx, e),
            AgentAnswered: lambda e, _r: offers.agent_answered(ctx, e),
            AgentMissed: lambda e, r: offers.agent_missed(ctx, e, r),
            ChannelGone: lambda e, r: transfers.channel_gone(ctx, e, r),
            CallTransferred: lambda e, r: transfers.call_transferred(ctx, e, r),
            CallHeld: lambda e, _r: transfers.call_held(ctx, e),
            ChannelShutDown: lambda e, r: endings.channel_shut_down(ctx, e, r),
            CallFellBack: lambda e, r: endings.call_fell_back(ctx, e, r),
            EscalationRequested: lambda e, _r: call_actions.escalation_requested(ctx, e),
            PositionAsked: lambda e, _r: arrivals.position_asked(ctx, e),
            DeviceChanged: lambda e, r: phones.device_changed(ctx, e, r),
            TelephonyConnected: lambda e, _r: recovery.reconcile(ctx, e.reconnect, e.at),
        }
        self.worker = Worker(
            handlers,
            metrics,
            recorder.flush,
            lambda: recorder.pending() >= FLUSH_AT,
            settings.side_writes_seconds,
            settings.worker_queue_limit,
        )
        self.worker.pending_writes = recorder.pending
        self._follower: asyncio.Task[None] | None = None
        self.submit = self.worker.submit
        self.call = self.worker.call
        self.pending = self.worker.pending
        self.idle = self.worker.idle
        self.stop = self.worker.stop

    def drain(self) -> None:
        """Stop making decisions, finish what is queued, then stop the worker."""
        self.services.routing.draining = True
        self.worker.stop()

    @property
    def handled(self) -> int:
        return self.worker.handled

    def day_of(self, now: float) -> str:
        """The local calendar day of ``now``, in which agents' call counts are kept."""
        return self.services.day_of(now)

    async def run(self) -> None:
        """Load the view, follow the change feed, and run the worker until stopped."""
        await self.mirror.load()
        # What was loaded lives as long as the process: out of the collector's way, so that a
        # full collection does not walk thousands of agents and calls in the middle of a
        # decision.
        gc.freeze()
        self._follower = asyncio.ensure_future(self.mirror.follow())
        try:
            await self.worker.run()
        finally:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)

    async def reload_config(self) -> None:
        """Read queues and agents again (after a change through the API)."""
        await self.mirror.load()

    async def recover_lost_data(self) -> None:
        """Redis lost its data and the configuration is seeded again: read the view again
        and adopt the callers Asterisk has (run through :meth:`call`)."""
        await self.mirror.load()
        await recovery.recover_lost_calls(self.services)

    async def call_entered(self, event: CallEntered, received: float) -> None:
        await arrivals.call_entered(self.services, event, received)

    async def change_agent_state(
        self, agent_id: str, target: AgentState, reason: str = ""
    ) -> Agent:
        """Log in, pause, make ready or log out an agent (run through :meth:`call`)."""
        agent, _effect = await agent_requests.request_state(self.services, agent_id, target, reason)
        return agent

    async def request_agent_state(
        self, agent_id: str, target: AgentState, reason: str = ""
    ) -> tuple[Agent, RequestEffect]:
        """As :meth:`change_agent_state`, and what the request did (taken now, withdrew an
        offer, pending until the call ends, took a pending change back)."""
        return await agent_requests.request_state(self.services, agent_id, target, reason)

    async def cancel_pending_state(self, agent_id: str) -> Agent:
        """Take back a pause or log-out pending for the end of the agent's call."""
        return await agent_requests.cancel_pending(self.services, agent_id)
