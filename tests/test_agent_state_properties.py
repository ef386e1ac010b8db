"""An agent's state over random sequences of requests (ready, pause, log out) and telephony
events (arrivals, rings, answers, misses, late results of old offers, hang-ups, timers),
driven through the domain's own functions and the routing indexes, as the service drives
them: an agent is never offered a call while paused or logged out, never holds two, and a
change asked for during a conversation is the state it takes when the call ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.domain.agent_index import AgentIndex
from acd.domain.call_index import WaitingCalls
from acd.domain.model import Agent, AgentState, Call, Queue
from acd.domain.outcomes import (
    after_conversation,
    after_no_answer,
    after_timer,
    after_withdrawn_offer,
)
from acd.domain.state_machine import (
    ON_CALL,
    RefusedRequest,
    RequestEffect,
    plan_request,
    request_effect,
    transition,
)
from acd.domain.strategies import is_available

S = AgentState
T0 = 1_700_000_000.0
AGENTS = ("a0", "a1", "a2")
QUEUE = Queue("sales")


@dataclass
class Offer:
    call: Call
    agent: str
    fence: int
    connected: bool = False


@dataclass
class Centre:
    """The service's part: Redis's compare-and-sets become checks of the offer standing."""

    agents: dict[str, Agent]
    index: AgentIndex = field(init=False)
    waiting: WaitingCalls = field(init=False)
    offers: dict[str, Offer] = field(default_factory=dict)  # call id -> the offer standing
    old_fences: list[tuple[str, int]] = field(default_factory=list)  # settled offers
    fences: int = 0
    calls: int = 0
    now: float = T0

    def __post_init__(self) -> None:
        self.index = AgentIndex([QUEUE], self.agents.values())
        self.waiting = WaitingCalls([QUEUE])

    def set_agent(self, agent: Agent) -> None:
        self.agents[agent.id] = agent
        self.index.update(agent)

    # --- routing, as arrivals and freed agents do it -------------------------------------------

    def route(self) -> None:
        for agent_id in AGENTS:
            decision = self.waiting.choose_call_for_agent(self.agents[agent_id], now=self.now)
            if decision is not None:
                self.offer(decision.call_id, decision.agent_id)
        for call in list(self.waiting.in_line(QUEUE.name, self.now)):
            decision = self.index.choose_agent_for_call(call, now=self.now)
            if decision is not None:
                self.offer(call.id, decision.agent_id)

    def offer(self, call_id: str, agent_id: str) -> None:
        agent = self.agents[agent_id]
        assert agent.state not in (S.PAUSED, S.LOGGED_OUT), "offered while paused or logged out"
        assert is_available(agent) and not agent.call, "offered a second call"
        assert all(o.agent != agent_id for o in self.offers.values()), "holds two calls"
        call = self.waiting.remove(call_id)
        assert call is not None
        self.fences += 1
        self.offers[call_id] = Offer(call, agent_id, self.fences)
        self.set_agent(transition(agent, S.RESERVED, self.now, call=call_id))

    def settle(self, call_id: str, fence: int) -> Offer | None:
        """The offer ``fence`` of the call, if it is the one standing (the release/connect
        scripts' check); it is taken off."""
        offer = self.offers.get(call_id)
        if offer is None or offer.fence != fence:
            return None
        return offer

    def back_in_line(self, offer: Offer) -> None:
        del self.offers[offer.call.id]
        self.old_fences.append((offer.call.id, offer.fence))
        self.waiting.add(replace(offer.call, attempts=offer.call.attempts + 1))

    # --- telephony events ----------------------------------------------------------------------

    def arrive(self) -> None:
        self.calls += 1
        self.waiting.add(
            Call(f"c{self.calls}", f"PJSIP/t-{self.calls}", QUEUE.name, 0, arrived_at=self.now)
        )

    def ring(self) -> None:
        """The phones of the offers placed so far ring."""
        for offer in self.offers.values():
            if self.agents[offer.agent].state is S.RESERVED:
                self.set_agent(transition(self.agents[offer.agent], S.RINGING, self.now))

    def answer(self, pick: int, stale: bool) -> None:
        call_id, fence = self._fence(pick, stale)
        offer = self.settle(call_id, fence)
        if offer is None or offer.connected:
            return  # a late or repeated answer: changes nothing
        offer.connected = True
        self.set_agent(transition(self.agents[offer.agent], S.BUSY, self.now))

    def miss(self, pick: int, stale: bool) -> None:
        call_id, fence = self._fence(pick, stale)
        offer = self.settle(call_id, fence)
        if offer is None or offer.connected:
            return
        change = after_no_answer(self.agents[offer.agent], self.now, pause=True, pause_seconds=10)
        self.set_agent(change.agent)
        self.back_in_line(offer)

    def hang_up(self, pick: int) -> None:
        """A caller hangs up: waiting, ringing or talking."""
        in_line = self.waiting.in_line(QUEUE.name, self.now)
        offer = self._pick(pick, connected=None)
        if offer is None:
            if in_line:
                self.waiting.remove(in_line[pick % len(in_line)].id)
            return
        del self.offers[offer.call.id]
        agent = self.agents[offer.agent]
        if offer.connected:
            pending = agent.pending_state
            change = after_conversation(agent, self.now, talk=5, wrap_up_seconds=5, today="d")
            if pending is not None:
                assert change.agent.state is pending, "the pending change was not taken"
                if pending is S.PAUSED:
                    assert change.agent.pause_reason == agent.pending_reason
        else:
            change = after_withdrawn_offer(agent, self.now)
        self.set_agent(change.agent)

    def timer(self, agent_id: str) -> None:
        agent = self.agents[agent_id]
        if agent.state is S.WRAP_UP or agent.pause_reason == "no-answer":
            self.set_agent(after_timer(agent, self.now).agent)

    # --- a person's request --------------------------------------------------------------------

    def request(self, agent_id: str, target: AgentState, reason: str) -> None:
        agent = self.agents[agent_id]
        try:
            effect = request_effect(agent, target)
        except RefusedRequest:
            assert (target is S.READY and agent.state in ON_CALL) or target is agent.state
            return
        if effect is RequestEffect.WITHDRAW:
            offer = self.offers[agent.call]
            assert offer.agent == agent_id and not offer.connected
            self.back_in_line(offer)  # not the agent's no-answer: its reason is its own
        planned = plan_request(agent, target, self.now, reason)
        if effect is RequestEffect.WITHDRAW:
            assert planned.pause_reason != "no-answer"
        self.set_agent(planned)

    # --- the invariants, after every step ------------------------------------------------------

    def check(self) -> None:
        holders: dict[str, str] = {}
        for call_id, offer in self.offers.items():
            assert offer.agent not in holders, "an agent holds two calls"
            holders[offer.agent] = call_id
            agent = self.agents[offer.agent]
            assert agent.call == call_id
            assert agent.state is (S.BUSY if offer.connected else agent.state)
            assert agent.state in ((S.BUSY,) if offer.connected else (S.RESERVED, S.RINGING))
        for agent in self.agents.values():
            assert (agent.id in holders) == (agent.state in ON_CALL)
            assert agent.pending_state is None or agent.state is S.BUSY
            if agent.state in (S.PAUSED, S.LOGGED_OUT):
                assert agent.id not in holders

    def _pick(self, pick: int, connected: bool | None) -> Offer | None:
        offers = [o for o in self.offers.values() if connected is None or o.connected is connected]
        return offers[pick % len(offers)] if offers else None

    def _fence(self, pick: int, stale: bool) -> tuple[str, int]:
        if stale and self.old_fences:
            return self.old_fences[pick % len(self.old_fences)]
        offer = self._pick(pick, connected=None)
        return (offer.call.id, offer.fence) if offer else ("none", 0)


REQUEST = st.tuples(
    st.just("request"),
    st.sampled_from(AGENTS),
    st.sampled_from([S.READY, S.PAUSED, S.LOGGED_OUT]),
    st.sampled_from(["lunch", "break"]),
)
EVENT = st.one_of(
    st.tuples(st.just("arrive")),
    st.tuples(st.just("ring")),
    st.tuples(st.sampled_from(["answer", "miss"]), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("hang_up"), st.integers(0, 5)),
    st.tuples(st.just("timer"), st.sampled_from(AGENTS)),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([S.READY, S.READY, S.PAUSED, S.LOGGED_OUT]), min_size=3, max_size=3),
    st.lists(st.one_of(REQUEST, EVENT), max_size=60),
)
def test_no_agent_is_offered_a_call_while_paused_or_logged_out_nor_holds_two(
    initial: list[AgentState], steps: list[tuple[object, ...]]
) -> None:
    agents = {
        a: Agent(
            a,
            f"PJSIP/{a}",
            queues={QUEUE.name: 1},
            state=s,
            pause_reason="break" if s is S.PAUSED else "",
        )
        for a, s in zip(AGENTS, initial, strict=True)
    }
    centre = Centre(agents)
    for step in steps:
        centre.now += 1.0
        name, *args = step
        getattr(centre, str(name))(*args)
        centre.check()
        centre.route()
        centre.check()
