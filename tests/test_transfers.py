"""An agent's blind transfer and holds, end to end: on the simulator and on a real Asterisk 22
(the ``pbx`` fixture), with the shipped manager.conf filters.

The transfer is AMI BlindTransfer on the agent's leg: on a real Asterisk it is the same
ast_bridge_transfer_blind a phone's SIP REFER runs (IsExternal: Yes), with the same events
(a REFER from SIPp would need a scenario of its own for little more).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from acd.domain.model import AgentState
from acd.sim import Simulator
from acd.sim.events import AmiEvent
from acd.sim.transfers import hold
from tests.conftest import MakeAcd, _start_simulator, acd_factory
from tests.pbx.tiers import Pbx
from tests.support import RecordingSink, log_in, sample

ROOT = Path(__file__).resolve().parents[1]
# Where the agent sends the caller: another phone, straight (the real tier's extensions.conf
# has the same extension in its [from-callers]).
TARGET_CONTEXT = "from-callers"
QUEUES: list[dict[str, Any]] = [
    {"name": "sales", "ring_timeout_seconds": 2, "wrap_up_seconds": 30},
]


@pytest.fixture
def dialplan(tmp_path: Path) -> Path:
    """The shipped dialplan, and the operator's extensions a transfer can reach."""
    path = tmp_path / "extensions.conf"
    path.write_text(
        f"#include {ROOT / 'asterisk' / 'extensions_acd.conf'}\n\n"
        f"[{TARGET_CONTEXT}]\n"
        "exten => _[1-9]XXX,1,Dial(PJSIP/${EXTEN},30)\n"
        " same => n,Hangup()\n",
        encoding="utf-8",
    )
    return path


async def _connected(pbx: Pbx, make_tier_acd: MakeAcd, target_talk: float) -> tuple[Any, ...]:
    await pbx.add_phone("1001", answer_after=0.5, talk_for=600.0)
    await pbx.add_phone("1002", answer_after=0.5, talk_for=target_talk)
    app, sink = await make_tier_acd(queues=QUEUES)
    await log_in(app, "1001")
    call = await pbx.place_call("sales", caller_name="Иван Петров", patience=120)
    assert await call.answered(timeout=15) == "1001"
    await sink.wait_for("call.answered", call=call.uniqueid)
    leg = await pbx.event("DialEnd", Uniqueid=call.uniqueid, DialStatus="ANSWER")
    return app, sink, call, leg["DestChannel"]


