"""Hangup to next ring on a real Asterisk: acd against app_queue, same box, phones and dialplan.

One private Asterisk 22 (the test rig of ``tests/pbx``), three PJSIP agents whose SIPp phones
answer after 0.2 s and hang up after talking 1 s, and a steady backlog: callers are placed so
that four are always waiting besides the ones talking, so every agent's hangup is followed by
the next offer. The same phones serve, in turn, acd (``acd serve`` as its own process, agents
logged in through the API, callers handed over by the README's IVR lines) and app_queue (a
``queues.conf`` queue with the same endpoints as static members, callers sent to ``Queue()``).

What is measured, from Asterisk's own clock (``timestampevents``, read by an AMI observer of
every event): for each agent leg's ``Hangup`` (the phone's BYE) while callers were waiting,
the time to the next ``DialBegin`` to that same agent's endpoint (Asterisk starts dialling
it), and to its ``Newstate Ringing`` (the phone's 180 came back). With the other agents still
talking, the agent who hung up is the only one free, so this is the router's idle gap.

app_queue's settings, chosen to give it its best fair chance: ``strategy = leastrecent``
(acd's default is longest idle), ``wrapuptime = 0`` (acd's queue has no wrap-up either),
``ringinuse = no`` (as acd, never ring a phone in use: both read PJSIP device state),
``autopause = no``, ``retry = 1`` (the least app_queue accepts; it only matters after a
failed ring), ``timeout = 15`` (acd's ring timeout), ``autofill = yes``, ``memberdelay = 0``,
no announcements. app_queue still polls: a waiting caller re-checks for a free member once a
second (``RECHECK``, fixed in app_queue.c), so its gap is spread over 0..1 s.

Run: ``python -m loadtest.bench_asterisk_ring`` (``ACD_TEST_ASTERISK`` names the install
prefix; without an Asterisk that runs here it prints what to install and exits 0).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from acd.redis_server import RedisServer
from tests.pbx.acd_process import AcdProcess
from tests.pbx.asterisk import INSTALL_HINT, AsteriskProcess, fallback_context, find_install
from tests.pbx.observer import ObservedCall, agent_of
from tests.pbx.sipp import Sipp, caller_scenario
from tests.pbx.tiers import RealPbx
from tests.sim_client import Message

AGENTS = ("1001", "1002", "1003")
QUEUE = "bench"
ANSWER_AFTER, TALK_FOR = 0.2, 1.0
RING_TIMEOUT = 15

QUEUES_CONF = f"""
[{QUEUE}]
strategy = leastrecent
wrapuptime = 0
ringinuse = no
autopause = no
retry = 1
timeout = {RING_TIMEOUT}
timeoutrestart = no
autofill = yes
memberdelay = 0
joinempty = yes
leavewhenempty = no
announce-frequency = 0
periodic-announce-frequency = 0
announce-position = no
announce-holdtime = no
reportholdtime = no
musicclass = default
""" + "".join(f"member => PJSIP/{agent},0,{agent}\n" for agent in AGENTS)

# The same caller endpoint and IVR context as acd's callers, one more extension: answer (as
# acd's inbound context does), then app_queue instead of acd.
DIALPLAN = f"""
[from-callers]
exten => app-queue,1,Set(TEST_CALL=${{PJSIP_HEADER(read,X-Test-Call)}})
 same => n,Answer()
 same => n,Queue({QUEUE},,,,600)
 same => n,Hangup()
"""

ACD_CONFIG = f"""
[[queues]]
name = "{QUEUE}"
ring_timeout_seconds = {RING_TIMEOUT}
wrap_up_seconds = 0
""" + "".join(
    f"""
[[agents]]
id = "{agent}"
dial = "PJSIP/{agent}"
queues = {{ {QUEUE} = 1 }}
"""
    for agent in AGENTS
)

_tokens = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Result:
    """One router's run: the gaps (seconds) to the next DialBegin and to the next ringing."""

    to_dial: list[float]
    to_ringing: list[float]
    callers: int
    nobody_waiting: int  # hangups left out: no caller was waiting at that moment


