"""acd's decisions timed from outside acd, on the simulator's AMI wire.

A decision gives one waiting call to one free agent; acd carries it out by setting
``ACD_AGENT`` on the caller's channel and redirecting it to ``acd.connect``. It became
possible at the later of two moments, each a frame written to acd's socket (or a request to
its API): the call became routable (its ``ACDEnqueue`` UserEvent, or the ``DialEnd`` of an
agent who did not answer it), and the agent became free (the ``Hangup`` of its last call's
leg, plus the queue's wrap-up; the API request that made it ready). The latency is from that
moment to the moment the Redirect is read from acd's socket.

Decisions whose later moment is the end of a wrap-up are kept apart: that moment is acd's
own clock (its wrap-up timer), not a frame, so they measure acd's timers rather than its
reaction to an event.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from acd.sim.clock import SimClock
from acd.sim.events import AmiEvent
from acd.sim.protocol import ActionMessage

CONNECT_CONTEXT = "acd.connect"
# Translated by acd (acd/ami/translate.py acts on these); the filters pass a few others.
ACTED_ON = frozenset(
    {"UserEvent", "DialBegin", "DialEnd", "Hangup", "DeviceStateChange", "SoftHangupRequest"}
)


class Trigger(StrEnum):
    """What made the decision possible last."""

    ARRIVAL = "call arrives"
    REOFFER = "call back after no answer"
    AGENT_FREE = "agent hangs up"
    API_READY = "agent made ready (API)"
    WRAP_UP_END = "wrap-up ends (acd's timer)"


@dataclass(frozen=True, slots=True)
class Decision:
    """One routing decision as seen on the wire."""

    call: str  # the caller's channel
    agent: str
    trigger: Trigger
    latency: float  # real seconds
    at: float  # perf_counter when the Redirect was read


@dataclass
class _Agent:
    free_at: float = float("-inf")
    free_by: Trigger = Trigger.API_READY
    talking_since: float | None = None  # simulated time of the answer
    offered: bool = False
    busy: list[tuple[float, float]] = field(default_factory=list)  # simulated intervals


class DecisionClock:
    """A :class:`acd.sim.wiretap.WireTap` that pairs decisions with what allowed them."""

    def __init__(
        self,
        clock: SimClock,
        *,
        agents: set[str],
        wrap_up: float,
        no_answer_pause: bool,
        on_offer: Callable[[str], None] | None = None,
        on_missed: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.wrap_up = wrap_up  # simulated seconds
        self.no_answer_pause = no_answer_pause
        self.on_offer = on_offer  # agent id, when acd sends it a call (before the Dial)
        self.on_missed = on_missed  # agent id, when it did not answer
        self.agents = {agent_id: _Agent() for agent_id in agents}
        self.decisions: list[Decision] = []
        self.first_offer: dict[str, float] = {}  # caller's channel -> simulated time
        self.events: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.negative = 0  # decisions seen before the moment computed for them (clamped)
        self._call_ready: dict[str, tuple[float, Trigger]] = {}
        self._agent_of_call: dict[str, str] = {}
        self._watched: dict[str, asyncio.Future[Decision]] = {}

    def watch(self, channel: str) -> asyncio.Future[Decision]:
        """A future for the next decision that gives ``channel``'s caller to an agent."""
        future = asyncio.get_running_loop().create_future()
        self._watched[channel] = future
        return future

    def agent_ready(self, agent_id: str, at: float) -> None:
        """The generator asked acd's API to make ``agent_id`` ready at ``at`` (perf_counter)."""
        agent = self.agents.get(agent_id)
        if agent is not None:
            agent.free_at, agent.free_by = at, Trigger.API_READY

    # --- WireTap ---------------------------------------------------------------------------------
    def event_sent(self, event: AmiEvent) -> None:
        name = event.name
        self.events[name] += 1
        if name == "UserEvent":
            headers = dict(event.headers)
            if headers.get("UserEvent") == "ACDEnqueue":
                self._call_ready[headers["Channel"]] = (time.perf_counter(), Trigger.ARRIVAL)
        elif name == "DialEnd":
            self._dial_end(dict(event.headers))
        elif name == "Hangup":
            channel = dict(event.headers).get("Channel", "")
            agent_id = _agent_endpoint(channel)
            if agent_id in self.agents:
                self._agent_hung_up(agent_id)

    def action_received(self, message: ActionMessage) -> None:
        action = message.action
        self.actions[action] += 1
        if action == "Setvar" and message.get("Variable") == "ACD_AGENT":
            self._agent_of_call[message.get("Channel")] = message.get("Value")
        elif action == "Redirect" and message.get("Context") == CONNECT_CONTEXT:
            self._decided(message.get("Channel"))

    # --- pairing ---------------------------------------------------------------------------------
    def _decided(self, channel: str) -> None:
        now = time.perf_counter()
        agent_id = self._agent_of_call.pop(channel, "")
        agent = self.agents.get(agent_id)
        call_at, call_by = self._call_ready.get(channel, (float("-inf"), Trigger.ARRIVAL))
        # free_at is infinite for an agent acd took without the wire showing it free again
        # (an offer acd gave up on by its own timer): then only the call's moment is known.
        if agent is not None and call_at < agent.free_at < float("inf"):
            since, trigger = agent.free_at, agent.free_by
        else:
            since, trigger = call_at, call_by
        if since == float("-inf"):
            return  # a call acd adopted from before this run: nothing to time it from
        if now < since:
            self.negative += 1
        decision = Decision(channel, agent_id, trigger, max(0.0, now - since), now)
        self.decisions.append(decision)
        watcher = self._watched.pop(channel, None)
        if watcher is not None and not watcher.done():
            watcher.set_result(decision)
        self.first_offer.setdefault(channel, self.clock.now())
        if agent is not None:
            agent.offered = True
            agent.free_at = float("inf")  # taken: free again only after this call
        if self.on_offer is not None and agent_id:
            self.on_offer(agent_id)

    def _dial_end(self, headers: dict[str, str]) -> None:
        agent_id = _agent_endpoint(headers.get("DestChannel", ""))
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        status = headers.get("DialStatus", "")
        if status == "ANSWER":
            agent.talking_since = self.clock.now()
            return
        agent.offered = False
        if status in ("NOANSWER", "BUSY", "CHANUNAVAIL", "CONGESTION"):
            self._call_ready[headers.get("Channel", "")] = (time.perf_counter(), Trigger.REOFFER)
            if self.no_answer_pause:
                if self.on_missed is not None:
                    self.on_missed(agent_id)
                return
        if status == "CANCEL":
            # acd withdrew the offer (the agent paused or logged out while it rang): the
            # caller is back in line from now. (A caller who hung up has no next offer.)
            self._call_ready[headers.get("Channel", "")] = (time.perf_counter(), Trigger.REOFFER)
        # Not paused (or the caller gave up while it rang): free at once, no wrap-up.
        agent.free_at, agent.free_by = time.perf_counter(), Trigger.AGENT_FREE

    def _agent_hung_up(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        if agent.talking_since is None:
            return
        sim_now = self.clock.now()
        agent.busy.append((agent.talking_since, sim_now + self.wrap_up))
        agent.talking_since = None
        agent.offered = False
        wrap_real = self.clock.real(self.wrap_up)
        agent.free_at = time.perf_counter() + wrap_real
        agent.free_by = Trigger.WRAP_UP_END if wrap_real > 0 else Trigger.AGENT_FREE


def _agent_endpoint(channel: str) -> str:
    """``PJSIP/70001-0000001a`` -> ``70001`` (agent ids are their endpoints here)."""
    if not channel.startswith("PJSIP/"):
        return ""
    return channel[6:].rsplit("-", 1)[0]
