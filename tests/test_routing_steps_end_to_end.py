"""Routing steps, fallbacks and queue strategies end to end through the simulator: thresholds
that relax with time, a queue that falls back to another queue, to voicemail or to a callback
request, team leads when the line is too long, supervisors only when a step names them,
agents in several queues, and a missed offer that keeps the caller's place in line.

The simulator's clock runs 50x faster than real time; a step's ``after`` is on acd's own
(real) clock, so the steps here come after 0.3 s.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from acd.app import AcdApp
from acd.domain.model import AgentState, Strategy
from acd.domain.strategies import pick_agent
from acd.sim import Simulator
from acd.store.keys import Keys
from tests.conftest import TIME_SCALE, MakeAcd
from tests.support import log_in, sample

STEP_AFTER = 0.3  # seconds of acd's clock before a queue's second step

VOICEMAIL_DIALPLAN = """\
[vm-sales]
exten => s,1,Playback(vm-intro)
 same => n,Hangup()
"""


@pytest.fixture
async def sim(dialplan: Path, tmp_path: Path) -> AsyncIterator[Simulator]:
    """The conftest's simulator (which ``make_acd`` connects to), its dialplan with a
    voicemail context added: acd sends callers there by name."""
    voicemail = tmp_path / "extensions_voicemail.conf"
    voicemail.write_text(VOICEMAIL_DIALPLAN, encoding="utf-8")
    simulator = Simulator(
        username="acd",
        secret="s3cret",
        dialplan_files=[dialplan, voicemail],
        time_scale=TIME_SCALE,
        seed=7,
    )
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.stop()


async def at_work_but_paused(app: AcdApp, *agent_ids: str) -> None:
    """Logged in, on a break: they count as someone who could take the queue's calls, so a
    call waits at its first step instead of skipping the steps nobody could serve."""
    await log_in(app, *agent_ids)
    await take_a_break(app, *agent_ids)


async def take_a_break(app: AcdApp, *agent_ids: str) -> None:
    for agent_id in agent_ids:
        await app.router.call(
            lambda a=agent_id: app.router.change_agent_state(  # type: ignore[misc]
                a, AgentState.PAUSED, "break"
            )
        )


async def router_knows_who_is_at_work(app: AcdApp) -> None:
    """A new call's overflow check reads who is logged in as of the router's last tick;
    have it re-read that now (as the API does after a change), so that a test does not
    depend on where the next tick falls."""
    await app.router.call(app.router.reload_config)


async def first_offer(app: AcdApp, call_id: str) -> tuple[str, float]:
    """The agent ``call_id`` was first offered to, and how long it had waited by then."""
    fields = await app.store.get_call_fields(call_id)
    offers = [
        entry
        for entry in await app.store.history(call_id)
        if entry["event"] == "call.offered_to_agent"
    ]
    assert offers, f"call {call_id} was never offered to an agent"
    return offers[0]["agent"], offers[0]["at"] - float(fields["arrived_at"])


class AmiListener:
    """Another AMI client on the simulator, reading its event stream as a wallboard would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._buffer = b""

    @classmethod
    async def connect(cls, port: int) -> AmiListener:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"Action: Login\r\nUsername: acd\r\nSecret: s3cret\r\n\r\n")
        await writer.drain()
        listener = cls(reader, writer)
        await listener.wait_for(Response="Success")  # events flow from here on
        return listener

    async def wait_for(self, timeout: float = 10.0, **match: str) -> dict[str, str]:
        """The next message whose headers include ``match``; earlier ones are skipped."""
        async with asyncio.timeout(timeout):
            while True:
                while b"\r\n\r\n" in self._buffer:
                    block, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
                    lines = block.decode("utf-8").split("\r\n")
                    headers = dict(line.split(": ", 1) for line in lines if ": " in line)
                    if all(headers.get(key) == value for key, value in match.items()):
                        return headers
                chunk = await self._reader.read(65536)
                assert chunk, "simulator closed the connection"
                self._buffer += chunk

    def close(self) -> None:
        self._writer.close()


# --- 1. skill thresholds relax over time ---------------------------------------------------------

DUTCH = [
    {
        "id": "1001",
        "name": "Anna",
        "dial": "PJSIP/1001",
        "queues": {"sales": 1},
        "skills": {"lang:nl": 8},
    },
    {
        "id": "1002",
        "name": "Daan",
        "dial": "PJSIP/1002",
        "queues": {"sales": 1},
        "skills": {"lang:nl": 4},
    },
]