class Backlog:
    """Keeps ``len(AGENTS) + waiting`` SIPp callers in the system: one ends, the next starts."""

    def __init__(self, pbx: RealPbx, target: str, headers: dict[str, str]) -> None:
        self.pbx, self.target, self.headers = pbx, target, headers
        self.live: list[tuple[ObservedCall, Sipp]] = []
        self.placed = 0

    async def _place(self) -> None:
        token = f"b{next(_tokens)}"
        scenario = caller_scenario(
            name=f"Caller {token}",
            number="79990000000",
            headers={**self.headers, "X-Test-Call": token},
            patience=300,
            target=self.target,
        )
        caller = Sipp(
            self.pbx.workdir,
            f"caller-{token}",
            scenario,
            self.pbx.rig.sip_port,
            service=self.target,
        )
        await caller.start()
        self.live.append((self.pbx.observer.call(token), caller))
        self.placed += 1

    async def _one_ends(self, timeout: float) -> None:
        waits = [asyncio.ensure_future(call.ended_event.wait()) for call, _ in self.live]
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        self.live = [(call, sipp) for call, sipp in self.live if not call.ended_event.is_set()]

    async def keep(self, size: int, seconds: float) -> int:
        """Refill for ``seconds``; the observer's message index when refilling stopped."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            while len(self.live) < size:
                await self._place()
            await self._one_ends(left)
        return len(self.pbx.observer.messages)

    async def drain(self, timeout: float = 30.0) -> None:
        """Let the callers still there be served, then stop whatever is left."""
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(call.ended_event.wait() for call, _ in self.live))
        for _, sipp in self.live:
            await sipp.stop()


def _stamp(message: Message) -> float:
    return float(message["Timestamp"])


def _joined(message: Message) -> bool:
    """The router now knows this caller: acd's dialplan announced it, or it joined the queue."""
    return message.event == "QueueCallerJoin" or (
        message.event == "UserEvent" and message.get("UserEvent") == "ACDEnqueue"
    )


def gaps(messages: Sequence[Message], cutoff: int, *, ringing: bool) -> tuple[list[float], int]:
    """Seconds from each agent leg's Hangup (before ``cutoff``, with a caller waiting that the
    router knew of) to the next DialBegin to that agent (``ringing``: to its next Newstate
    Ringing); and how many hangups found nobody waiting (not counted)."""
    hung_up: dict[str, float] = {}
    waiting: set[str] = set()  # callers' channels, from joining until dialled or gone
    found: list[float] = []
    idle = 0
    for index, m in enumerate(messages):
        channel = m.get("Channel") or ""
        if _joined(m):
            waiting.add(channel)
        elif m.event in ("DialBegin", "Hangup"):
            waiting.discard(channel)
        if m.event == "Hangup" and (agent := agent_of(channel)) and index < cutoff:
            if waiting:
                hung_up[agent] = _stamp(m)
            else:
                idle += 1
            continue
        if ringing:
            hit = m.event == "Newstate" and m.get("ChannelStateDesc") == "Ringing"
            agent = agent_of(channel) if hit else None
        else:
            agent = agent_of(m.get("DestChannel") or "") if m.event == "DialBegin" else None
        if agent in hung_up:
            found.append(_stamp(m) - hung_up.pop(agent))
    return found, idle


async def measure(
    pbx: RealPbx, target: str, headers: dict[str, str], waiting: int, seconds: float
) -> Result:
    start = len(pbx.observer.messages)
    backlog = Backlog(pbx, target, headers)
    cutoff = await backlog.keep(len(AGENTS) + waiting, seconds)
    await backlog.drain()
    messages = pbx.observer.messages[start:]
    await pbx.hang_up_everything()
    dial, idle = gaps(messages, cutoff - start, ringing=False)
    ring, _ = gaps(messages, cutoff - start, ringing=True)
    return Result(dial, ring, backlog.placed, idle)