async def test_blind_transfer_frees_the_agent_at_once_and_is_counted_once(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    # The target talks for 3 s (150 simulated seconds: 3 s of the test's time too).
    app, sink, call, agent_leg = await _connected(
        pbx, make_tier_acd, 3.0 if pbx.name == "asterisk" else 150.0
    )
    await pbx.blind_transfer(agent_leg, "1002", TARGET_CONTEXT)
    transferred = await sink.wait_for("call.transferred", call=call.uniqueid)
    assert (transferred["agent"], transferred["transfer"], transferred["target"]) == (
        "1001",
        "blind",
        "1002",
    )
    # The agent's part ended with its leg: wrap-up now, not when the caller hangs up.
    ended = await sink.wait_for("call.ended", call=call.uniqueid)
    freed_at = time.monotonic()
    assert ended["agent"] == "1001"
    agent = await app.store.get_agent("1001")
    assert agent is not None and agent.state is AgentState.WRAP_UP
    assert agent.calls_taken == 1
    fields = await app.store.get_call_fields(call.uniqueid)
    assert (fields["status"], fields["outcome"], fields["detail"]) == (
        "ended",
        "answered",
        "transferred",
    )
    assert (fields["transfer"], fields["transfer_target"], fields["transferred_by"]) == (
        "blind",
        "1002",
        "1001",
    )
    stored = await app.store.get_call(call.uniqueid)
    assert stored is not None
    assert (stored.transfer, stored.transfer_target) == ("blind", "1002")
    # The caller goes on with 1002; that time is not the agent's.
    assert await call.ended(timeout=30) == "completed"
    assert time.monotonic() - freed_at > 1.0
    assert ended["talk_seconds"] < 2.0
    history = [entry["event"] for entry in await app.store.history(call.uniqueid)]
    assert "call.transferred" in history
    assert sample(app, "acd_transfers_total", queue="sales", kind="blind") == 1
    assert sample(app, "acd_calls_offered_total", queue="sales") == 1
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1
    assert sample(app, "acd_calls_abandoned_total", queue="sales") == 0


# --- the simulator only -------------------------------------------------------------------------


@pytest.fixture
async def sim_acd(dialplan: Path, redis_url: str, site: str) -> Any:
    simulator = await _start_simulator(dialplan, filtered=True)
    apps: list[Any] = []
    yield simulator, acd_factory(redis_url, site, simulator.port, apps)
    for app in apps:
        await app.stop()
    await simulator.stop()


async def _sim_connected(sim: Simulator, make: MakeAcd) -> tuple[Any, RecordingSink, Any]:
    sim.add_phone("1001", answer_after=0.5, talk_for=600.0)
    sim.add_phone("1002", answer_after=0.5, talk_for=600.0)
    app, sink = await make(queues=QUEUES)
    await log_in(app, "1001")
    call = await sim.place_call("sales", patience=None)
    await sink.wait_for("call.answered", call=call.uniqueid)
    return app, sink, call


async def test_agent_leg_leaving_without_a_transfer_event_frees_the_agent(
    sim_acd: tuple[Simulator, MakeAcd],
) -> None:
    """A Redirect of the caller by another application (no BlindTransfer event): the agent's
    leg is hung up, and its Hangup alone frees the agent while the caller stays up."""
    sim, make = sim_acd
    app, sink, call = await _sim_connected(sim, make)
    caller = sim.pbx.find_channel(call.channel)
    assert caller is not None
    caller.async_goto(TARGET_CONTEXT, "1002", 1)
    ended = await sink.wait_for("call.ended", call=call.uniqueid)
    assert ended["agent"] == "1001"
    agent = await app.store.get_agent("1001")
    assert agent is not None and agent.state is AgentState.WRAP_UP
    fields = await app.store.get_call_fields(call.uniqueid)
    assert (fields["outcome"], fields["detail"]) == ("answered", "cause 16")
    assert call.is_up
    assert sample(app, "acd_transfers_total", queue="sales", kind="blind") == 0


async def test_holds_are_measured_on_the_call(sim_acd: tuple[Simulator, MakeAcd]) -> None:
    sim, make = sim_acd
    app, sink, call = await _sim_connected(sim, make)
    assert sim.hold("1001", True)
    held = await sink.wait_for("call.held", call=call.uniqueid)
    assert (held["agent"], held["by"]) == ("1001", "agent")
    sim.hold("1001", True)  # a repeated Hold changes nothing
    assert sim.hold("1001", False)
    unheld = await sink.wait_for("call.unheld", call=call.uniqueid)
    assert unheld["by"] == "agent" and unheld["hold_seconds"] >= 0
    fields = await app.store.get_call_fields(call.uniqueid)
    assert fields["holds"] == "1"
    assert round(float(fields["hold_seconds"]), 3) == unheld["hold_seconds"]
    assert fields["held_since"] == ""
    stored = await app.store.get_call(call.uniqueid)
    assert stored is not None and stored.hold_seconds == float(fields["hold_seconds"])
    assert sample(app, "acd_hold_seconds_count", queue="sales") == 1
    # Held again and the agent's leg leaves: the hold ends with it.
    assert sim.hold("1001", True)
    await sink.wait_count("call.held", 2)
    caller = sim.pbx.find_channel(call.channel)
    assert caller is not None
    caller.async_goto(TARGET_CONTEXT, "1002", 1)
    await sink.wait_count("call.unheld", 2)
    await sink.wait_for("call.ended", call=call.uniqueid)
    assert sample(app, "acd_hold_seconds_count", queue="sales") == 2
    history = [entry["event"] for entry in await app.store.history(call.uniqueid)]
    assert history.count("call.held") == 2 and history.count("call.unheld") == 2


async def test_a_call_that_ends_while_held_ends_the_hold(
    sim_acd: tuple[Simulator, MakeAcd],
) -> None:
    sim, make = sim_acd
    app, sink, call = await _sim_connected(sim, make)
    caller = sim.pbx.find_channel(call.channel)
    assert caller is not None
    hold(caller, True)
    held = await sink.wait_for("call.held", call=call.uniqueid)
    assert held["by"] == "caller"
    call.hang_up()
    unheld = await sink.wait_for("call.unheld", call=call.uniqueid)
    assert unheld["by"] == "caller"
    await sink.wait_for("call.ended", call=call.uniqueid)
    fields = await app.store.get_call_fields(call.uniqueid)
    assert fields["outcome"] == "answered" and fields["held_since"] == ""
    assert sample(app, "acd_hold_seconds_count", queue="sales") == 1


async def test_an_attended_transfer_frees_the_agent_and_is_counted_by_kind(
    sim_acd: tuple[Simulator, MakeAcd],
) -> None:
    """Asterisk's AttendedTransfer (the simulator does not perform one: the event is replayed
    as Asterisk 22 writes it, for the live call's caller and agent leg)."""
    sim, make = sim_acd
    app, sink, call = await _sim_connected(sim, make)
    fields = await app.store.get_call_fields(call.uniqueid)
    agent_leg = fields["agent_channel"]
    sim.replay(
        [
            AmiEvent.build(
                "AttendedTransfer",
                "call",
                [
                    ("Result", "Success"),
                    ("OrigTransfererChannel", agent_leg),
                    ("OrigTransfererUniqueid", "1795365472.10"),
                    ("SecondTransfererChannel", "PJSIP/1001-00000099"),
                    ("SecondTransfererExten", "1002"),
                    ("TransfereeChannel", call.channel),
                    ("TransfereeUniqueid", call.uniqueid),
                    ("TransfereeLinkedid", call.uniqueid),
                    ("TransferTargetChannel", "PJSIP/1002-00000100"),
                    ("TransferTargetCallerIDNum", "1002"),
                    ("IsExternal", "No"),
                    ("DestType", "Bridge"),
                    ("DestBridgeUniqueid", "b-2"),
                ],
            )
        ]
    )
    transferred = await sink.wait_for("call.transferred", call=call.uniqueid)
    assert (transferred["transfer"], transferred["target"]) == ("attended", "1002")
    await sink.wait_for("call.ended", call=call.uniqueid)
    agent = await app.store.get_agent("1001")
    assert agent is not None and agent.state is AgentState.WRAP_UP
    assert sample(app, "acd_transfers_total", queue="sales", kind="attended") == 1