@pytest.mark.parametrize(
    "relaxation", [{"skills": {"lang:nl": 4}}, {"cap": 4}], ids=["skills", "cap"]
)
async def test_dutch_caller_reaches_a_less_fluent_agent_once_the_step_relaxes_the_threshold(
    sim: Simulator, make_acd: MakeAcd, relaxation: dict[str, Any]
) -> None:
    for phone in ("1001", "1002"):
        sim.add_phone(phone, answer_after=0.5, talk_for=1.0)
    queues = [{"name": "sales", "steps": [{"after": 0}, {"after": STEP_AFTER, **relaxation}]}]
    app, sink = await make_acd(agents=DUTCH, queues=queues)
    await at_work_but_paused(app, "1001")  # the fluent speaker is on a break
    await log_in(app, "1002")
    await router_knows_who_is_at_work(app)
    call = await sim.place_call(
        queue="sales", skills="lang:nl=7", caller_name="Joost", patience=None
    )
    await sink.wait_for("call.offered", call=call.uniqueid)
    assert await call.answered(timeout=10) == "1002"
    agent, waited = await first_offer(app, call.uniqueid)
    assert agent == "1002" and waited >= STEP_AFTER  # not offered before the step
    overflowed = sink.find("call.overflowed", call=call.uniqueid)
    assert [(o["step"], o["reason"], o["to"]) for o in overflowed] == [("1-skills", "wait", "")]
    assert sample(app, "acd_calls_overflowed_total", queue="sales", step="1-skills") == 1


# --- 2-4. the final fallback: another queue, voicemail, a callback request ----------------------


def fallback_queue(**fallback: str) -> dict[str, Any]:
    return {
        "name": "sales",
        "wrap_up_seconds": 0,
        "steps": [{"after": 0}, {"after": STEP_AFTER, "kind": "fallback", **fallback}],
    }


