"""The tests' own view of a real Asterisk: an AMI user with every event and no filters.

It follows each test caller (by the ``TEST_CALL`` variable the IVR sets from a SIP header)
and each agent phone, from Asterisk's own events, independently of acd.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.sim_client import AmiClient, Message

_PJSIP_AGENT = re.compile(r"^PJSIP/(\d+)-[0-9a-f]+$")  # agents' endpoints are numbers


def agent_of(channel: str) -> str | None:
    """``PJSIP/1001-0000000a`` -> ``1001``."""
    match = _PJSIP_AGENT.match(channel)
    return match.group(1) if match else None


@dataclass
class ObservedCall:
    """One caller as Asterisk saw it."""

    token: str
    uniqueid: str = ""
    channel: str = ""
    answered_by: str | None = None
    reached_fallback: bool = False
    outcome: str | None = None
    known: asyncio.Event = field(default_factory=asyncio.Event)
    answered_event: asyncio.Event = field(default_factory=asyncio.Event)
    ended_event: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class PhoneCounts:
    """What happened to one agent's phone, counted from Dial events."""

    calls_rung: int = 0
    calls_answered: int = 0
    calls_busy: int = 0


class Observer:
    """Consumes every AMI event of the private Asterisk and keeps what the tests ask about."""

    def __init__(self, port: int, user: str, secret: str, fallback_context: str) -> None:
        self.port, self.user, self.secret = port, user, secret
        self.fallback_context = fallback_context
        self.calls: dict[str, ObservedCall] = {}  # by token
        self._by_uniqueid: dict[str, ObservedCall] = {}
        self._bridges: dict[str, set[str]] = {}
        self.phones: dict[str, PhoneCounts] = {}
        self.event_counts: Counter[str] = Counter()
        self.halting = False
        self._client: AmiClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self.messages: list[Message] = []

    async def connect(self) -> None:
        self._client = await AmiClient.connect(self.port)
        reply = await self._client.login(self.user, self.secret)
        assert reply.get("Response") == "Success", reply
        await self._client.find(lambda m: m.event == "FullyBooted", 10)
        self._task = asyncio.get_running_loop().create_task(self._consume(self._client))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        self._client = self._task = None

    async def action(self, action: str, timeout: float = 10.0, **headers: str) -> Message:
        assert self._client is not None
        return await self._client.action(action, timeout, **headers)

    async def list_action(
        self, action: str, complete: str, timeout: float = 10.0, **headers: str
    ) -> list[Message]:
        """A list action's events, once its ``complete`` event came."""
        assert self._client is not None
        client = self._client
        start = len(client.messages)
        reply = await client.action(action, timeout, **headers)
        action_id = reply["ActionID"]
        await client.find(lambda m: m.event == complete and m.get("ActionID") == action_id, timeout)
        return [
            m
            for m in client.messages[start:]
            if m.get("ActionID") == action_id and m.event not in (None, complete)
        ]

    async def _consume(self, client: AmiClient) -> None:
        cursor = 0
        while True:

            def grown(seen: int = cursor) -> bool:
                return len(client.messages) > seen or client.eof

            await client.wait(grown, 3600)
            while cursor < len(client.messages):
                message = client.messages[cursor]
                cursor += 1
                if message.event:
                    self._handle(message)
            async with self._changed:
                self._changed.notify_all()
            if client.eof and cursor >= len(client.messages):
                return

    def _handle(self, m: Message) -> None:
        event = m.event or ""
        call: ObservedCall | None
        self.event_counts[event] += 1
        self.messages.append(m)
        if event == "VarSet" and m.get("Variable") == "TEST_CALL" and m.get("Value"):
            call = self.calls.setdefault(m["Value"], ObservedCall(m["Value"]))
            if not call.uniqueid:
                call.uniqueid, call.channel = m["Uniqueid"], m["Channel"]
                self._by_uniqueid[call.uniqueid] = call
                call.known.set()
        elif event == "BridgeEnter":
            members = self._bridges.setdefault(m["BridgeUniqueid"], set())
            members.add(m["Channel"])
            self._check_answered(members)
        elif event == "BridgeLeave":
            self._bridges.get(m["BridgeUniqueid"], set()).discard(m["Channel"])
        elif event == "BridgeDestroy":
            self._bridges.pop(m["BridgeUniqueid"], None)
        elif event == "Newexten" and m.get("Context") == self.fallback_context:
            if call := self._by_uniqueid.get(m.get("Uniqueid", "")):
                call.reached_fallback = True
        elif event in ("DialBegin", "DialEnd"):
            self._count_dial(m)
        elif event == "Hangup" and (call := self._by_uniqueid.get(m.get("Uniqueid", ""))):
            self._ended(call)

    def _check_answered(self, members: set[str]) -> None:
        agents = [a for a in (agent_of(c) for c in members) if a]
        for call in self._by_uniqueid.values():
            if call.channel in members and agents and call.answered_by is None:
                call.answered_by = agents[0]
                call.answered_event.set()

    def _count_dial(self, m: Message) -> None:
        agent = agent_of(m.get("DestChannel", ""))
        if agent is None:
            return
        counts = self.phones.setdefault(agent, PhoneCounts())
        if m.event == "DialBegin":
            counts.calls_rung += 1
        elif m.get("DialStatus") == "ANSWER":
            counts.calls_answered += 1
        elif m.get("DialStatus") == "BUSY":
            counts.calls_busy += 1

    def _ended(self, call: ObservedCall) -> None:
        if call.outcome is not None:
            return
        if self.halting:
            call.outcome = "dropped"
        elif call.answered_by is not None:
            call.outcome = "completed"
        elif call.reached_fallback:
            call.outcome = "fallback"
        else:
            call.outcome = "abandoned"
        call.answered_event.set()
        call.ended_event.set()

    async def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float = 10.0, since: int = 0
    ) -> Message:
        """The first event from the ``since``-th on (seen so far or to come) that matches."""
        found: list[Message] = []

        def check() -> bool:
            found[:] = [m for m in self.messages[since:] if predicate(m)][:1]
            return bool(found)

        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(check)
        return found[0]

    def call(self, token: str) -> ObservedCall:
        return self.calls.setdefault(token, ObservedCall(token))
