"""The simulator applies manager.conf eventfilter lines as Asterisk 22 does, and acd works with
the filters asterisk/manager.conf ships: every event acd needs passes them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acd.sim import Simulator
from acd.sim.eventfilters import EventFilters, load_user_filters, parse_filter
from acd.sim.events import AmiEvent
from tests.conftest import TIME_SCALE, MakeAcd
from tests.support import log_in, sample

MANAGER_CONF = Path(__file__).resolve().parents[1] / "asterisk" / "manager.conf"
NEWCHANNEL = AmiEvent.build("Newchannel", "call", [("Channel", "XXX"), ("Someheader", "YYY")])
VARSET = AmiEvent.build("VarSet", "dialplan", [("Channel", "ABC"), ("Someheader", "XXX")])


# The cases of manager.c's own test table (TEST_EVENT_NEWCHANNEL, TEST_EVENT_VARSET).
@pytest.mark.parametrize(
    ("criteria", "value", "event", "sent"),
    [
        ("eventfilter", "XXX", NEWCHANNEL, True),
        ("eventfilter", "!XXX", VARSET, False),
        ("eventfilter(name(VarSet),method(none))", "", VARSET, True),
        ("eventfilter(name(Newchannel),method(regex))", "X[XYZ]X", NEWCHANNEL, True),
        ("eventfilter(name(Newchannel),method(regex))", "X[abc]X", NEWCHANNEL, False),
        (
            "eventfilter(action(exclude),name(Newchannel),method(regex))",
            "X[XYZ]X",
            NEWCHANNEL,
            False,
        ),
        (
            "eventfilter(action(exclude),name(Newchannel),method(regex))",
            "X[abc]X",
            NEWCHANNEL,
            True,
        ),
        (
            "eventfilter(action(include),name(VarSet),header(Channel),method(starts_with))",
            "AB",
            VARSET,
            True,
        ),
        (
            "eventfilter(action(include),name(VarSet),header(Channel),method(ends_with))",
            "BC",
            VARSET,
            True,
        ),
        (
            "eventfilter(action(include),name(VarSet),header(Channel),method(exact))",
            "ABC",
            VARSET,
            True,
        ),
        (
            "eventfilter(action(include),name(VarSet),header(Channel),method(exact))",
            "XXX",
            VARSET,
            False,
        ),
        ("eventfilter(name(VarSet),header(Channel),method(exact))", "!ZZZ", VARSET, True),
        (
            "eventfilter(action(exclude),name(VarSet),header(Channel),method(exact))",
            "ZZZ",
            VARSET,
            True,
        ),
    ],
)
def test_filters_decide_as_manager_c_does(
    criteria: str, value: str, event: AmiEvent, sent: bool
) -> None:
    parsed = parse_filter(criteria, value)
    filters = EventFilters(exclude=(parsed,)) if parsed.exclude else EventFilters((parsed,))
    assert filters.allows(event) is sent


@pytest.mark.parametrize(
    ("criteria", "value"),
    [
        ("eventfilter(action(inlude))", ""),
        ("eventfilter(nnnn(yyy))", "XXX"),
        ("eventfilter(name(VarSet),method(none))", "XXX"),
        ("eventfilter(name(VarSet))", "X"),
        ("eventfilter", ""),
    ],
)
def test_filters_manager_c_refuses_are_refused(criteria: str, value: str) -> None:
    with pytest.raises(ValueError, match="filter"):
        parse_filter(criteria, value)


def test_the_shipped_filters_keep_what_acd_reads_and_drop_the_rest() -> None:
    filters = load_user_filters(MANAGER_CONF, "acd")
    assert len(filters.include) == 14 and not filters.exclude

    def event(name: str, *headers: tuple[str, str]) -> AmiEvent:
        return AmiEvent.build(name, "call", list(headers))

    assert filters.allows(event("UserEvent", ("UserEvent", "ACDEnqueue")))
    assert filters.allows(event("UserEvent", ("UserEvent", "ACDEscalate")))
    assert not filters.allows(event("UserEvent", ("UserEvent", "SomeoneElse")))
    assert filters.allows(event("DialEnd", ("DialStatus", "ANSWER")))
    assert not filters.allows(event("Newexten", ("Context", "acd.inbound")))
    assert not filters.allows(event("VarSet", ("Variable", "ACD_LEFT")))
    assert filters.allows(event("SoftHangupRequest", ("Cause", "4")))  # Asterisk shutting down
    assert not filters.allows(event("SoftHangupRequest", ("Cause", "16"), ("TechCause", "4")))
    assert filters.allows(event("BlindTransfer", ("Result", "Success")))
    assert filters.allows(event("AttendedTransfer", ("Result", "Success")))
    assert filters.allows(event("Hold", ("MusicClass", "default")))
    assert filters.allows(event("Unhold"))


@pytest.fixture
async def sim(dialplan: Path) -> AsyncIterator[Simulator]:
    """The simulator with the acd user's eventfilter lines of asterisk/manager.conf."""
    simulator = Simulator(
        username="acd",
        secret="s3cret",
        dialplan_files=[dialplan],
        time_scale=TIME_SCALE,
        seed=7,
        manager_conf=MANAGER_CONF,
    )
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.stop()


async def test_acd_routes_answers_retries_and_escalates_with_the_shipped_filters(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=0.5, answers=False)
    sim.add_phone("1002", answer_after=0.5, talk_for=3600)
    sim.add_phone("2001", answer_after=0.5, talk_for=3600)
    agents = [
        {"id": "1001", "dial": "PJSIP/1001", "queues": {"sales": 1}, "team": "north"},
        {"id": "1002", "dial": "PJSIP/1002", "queues": {"sales": 1}, "team": "north"},
        {"id": "2001", "dial": "PJSIP/2001", "team": "north", "role": "lead"},
    ]
    app, sink = await make_acd(agents=agents)
    await log_in(app, "1001", "1002", "2001")
    # 1001 does not answer: the call comes back and 1002 takes it; then 1002 keys *0.
    call = await sim.place_call(queue="sales", caller_name="Ilse", patience=None)
    await sink.wait_for("agent.missed", call=call.uniqueid, agent="1001")
    assert await call.answered(timeout=10) == "1002"
    assert await sim.press_feature("1002", "*0")
    await sink.wait_for("call.answered", call=call.uniqueid, agent="2001")
    call.hang_up()
    await sink.wait_for("call.ended", call=call.uniqueid)
    # A caller who gives up is counted abandoned.
    gone = await sim.place_call(queue="sales", caller_name="Kees", patience=None)
    await sink.wait_for("call.offered", call=gone.uniqueid)
    gone.hang_up()
    async with asyncio.timeout(10):
        await sink.wait_for("call.abandoned", call=gone.uniqueid)
    assert sample(app, "acd_calls_answered_total", queue="sales") == 1
    assert sample(app, "acd_calls_escalated_total", queue="sales") == 1
    # What reached acd was only what it reads: no dialplan chatter.
    received = {
        sample.labels["event"]
        for metric in app.metrics.registry.collect()
        if metric.name == "acd_ami_events"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert "DialEnd" in received and "UserEvent" in received
    assert not received & {"Newexten", "VarSet", "Newstate", "MusicOnHoldStart"}
