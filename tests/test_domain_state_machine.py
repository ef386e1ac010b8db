"""The agent state machine: every allowed transition, the forbidden ones, pause codes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acd.domain.model import Agent, AgentState
from acd.domain.state_machine import (
    ON_CALL,
    TRANSITIONS,
    IllegalTransition,
    PauseReason,
    can_transition,
    check_pause_reason,
    transition,
)
from acd.errors import InvalidInput

S = AgentState
NOW = 1_700_000_000.0

ALLOWED = [(a, b) for a, targets in TRANSITIONS.items() for b in sorted(targets)]
FORBIDDEN = [(a, b) for a in S for b in S if b not in TRANSITIONS[a]]


def agent_in(state: AgentState) -> Agent:
    on_call = "c1" if state in ON_CALL else ""
    reason = "lunch" if state is S.PAUSED else ""
    return Agent(
        id="anna",
        dial="PJSIP/1001",
        state=state,
        call=on_call,
        pause_reason=reason,
        idle_since=NOW - 500,
        state_since=NOW - 500,
    )


def test_every_state_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_every_allowed_transition(current: AgentState, target: AgentState) -> None:
    moved = transition(agent_in(current), target, NOW, reason="break", call="c1")
    assert moved.state is target and moved.state_since == NOW
    assert can_transition(current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_every_forbidden_transition_is_refused(current: AgentState, target: AgentState) -> None:
    with pytest.raises(IllegalTransition) as error:
        transition(agent_in(current), target, NOW, reason="break", call="c1")
    assert (error.value.current, error.value.target) == (current, target)
    assert not can_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target", "why"),
    [
        # Busy -> paused or logged out is taken as the call ends: a request during the call
        # waits for that (tests/test_domain_requests.py).
        (S.LOGGED_OUT, S.RESERVED, "nobody gets calls before logging in"),
        (S.PAUSED, S.RESERVED, "a paused agent gets no calls"),
        (S.WRAP_UP, S.RESERVED, "after-call work is not interrupted by a call"),
        (S.READY, S.BUSY, "a call is always claimed (reserved) first"),
        (S.READY, S.READY, "ready again would reset the idle clock unfairly"),
    ],
)
def test_forbidden_in_the_contact_centres_words(
    current: AgentState, target: AgentState, why: str
) -> None:
    assert not can_transition(current, target), why


def test_becoming_ready_starts_the_idle_clock() -> None:
    assert transition(agent_in(S.WRAP_UP), S.READY, NOW).idle_since == NOW


def test_a_pause_keeps_the_idle_clock_for_reports() -> None:
    assert transition(agent_in(S.READY), S.PAUSED, NOW, reason="lunch").idle_since == NOW - 500


@pytest.mark.parametrize("reason", list(PauseReason))
def test_every_pause_reason_code_is_accepted(reason: PauseReason) -> None:
    paused = transition(agent_in(S.READY), S.PAUSED, NOW, reason=reason.value)
    assert paused.pause_reason == reason.value


@pytest.mark.parametrize("reason", ["", "smoke", "BREAK"])
def test_a_pause_needs_a_known_reason_code(reason: str) -> None:
    with pytest.raises(InvalidInput, match="reason code"):
        transition(agent_in(S.READY), S.PAUSED, NOW, reason=reason)
    with pytest.raises(InvalidInput):
        check_pause_reason(reason)


def test_pause_reason_changes_while_paused() -> None:
    moved = transition(agent_in(S.PAUSED), S.PAUSED, NOW, reason="meeting")
    assert moved.pause_reason == "meeting"


def test_leaving_a_pause_clears_its_reason() -> None:
    assert transition(agent_in(S.PAUSED), S.READY, NOW).pause_reason == ""


def test_no_answer_pauses_the_agent_with_its_own_code() -> None:
    moved = transition(agent_in(S.RINGING), S.PAUSED, NOW, reason=PauseReason.NO_ANSWER)
    assert (moved.state, moved.pause_reason, moved.call) == (S.PAUSED, "no-answer", "")


def test_an_offer_names_its_call_and_the_agent_keeps_it_until_the_end() -> None:
    reserved = transition(agent_in(S.READY), S.RESERVED, NOW, call="c7")
    ringing = transition(reserved, S.RINGING, NOW + 1)
    busy = transition(ringing, S.BUSY, NOW + 5, call="c7")
    assert reserved.call == ringing.call == busy.call == "c7"
    assert transition(busy, S.WRAP_UP, NOW + 60).call == ""


def test_an_offer_without_a_call_is_refused() -> None:
    with pytest.raises(InvalidInput, match="which call"):
        transition(agent_in(S.READY), S.RESERVED, NOW)


def test_an_agent_never_holds_two_calls() -> None:
    with pytest.raises(InvalidInput, match="already holds"):
        transition(agent_in(S.RESERVED), S.RINGING, NOW, call="another")


def test_device_busy_survives_state_changes() -> None:
    on_phone = replace(agent_in(S.READY), device_busy=True)
    assert transition(on_phone, S.PAUSED, NOW, reason="break").device_busy