async def test_call_falls_back_to_another_queue_and_is_answered_there(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    for phone in ("1001", "2001"):
        sim.add_phone(phone, answer_after=0.5, talk_for=1.0)
    agents = [
        {"id": "1001", "name": "Anna", "dial": "PJSIP/1001", "queues": {"sales": 1}},
        {"id": "2001", "name": "Павел", "dial": "PJSIP/2001", "queues": {"backup": 1}},
    ]
    queues = [fallback_queue(to="queue", target="backup"), {"name": "backup"}]
    app, sink = await make_acd(agents=agents, queues=queues)
    await at_work_but_paused(app, "1001")
    await log_in(app, "2001")
    await router_knows_who_is_at_work(app)
    call = await sim.place_call(queue="sales", caller_name="Ирина", patience=None)
    assert await call.answered(timeout=10) == "2001"
    answered = await sink.wait_for("call.answered", call=call.uniqueid)
    assert (answered["agent"], answered["queue"]) == ("2001", "backup")
    overflowed = await sink.wait_for("call.overflowed", call=call.uniqueid, queue="sales")
    assert (overflowed["step"], overflowed["reason"], overflowed["to"]) == (
        "1-fallback",
        "wait",
        "queue",
    )
    _, waited = await first_offer(app, call.uniqueid)
    assert waited >= STEP_AFTER
    assert sim.phone("1001").calls_rung == 0
    assert sample(app, "acd_calls_overflowed_total", queue="sales", step="1-fallback") == 1
    assert sample(app, "acd_calls_answered_total", queue="backup") == 1
    assert sample(app, "acd_calls_answered_total", queue="sales") == 0
    assert sample(app, "acd_calls_offered_total", queue="sales") == 1
    # Moved in, the call counts as offered in its new queue too, and says where it came from.
    assert sample(app, "acd_calls_offered_total", queue="backup") == 1
    offered = sink.find("call.offered", call=call.uniqueid, queue="backup")
    assert [o.get("from_queue") for o in offered] == ["sales"]


async def test_call_falls_back_to_a_voicemail_context(sim: Simulator, make_acd: MakeAcd) -> None:
    app, sink = await make_acd(queues=[fallback_queue(to="voicemail", target="vm-sales")])
    await at_work_but_paused(app, "1001")
    await router_knows_who_is_at_work(app)
    listener = await AmiListener.connect(sim.port)
    try:
        call = await sim.place_call(queue="sales", caller_name="Ольга Смирнова", patience=None)
        overflowed = await sink.wait_for("call.overflowed", call=call.uniqueid)
        assert (overflowed["step"], overflowed["reason"], overflowed["to"]) == (
            "1-fallback",
            "wait",
            "voicemail",
        )
        reached = await listener.wait_for(
            Event="Newexten", Channel=call.channel, Context="vm-sales"
        )
        assert (reached["Application"], reached["AppData"]) == ("Playback", "vm-intro")
    finally:
        listener.close()
    assert await call.ended(timeout=10) == "fallback"  # by way of acd.fallback
    fields = await app.store.get_call_fields(call.uniqueid)
    assert (fields["status"], fields["outcome"]) == ("ended", "overflowed")
    assert float(fields["ended_at"]) - float(fields["arrived_at"]) >= STEP_AFTER
    assert sample(app, "acd_calls_overflowed_total", queue="sales", step="1-fallback") == 1


async def test_call_falls_back_to_a_callback_request_keeping_the_callers_name(
    sim: Simulator, make_acd: MakeAcd, redis: Redis, site: str
) -> None:
    app, sink = await make_acd(queues=[fallback_queue(to="callback")])
    await at_work_but_paused(app, "1001")
    await router_knows_who_is_at_work(app)
    listener = await AmiListener.connect(sim.port)
    try:
        call = await sim.place_call(
            queue="sales", caller_name="مریم رضایی", caller_number="989121234567", patience=None
        )
        overflowed = await sink.wait_for("call.overflowed", call=call.uniqueid)
        assert (overflowed["step"], overflowed["reason"], overflowed["to"]) == (
            "1-fallback",
            "wait",
            "callback",
        )
        fell_back = await listener.wait_for(
            Event="UserEvent", UserEvent="ACDFallback", Channel=call.channel
        )
        assert fell_back["Reason"] == "callback"
    finally:
        listener.close()
    assert await call.ended(timeout=10) == "fallback"
    requests = [json.loads(entry) for entry in await redis.lrange(Keys(site).callbacks, 0, -1)]
    assert [(r["call"], r["queue"], r["number"], r["name"]) for r in requests] == [
        (call.uniqueid, "sales", "989121234567", "مریم رضایی")
    ]
    fields = await app.store.get_call_fields(call.uniqueid)
    assert (fields["status"], fields["outcome"]) == ("ended", "overflowed")
    assert sample(app, "acd_calls_overflowed_total", queue="sales", step="1-fallback") == 1


async def test_call_arriving_right_after_an_agent_logs_in_is_answered_not_sent_away(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    # No tick during the test: the window after a log-in is as long as a tick interval.
    app, _ = await make_acd(queues=[fallback_queue(to="callback")], routing={"tick_seconds": 30})
    await log_in(app, "1001")
    call = await sim.place_call(queue="sales", caller_name="Ahmed", patience=None)
    assert await call.answered(timeout=10) == "1001"


# --- 5. a line too long goes to the team leads at once -------------------------------------------


async def test_call_goes_to_a_team_lead_at_once_when_the_line_is_longer_than_max_length(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("2001", answer_after=0.5, talk_for=1.0)
    agents = [
        {"id": "1001", "dial": "PJSIP/1001", "queues": {"support": 1}, "team": "north"},
        {"id": "2001", "name": "Лейла", "dial": "PJSIP/2001", "team": "north", "role": "lead"},
    ]
    queues = [
        {
            "name": "support",
            "teams": ["north"],
            "max_length": 1,
            "steps": [{"after": 0}, {"after": 90, "kind": "leads"}],
        }
    ]
    app, sink = await make_acd(agents=agents, queues=queues)
    await at_work_but_paused(app, "1001")
    await log_in(app, "2001")
    await router_knows_who_is_at_work(app)
    first = await sim.place_call(queue="support", caller_name="Aziz", patience=None)
    await sink.wait_for("call.offered", call=first.uniqueid)
    second = await sim.place_call(queue="support", caller_name="Жанна", patience=None)
    assert await second.answered(timeout=10) == "2001"
    overflowed = await sink.wait_for("call.overflowed", call=second.uniqueid)
    assert (overflowed["step"], overflowed["reason"]) == ("1-leads", "queue-full")
    assert sample(app, "acd_calls_overflowed_total", queue="support", step="1-leads") == 1
    # The first caller was within the limit: still waiting for an ordinary agent.
    assert sink.find("call.overflowed", call=first.uniqueid) == []
    fields = await app.store.get_call_fields(first.uniqueid)
    assert fields["status"] == "waiting"


# --- 6. strategies per queue ---------------------------------------------------------------------

THREE_DUTCH = [
    {
        "id": "1001",
        "name": "Anna",
        "dial": "PJSIP/1001",
        "queues": {"sales": 1},
        "skills": {"lang:nl": 5},
    },
    {
        "id": "1002",
        "name": "Bram",
        "dial": "PJSIP/1002",
        "queues": {"sales": 1},
        "skills": {"lang:nl": 9},
    },
    {
        "id": "1003",
        "name": "Cor",
        "dial": "PJSIP/1003",
        "queues": {"sales": 1},
        "skills": {"lang:nl": 9},
    },
]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("best-skill", "1003"),  # most fluent; of the two at 9, idle longer
        ("longest-idle", "1001"),
        (None, "1001"),  # the default
    ],
)
async def test_queue_strategy_picks_the_agent_for_a_call(
    sim: Simulator, make_acd: MakeAcd, strategy: str | None, expected: str
) -> None:
    for agent in THREE_DUTCH:
        sim.add_phone(str(agent["id"]), answer_after=0.5, talk_for=1.0)
    queue: dict[str, Any] = {"name": "sales"}
    if strategy is not None:
        queue["strategy"] = strategy
    app, _ = await make_acd(agents=THREE_DUTCH, queues=[queue])
    await log_in(app, "1001", "1003", "1002")  # idle longest first
    call = await sim.place_call(queue="sales", skills="lang:nl=3", caller_name="Sanne")
    assert await call.answered(timeout=10) == expected


async def test_round_robin_takes_agents_in_turn(sim: Simulator, make_acd: MakeAcd) -> None:
    for agent in THREE_DUTCH:
        sim.add_phone(str(agent["id"]), answer_after=0.2, talk_for=0.2)
    app, sink = await make_acd(
        agents=THREE_DUTCH, queues=[{"name": "sales", "strategy": "round-robin"}]
    )
    await log_in(app, "1003", "1002", "1001")  # longest idle would start with 1003
    taken = []
    for i in range(4):
        call = await sim.place_call(queue="sales", caller_name=f"Beller {i}", patience=60)
        taken.append(await call.answered(timeout=10))
        await sink.wait_for("call.ended", call=call.uniqueid)
    assert taken == ["1001", "1002", "1003", "1001"]


async def test_least_talk_time_prefers_the_agent_who_talked_least_today(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    for phone in ("1001", "1002"):
        sim.add_phone(phone, answer_after=0.5, talk_for=3600)  # callers end the calls
    agents = THREE_DUTCH[:2]
    app, sink = await make_acd(
        agents=agents, queues=[{"name": "sales", "strategy": "least-talk-time"}]
    )
    await log_in(app, "1001")
    long_call = await sim.place_call(queue="sales", caller_name="Lang", talk_for=15)
    assert await long_call.answered(timeout=10) == "1001"
    await log_in(app, "1002")
    for name in ("Kort", "Korter"):  # two short calls while 1001 talks on
        short = await sim.place_call(queue="sales", caller_name=name, talk_for=0.5)
        assert await short.answered(timeout=10) == "1002"
        await sink.wait_for("call.ended", call=short.uniqueid)
    await sink.wait_for("call.ended", call=long_call.uniqueid)
    # 1002 back from a break: 1001 is now idle longest and has taken fewer calls, but has
    # talked longer.
    await take_a_break(app, "1002")
    await log_in(app, "1002")
    one, two = await app.store.get_agents(["1001", "1002"])
    assert one.idle_since < two.idle_since and one.calls_taken < two.calls_taken
    assert one.talk_seconds > two.talk_seconds
    call = await sim.place_call(queue="sales", caller_name="Laatste", talk_for=0.5)
    assert await call.answered(timeout=10) == "1002"


async def test_random_strategy_gives_each_call_to_a_seeded_draw_among_eligible_agents(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    agents = [{**THREE_DUTCH[0], "skills": {"lang:en": 9}}, *THREE_DUTCH[1:]]
    for agent in agents:
        sim.add_phone(str(agent["id"]), answer_after=0.2, talk_for=0.2)
    app, sink = await make_acd(agents=agents, queues=[{"name": "sales", "strategy": "random"}])
    await log_in(app, "1001", "1002", "1003")  # 1001 idle longest, but speaks no Dutch
    for i in range(6):
        call = await sim.place_call(
            queue="sales", skills="lang:nl=5", caller_name=f"Beller {i}", patience=60
        )
        eligible = await app.store.get_agents(["1002", "1003"])
        # The draw is seeded by the call id, so the same call goes to the same agent.
        drawn = pick_agent(Strategy.RANDOM, eligible, seed=call.uniqueid)
        assert drawn is not None
        assert await call.answered(timeout=10) == drawn.id
        await sink.wait_for("call.ended", call=call.uniqueid)
    assert sim.phone("1001").calls_rung == 0


# --- 7. an agent in several queues takes its better-ranked queue first ---------------------------


async def test_agent_takes_the_call_of_its_better_ranked_queue_though_another_waited_longer(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    agents = [
        {"id": "1001", "name": "Nadia", "dial": "PJSIP/1001", "queues": {"sales": 1, "billing": 2}}
    ]
    app, sink = await make_acd(agents=agents, queues=[{"name": "sales"}, {"name": "billing"}])
    billing = await sim.place_call(queue="billing", caller_name="Sami", patience=None)
    await sink.wait_for("call.offered", call=billing.uniqueid)
    sales = await sim.place_call(queue="sales", caller_name="Nour", patience=None)
    await sink.wait_for("call.offered", call=sales.uniqueid)
    billing_call, sales_call = await app.store.get_calls([billing.uniqueid, sales.uniqueid])
    assert billing_call.arrived_at < sales_call.arrived_at
    await log_in(app, "1001")
    first = await sink.wait_for("call.answered")
    assert (first["call"], first["queue"]) == (sales.uniqueid, "sales")
    assert await billing.answered(timeout=10) == "1001"  # and then the other


# --- 8. supervisors only when a step names them --------------------------------------------------


async def test_supervisor_gets_a_call_only_from_the_step_that_names_supervisors(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("3001", answer_after=0.5, talk_for=1.0)
    agents = [
        {"id": "1001", "dial": "PJSIP/1001", "queues": {"sales": 1}, "team": "north"},
        {
            "id": "3001",
            "name": "Фарид",
            "dial": "PJSIP/3001",
            "team": "north",
            "role": "supervisor",
        },
    ]
    queues = [
        {
            "name": "sales",
            "teams": ["north"],
            "steps": [{"after": 0}, {"after": STEP_AFTER, "kind": "supervisors"}],
        }
    ]
    app, sink = await make_acd(agents=agents, queues=queues)
    await at_work_but_paused(app, "1001")
    await log_in(app, "3001")  # ready the whole time
    await router_knows_who_is_at_work(app)
    call = await sim.place_call(queue="sales", caller_name="Hoda", patience=None)
    assert await call.answered(timeout=10) == "3001"
    agent, waited = await first_offer(app, call.uniqueid)
    assert agent == "3001" and waited >= STEP_AFTER
    overflowed = await sink.wait_for("call.overflowed", call=call.uniqueid)
    assert (overflowed["step"], overflowed["reason"]) == ("1-supervisors", "wait")


# --- 9. a missed offer keeps the caller's place --------------------------------------------------


async def test_missed_call_goes_back_ahead_of_callers_who_came_after_it(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answers=False)
    sim.add_phone("1002", answer_after=0.5, talk_for=1.0)
    app, sink = await make_acd(queues=[{"name": "sales", "ring_timeout_seconds": 30}])
    await log_in(app, "1001")
    earlier = await sim.place_call(queue="sales", caller_name="Эльза", patience=None)
    await sink.wait_for("call.offered", call=earlier.uniqueid)
    arrived = (await app.store.get_call_fields(earlier.uniqueid))["arrived_at"]
    later = await sim.place_call(queue="sales", caller_name="Тимур", patience=None)
    await sink.wait_for("call.offered", call=later.uniqueid)
    await sink.wait_for("agent.missed", call=earlier.uniqueid, agent="1001")
    kinds = [(kind, data.get("call")) for kind, data in sink.events]
    assert kinds.index(("call.offered", later.uniqueid)) < kinds.index(
        ("agent.missed", earlier.uniqueid)
    )  # the later caller was in line before the miss
    assert [c.id for c in await app.store.waiting_calls("sales")] == [
        earlier.uniqueid,
        later.uniqueid,
    ]
    assert (await app.store.get_call_fields(earlier.uniqueid))["arrived_at"] == arrived
    paused = await app.store.get_agent("1001")
    assert paused is not None
    assert (paused.state, paused.pause_reason) == (AgentState.PAUSED, "no-answer")
    await log_in(app, "1002")
    first = await sink.wait_for("call.answered")
    assert (first["call"], first["agent"]) == (earlier.uniqueid, "1002")