async def run_acd(pbx: RealPbx, workdir: Path, waiting: int, seconds: float) -> Result:
    redis = RedisServer(workdir / "redis")
    await redis.start()
    acd = AcdProcess(
        workdir, ami_port=pbx.port, redis_url=redis.url, site="bench", config=ACD_CONFIG
    )
    try:
        await acd.start()
        for agent in AGENTS:
            status, body = await acd.api("POST", f"/agents/{agent}/state", {"state": "ready"})
            assert status == 200, body
        return await measure(pbx, "acd", {"X-ACD-Queue": QUEUE}, waiting, seconds)
    finally:
        await acd.kill()
        await redis.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(title: str, acd: list[float], queue: list[float]) -> None:
    print(title)
    print(f"  samples  acd {len(acd):>4}        app_queue {len(queue):>4}")
    if not acd or not queue:
        print("  no samples: nothing to compare")
        return
    for label, pick in (
        ("p50", lambda v: percentile(v, 0.5)),
        ("p90", lambda v: percentile(v, 0.9)),
        ("max", max),
    ):
        a, q = pick(acd) * 1000, pick(queue) * 1000
        print(
            f"  {label}      acd {a:7.1f} ms  app_queue {q:7.1f} ms  ratio acd/app_queue "
            f"{a / q:6.3f}   target: acd below app_queue (ratio < 1)"
        )


async def bench(waiting: int, seconds: float) -> None:
    install = find_install()
    if isinstance(install, str):
        print(f"bench_asterisk_ring: skipped, {install}")
        return
    load = os.getloadavg()
    rig = AsteriskProcess(install, queues=QUEUES_CONF, dialplan=DIALPLAN, timestamp_events=True)
    try:
        try:
            await asyncio.to_thread(rig.start)
        except RuntimeError as exc:
            first = str(exc).split("\n", 1)[0]
            print(
                f"bench_asterisk_ring: skipped, {install.binary} does not run here "
                f"({first}): {INSTALL_HINT}"
            )
            return
        with tempfile.TemporaryDirectory(prefix="acd-bench-ring-") as tmp:
            pbx = RealPbx(rig, Path(tmp), fallback_context())
            await pbx.open()
            try:
                for agent in AGENTS:
                    await pbx.add_phone(agent, answer_after=ANSWER_AFTER, talk_for=TALK_FOR)
                acd = await run_acd(pbx, Path(tmp), waiting, seconds)
                queue = await measure(pbx, "app-queue", {}, waiting, seconds)
            finally:
                await pbx.close()
    finally:
        await asyncio.to_thread(rig.remove)
    print(
        f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"({os.cpu_count()} CPUs)"
    )
    print(
        f"real Asterisk ({install.binary}), {len(AGENTS)} PJSIP agents on SIPp phones "
        f"(answer after {ANSWER_AFTER} s, talk {TALK_FOR} s), {waiting} callers always "
        f"waiting, {seconds:g} s each; callers placed: acd {acd.callers}, app_queue "
        f"{queue.callers}; hangups left out, nobody waiting: acd {acd.nobody_waiting}, "
        f"app_queue {queue.nobody_waiting}"
    )
    print(
        "times from Asterisk's event timestamps, per agent leg Hangup (its BYE) while callers wait:"
    )
    report("agent hangs up -> next DialBegin to that agent", acd.to_dial, queue.to_dial)
    report(
        "agent hangs up -> that agent's phone rings (Newstate Ringing, its 180)",
        acd.to_ringing,
        queue.to_ringing,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--waiting", type=int, default=4, help="callers always waiting")
    parser.add_argument("--seconds", type=float, default=25.0, help="measured time per router")
    args = parser.parse_args()
    asyncio.run(bench(args.waiting, args.seconds))


if __name__ == "__main__":
    main()
