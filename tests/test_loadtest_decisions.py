"""The load generator's decision clock: each offer is timed from the moment that made it
possible, so a figure in the README is acd's latency, not a caller's legitimate wait."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from acd.sim.clock import SimClock
from acd.sim.events import AmiEvent
from acd.sim.protocol import ActionMessage
from loadtest import decisions
from loadtest.decisions import DecisionClock, Trigger

CALLER = "PJSIP/trunk-00000001"


def _action(**headers: str) -> ActionMessage:
    return ActionMessage([f"{name}: {value}" for name, value in headers.items()])


def _offer(clock: DecisionClock, agent: str) -> None:
    clock.action_received(
        _action(Action="Setvar", Channel=CALLER, Variable="ACD_AGENT", Value=agent)
    )
    clock.action_received(_action(Action="Redirect", Channel=CALLER, Context="acd.connect"))


def test_an_offer_acd_withdrew_is_timed_again_from_the_withdrawal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The agent paused while it rang: Dial ends with CANCEL and the caller is back in line.
    The next offer is timed from then, not from the caller's arrival."""
    now = [100.0]  # the clock's perf_counter, moved by the test
    monkeypatch.setattr(decisions, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    clock = DecisionClock(SimClock(), agents={"1001", "1002"}, wrap_up=0.0, no_answer_pause=True)
    enqueue = [("Channel", CALLER), ("UserEvent", "ACDEnqueue")]
    clock.event_sent(AmiEvent.build("UserEvent", "user", enqueue))
    _offer(clock, "1001")
    now[0] += 4.0  # the phone rang 4 s: the next decision must not include them
    dial_end = [("Channel", CALLER), ("DestChannel", "PJSIP/1001-01"), ("DialStatus", "CANCEL")]
    clock.event_sent(AmiEvent.build("DialEnd", "call", dial_end))
    now[0] += 0.003
    _offer(clock, "1002")
    first, again = clock.decisions
    assert first.trigger is Trigger.ARRIVAL
    assert again.trigger is Trigger.REOFFER
    assert again.latency == pytest.approx(0.003), again
