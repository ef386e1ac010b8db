"""The random caller stream (demo, ``acd sim``) and Originate towards an agent phone."""

from __future__ import annotations

import asyncio
import logging
import random
import socket

import pytest

from acd.sim import Simulator, run_standalone
from acd.sim.traffic import generate_callers
from tests.sim_client import AmiClient


async def test_generated_callers_arrive_in_the_given_queues_with_their_skills() -> None:
    sim = Simulator(username="acd", secret="s3cret", time_scale=0.01, seed=1)
    await sim.start()
    ami = await AmiClient.connect(sim.port)
    await ami.login()
    traffic = asyncio.create_task(
        generate_callers(
            sim,
            queues=["sales", "поддержка"],
            calls_per_minute=120,
            rng=random.Random(4),
            skills_by_queue={"поддержка": ["lang:ru=1"]},
        )
    )
    events = [await ami.expect("UserEvent", UserEvent="ACDEnqueue") for _ in range(6)]
    traffic.cancel()
    await asyncio.gather(traffic, return_exceptions=True)
    assert {e["Queue"] for e in events} <= {"sales", "поддержка"}
    assert all(e["Skills"] == ("lang:ru=1" if e["Queue"] == "поддержка" else "") for e in events)
    await ami.close()
    await sim.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_standalone_serves_phones_and_callers_until_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()

    class Started(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "AMI on" in record.getMessage():
                started.set()

    handler = Started()
    logging.getLogger("acd.sim.standalone").addHandler(handler)
    caplog.set_level(logging.INFO, logger="acd.sim")
    port = _free_port()
    task = asyncio.create_task(
        run_standalone("127.0.0.1", port, "acd", "pw", phones=3, calls_per_minute=3000, seed=2)
    )
    try:
        await asyncio.wait_for(started.wait(), 5)
        ami = await AmiClient.connect(port)
        await ami.login("acd", "pw")
        enqueue = await ami.expect("UserEvent", UserEvent="ACDEnqueue")
        assert enqueue["Channel"].startswith("PJSIP/trunk-")
        await ami.close()
    finally:
        logging.getLogger("acd.sim.standalone").removeHandler(handler)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


async def test_originate_to_an_agent_phone_runs_the_dialplan_once_answered() -> None:
    sim = Simulator(username="acd", secret="s3cret", time_scale=0.01)
    await sim.start()
    phone = sim.add_phone("1002", answer_after=0.5, talk_for=1)
    ami = await AmiClient.connect(sim.port)
    await ami.login()
    reply = await ami.action(
        "Originate",
        Channel="PJSIP/1002",
        Context="acd.inbound",
        Exten="s",
        Priority="1",
        Async="yes",
        CallerID="Callback <100>",
        Variable="ACD_QUEUE=callback",
    )
    assert reply["Message"] == "Originate successfully queued"
    answered = await ami.expect("OriginateResponse", ActionID=reply["ActionID"])
    assert (answered["Response"], answered["Reason"]) == ("Success", "4")
    enqueue = await ami.expect("UserEvent", UserEvent="ACDEnqueue", Channel=answered["Channel"])
    assert enqueue["Queue"] == "callback" and phone.calls_answered == 1
    await ami.expect("Hangup", Channel=answered["Channel"])
    await ami.close()
    await sim.stop()
