"""acd finds out when Asterisk does not run the dialplan it ships: an operator's context of the
same name merged into one of ours, or one of ours missing. The simulator lists the dialplan
(ShowDialPlan) as Asterisk 22.10.1 did for the same files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from acd.ami.dialplan import (
    MISSING,
    check_context,
    differences,
    read_contexts,
    shipped_contexts,
)
from acd.sim import Simulator
from acd.sim.dialplan import Dialplan
from tests.conftest import TIME_SCALE, MakeAcd
from tests.support import sample

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "asterisk" / "extensions_acd.conf"

# An operator's own [acd.connect], loaded before the #include of acd's.
OPERATOR = """[acd.connect]
exten => s,1,NoOp(operator's own)
 same => n,Hangup()
exten => 100,1,NoOp(operator extra)
"""
# acd.connect as extensions_acd.conf had it when the transcript below was recorded.
ACD_CONNECT = """[acd.connect]
exten => s,1,Dial(${ACD_AGENT_DIAL},${ACD_RING},m(${ACD_MOH})b(acd.agent-leg^s^1))
 same => n,UserEvent(ACDDialResult,"Status: ${DIALSTATUS}","Agent: ${ACD_AGENT}")
 same => n,Goto(acd.inbound,s,hold)
"""
# Asterisk 22.10.1 with those two files (its console: "Unable to register extension 's'
# priority 1 in 'acd.connect', already in use", the same for priority 2), asked
# "Action: ShowDialPlan / ActionID: d1 / Context: acd.connect", then d2 for acd.nope.
REAL_TRANSCRIPT = """Response: Success
ActionID: d1
EventList: start
Message: DialPlan list will follow

Event: ListDialplan
ActionID: d1
Context: acd.connect
Extension: 100
Priority: 1
Application: NoOp
AppData: operator extra
Registrar: pbx_config

Event: ListDialplan
ActionID: d1
Context: acd.connect
Extension: s
Priority: 1
Application: NoOp
AppData: operator's own
Registrar: pbx_config

Event: ListDialplan
ActionID: d1
Context: acd.connect
Extension: s
Priority: 2
Application: Hangup
AppData:
Registrar: pbx_config

Event: ListDialplan
ActionID: d1
Context: acd.connect
Extension: s
Priority: 3
Application: Goto
AppData: acd.inbound,s,hold
Registrar: pbx_config

Event: ShowDialPlanComplete
ActionID: d1
EventList: Complete
ListItems: 4
ListExtensions: 2
ListPriorities: 4
ListContexts: 1

Response: Error
ActionID: d2
Message: Did not find context acd.nope

""".replace("AppData:\n", "AppData: \n").replace("\n", "\r\n")  # "AppData: " for none


@pytest.fixture
def dialplan(tmp_path: Path) -> Path:
    """The operator's extensions.conf: their own [acd.connect], then acd's file."""
    path = tmp_path / "extensions.conf"
    path.write_text(f"{OPERATOR}#include {SHIPPED}\n", encoding="utf-8")
    return path


class ErrorsFor(logging.Handler):
    """ERROR lines of acd.ami about one context, awaitable."""

    def __init__(self, context: str) -> None:
        super().__init__(logging.ERROR)
        self.context = context
        self.records: list[logging.LogRecord] = []
        self.arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "context", None) == self.context:
            self.records.append(record)
            self.arrived.set()


@pytest.fixture
def connect_errors() -> Iterator[ErrorsFor]:
    handler = ErrorsFor("acd.connect")
    logger = logging.getLogger("acd.ami")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def test_simulator_lists_a_merged_context_as_asterisk_does(tmp_path: Path) -> None:
    files = [tmp_path / "operator.conf", tmp_path / "acd.conf"]
    files[0].write_text(OPERATOR, encoding="utf-8")
    files[1].write_text(ACD_CONNECT, encoding="utf-8")
    sim = Simulator(username="acd", secret="s3cret", dialplan_files=files, time_scale=TIME_SCALE)
    await sim.start(host="127.0.0.1", port=0)
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(
        b"Action: Login\r\nUsername: acd\r\nSecret: s3cret\r\nEvents: off\r\n\r\n"
        b"Action: ShowDialPlan\r\nActionID: d1\r\nContext: acd.connect\r\n\r\n"
        b"Action: ShowDialPlan\r\nActionID: d2\r\nContext: acd.nope\r\n\r\n"
    )
    received = b""
    async with asyncio.timeout(5):
        while b"Message: Did not find context acd.nope\r\n\r\n" not in received:
            chunk = await reader.read(65536)
            assert chunk, "the simulator closed the connection"
            received += chunk
    writer.close()
    await sim.stop()
    text = received.decode()
    assert text[text.index("Response: Success\r\nActionID: d1") :] == REAL_TRANSCRIPT


async def test_an_operator_context_merged_into_acd_connect_is_reported_at_every_login(
    sim: Simulator, make_acd: MakeAcd, connect_errors: ErrorsFor
) -> None:
    app, _ = await make_acd()
    await asyncio.wait_for(connect_errors.arrived.wait(), 10)
    message = connect_errors.records[0].getMessage()
    assert "dialplan context acd.connect is not the one acd ships" in message
    assert "s,1 is NoOp(operator's own), not " in message
    assert "100,1 is NoOp(operator extra), which acd does not define" in message
    assert "dialplan show acd.connect" in message
    assert sample(app, "acd_dialplan_problems", context="acd.connect") == 1
    for context in ("acd.inbound", "acd.agent-leg", "acd.escalate", "acd.fallback"):
        assert sample(app, "acd_dialplan_problems", context=context) == 0
    # Routing goes on; and after a reconnection (Asterisk may have been restarted with
    # another dialplan) acd checks again.
    connect_errors.arrived.clear()
    await sim.drop_connections()
    await asyncio.wait_for(connect_errors.arrived.wait(), 10)
    assert len(connect_errors.records) == 2


async def test_a_missing_context_is_reported(sim: Simulator, make_acd: MakeAcd) -> None:
    app, _ = await make_acd()
    assert await check_context(app.ami, "acd.nothing", {}) == [MISSING]


def test_what_differs_is_said_in_the_dialplan_s_words() -> None:
    expected = {("s", "1"): ("Dial", "${ACD_AGENT_DIAL}", ""), ("s", "2"): ("Return", "", "x")}
    found = {("s", "1"): ("Dial", "${ACD_AGENT_DIAL}", "")}
    assert differences(expected, found, ["includecontext other"]) == [
        "s,2 is missing, not Return() labelled x",
        "includecontext other, which acd does not define",
    ]
    assert differences(expected, {**found, ("s", "2"): ("Return", "", "x")}, []) == []


def test_acd_reads_its_shipped_dialplan_as_pbx_config_does() -> None:
    """acd's short reader and the simulator's (checked against real Asterisk) agree."""
    mine = read_contexts(SHIPPED.read_text(encoding="utf-8"))
    sim = Dialplan.load([SHIPPED])
    theirs = {
        name: {
            (e.name, str(p)): (s.app, s.args, s.label or "")
            for e in context.extensions.values()
            for p, s in e.steps.items()
        }
        for name, context in sim.contexts.items()
    }
    assert mine == theirs
    assert {"acd.inbound", "acd.connect", "acd.agent-leg", "acd.escalate", "acd.fallback"} <= set(
        shipped_contexts()
    )
