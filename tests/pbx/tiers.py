"""One face for both telephony tiers: the simulator and a real Asterisk with SIPp phones.

End-to-end tests take the ``pbx`` fixture and speak to it in the contact centre's words
(add an agent's phone, place a call, follow it); the fixture's parameter decides which
Asterisk they run against. Times are in the PBX's seconds: the simulator runs them faster.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from acd.sim import Simulator
from acd.sim.callers import SimCall
from acd.sim.events import AmiEvent
from acd.sim.transfers import blind_transfer_channel
from tests.pbx.asterisk import AGENT_IDS, OBSERVER, AsteriskProcess, agent_password
from tests.pbx.observer import ObservedCall, Observer, PhoneCounts
from tests.pbx.sipp import PhoneScript, Sipp, caller_scenario, phone_scenario, register_scenario


class Call(Protocol):
    """A caller, followed from the PBX's own events."""

    uniqueid: str
    channel: str

    async def answered(self, timeout: float | None = None) -> str | None: ...
    async def ended(self, timeout: float | None = None) -> str: ...


class Pbx(Protocol):
    """An Asterisk for acd to work with, and the people on its phones."""

    name: str
    port: int

    async def add_phone(
        self,
        agent: str,
        *,
        answer_after: float = 1.0,
        talk_for: float = 3.0,
        answers: bool = True,
        busy: bool = False,
        registered: bool = True,
        escalate_after: float | None = None,
    ) -> None:
        """``escalate_after``: the agent keys *0 this long after answering each call."""
        ...

    async def place_call(
        self,
        queue: str,
        *,
        caller_name: str = "Ivan",
        caller_number: str = "79991234567",
        patience: float | None = 30.0,
        priority: int | None = None,
        skills: str | None = None,
        attrs: Mapping[str, str] | None = None,
        announce_every: int | None = None,
    ) -> Call:
        """``announce_every``: the caller's ACD_ANNOUNCE_EVERY (acd is asked that often)."""
        ...

    async def direct_call(self, agent: str, *, duration: float) -> Call: ...
    async def blind_transfer(self, channel: str, exten: str, context: str) -> None:
        """AMI BlindTransfer of the call on ``channel`` (an agent's leg) to ``exten@context``:
        what the phone's SIP REFER or the features' blind transfer do in Asterisk."""
        ...

    def phone(self, agent: str) -> PhoneCounts: ...
    async def restart(self, *, graceful: bool) -> None: ...
    async def event(self, name: str, timeout: float = 10.0, **prefixes: str) -> dict[str, str]:
        """The first event ``name`` (seen so far or to come) whose headers start so."""
        ...

    async def close(self) -> None: ...


def _matches(headers: Mapping[str, str], prefixes: Mapping[str, str]) -> bool:
    return all(headers.get(key, "").startswith(value) for key, value in prefixes.items())


# --- the simulator ---------------------------------------------------------------------------


class _DirectCall:
    """A private call on the simulator: the phone is in use for ``duration``."""

    def __init__(self, done: asyncio.Future[str]) -> None:
        self.uniqueid = self.channel = ""
        self._done = done

    async def answered(self, timeout: float | None = None) -> str | None:
        return None

    async def ended(self, timeout: float | None = None) -> str:
        return await asyncio.wait_for(asyncio.shield(self._done), timeout)


class SimulatedPbx:
    """The project's simulator, behind the common face."""

    name = "sim"

    def __init__(self, simulator: Simulator) -> None:
        self.sim = simulator
        self.port = simulator.port
        self._events: list[tuple[str, dict[str, str]]] = []
        self._changed = asyncio.Condition()
        self._escalating: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        simulator.pbx.bus.subscribe(self)

    def deliver(self, events: Sequence[AmiEvent]) -> None:
        """The simulated Asterisk's own, unfiltered view of its events (as on its CLI)."""
        self._events += [(e.name, dict(e.headers)) for e in events]
        for name, headers in self._events[-len(events) :]:
            if name == "DialEnd" and headers.get("DialStatus") == "ANSWER":
                agent = headers.get("DestChannel", "").removeprefix("PJSIP/").split("-")[0]
                if agent in self._escalating:
                    self.sim.pbx.call_later(
                        self._escalating[agent], functools.partial(self._spawn_escalation, agent)
                    )
        self._spawn(self._notify())

    def _spawn_escalation(self, agent: str) -> None:
        async def key() -> None:
            await self.sim.press_feature(agent, "*0")

        self._spawn(key())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def event(self, name: str, timeout: float = 10.0, **prefixes: str) -> dict[str, str]:
        def found() -> list[dict[str, str]]:
            return [h for n, h in self._events if n == name and _matches(h, prefixes)]

        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: bool(found()))
        return found()[0]

    async def add_phone(
        self,
        agent: str,
        *,
        answer_after: float = 1.0,
        talk_for: float = 3.0,
        answers: bool = True,
        busy: bool = False,
        registered: bool = True,
        escalate_after: float | None = None,
    ) -> None:
        if escalate_after is not None:
            self._escalating[agent] = escalate_after
        phone = self.sim.add_phone(
            agent, answer_after=answer_after, talk_for=talk_for, answers=answers
        )
        phone.busy_here = busy
        if not registered:
            phone.set_registered(False)

    async def place_call(
        self,
        queue: str,
        *,
        caller_name: str = "Ivan",
        caller_number: str = "79991234567",
        patience: float | None = 30.0,
        priority: int | None = None,
        skills: str | None = None,
        attrs: Mapping[str, str] | None = None,
        announce_every: int | None = None,
    ) -> SimCall:
        variables = {} if announce_every is None else {"ACD_ANNOUNCE_EVERY": str(announce_every)}
        return await self.sim.place_call(
            variables=variables,
            queue=queue,
            caller_name=caller_name,
            caller_number=caller_number,
            patience=patience,
            priority=priority,
            skills=skills,
            attrs=attrs,
        )

    async def direct_call(self, agent: str, *, duration: float) -> _DirectCall:
        phone = self.sim.phone(agent)
        phone.set_in_use(True)
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def hang_up() -> None:
            phone.set_in_use(False)
            done.set_result("completed")

        self.sim.pbx.call_later(duration, hang_up)
        return _DirectCall(done)

    async def blind_transfer(self, channel: str, exten: str, context: str) -> None:
        chan = self.sim.pbx.find_channel(channel)
        assert chan is not None, channel
        assert blind_transfer_channel(chan, exten, context) == "Success"

    def phone(self, agent: str) -> PhoneCounts:
        phone = self.sim.phone(agent)
        return PhoneCounts(phone.calls_rung, phone.calls_answered, phone.calls_busy)

    async def restart(self, *, graceful: bool) -> None:
        await self.sim.restart(graceful=graceful)

    async def close(self) -> None:
        return None


# --- a real Asterisk ---------------------------------------------------------------------------

_tokens = itertools.count(1)


class RealCall:
    """A SIPp caller, followed through the observer's events."""

    def __init__(self, observed: ObservedCall, process: Sipp) -> None:
        self._observed = observed
        self.process = process
        self.uniqueid = observed.uniqueid
        self.channel = observed.channel

    async def answered(self, timeout: float | None = None) -> str | None:
        await asyncio.wait_for(self._observed.answered_event.wait(), timeout)
        return self._observed.answered_by

    async def ended(self, timeout: float | None = None) -> str:
        await asyncio.wait_for(self._observed.ended_event.wait(), timeout)
        assert self._observed.outcome is not None
        return self._observed.outcome


class RealPbx:
    """A private Asterisk 22 with PJSIP; agents' phones and callers are SIPp processes."""

    name = "asterisk"

    def __init__(self, rig: AsteriskProcess, workdir: Path, fallback_context: str) -> None:
        self.rig = rig
        self.port = rig.ami_port
        self.workdir = workdir
        self.observer = Observer(rig.ami_port, *OBSERVER, fallback_context=fallback_context)
        self._phones: dict[str, Sipp] = {}
        self._registered: set[str] = set()
        self._callers: list[Sipp] = []

    async def open(self) -> None:
        await self.observer.connect()
        await self.hang_up_everything()

    async def add_phone(
        self,
        agent: str,
        *,
        answer_after: float = 1.0,
        talk_for: float = 3.0,
        answers: bool = True,
        busy: bool = False,
        registered: bool = True,
        escalate_after: float | None = None,
    ) -> None:
        assert agent in AGENT_IDS, f"the test Asterisk has no endpoint {agent}"
        script = PhoneScript(answer_after, talk_for, answers, busy, escalate_after)
        phone = Sipp(
            self.workdir,
            f"phone-{agent}",
            phone_scenario(script),
            self.rig.sip_port,
            uas=True,
            service=agent,
            calls=None,
        )
        await phone.start()
        self._phones[agent] = phone
        await self._register(agent, phone.local_port, 3600 if registered else 0)
        if registered:
            self._registered.add(agent)

    async def _register(self, agent: str, contact_port: int, expires: int) -> None:
        scenario = register_scenario(agent, agent_password(agent), contact_port, expires)
        label = f"register-{agent}-{next(_tokens)}"
        registrar = Sipp(self.workdir, label, scenario, self.rig.sip_port)
        code = await registrar.run(timeout=15)
        assert code == 0, f"REGISTER of {agent} failed (SIPp exit {code})"

    async def place_call(
        self,
        queue: str,
        *,
        caller_name: str = "Ivan",
        caller_number: str = "79991234567",
        patience: float | None = 30.0,
        priority: int | None = None,
        skills: str | None = None,
        attrs: Mapping[str, str] | None = None,
        announce_every: int | None = None,
    ) -> RealCall:
        headers = {"X-ACD-Queue": queue}
        if announce_every is not None:
            headers["X-ACD-Announce-Every"] = str(announce_every)
        if priority is not None:
            headers["X-ACD-Priority"] = str(priority)
        if skills:
            headers["X-ACD-Skills"] = skills
        if attrs:
            headers["X-ACD-Attrs"] = ";".join(f"{k}={v}" for k, v in attrs.items())
        return await self._call("acd", headers, caller_name, caller_number, patience)

    async def direct_call(self, agent: str, *, duration: float) -> RealCall:
        return await self._call(agent, {}, "Private caller", "4900", duration)

    async def _call(
        self, target: str, headers: dict[str, str], name: str, number: str, patience: float | None
    ) -> RealCall:
        token = f"c{next(_tokens)}"
        headers = {**headers, "X-Test-Call": token}
        scenario = caller_scenario(
            name=name, number=number, headers=headers, patience=patience, target=target
        )
        caller = Sipp(self.workdir, f"caller-{token}", scenario, self.rig.sip_port, service=target)
        await caller.start()
        self._callers.append(caller)
        observed = self.observer.call(token)
        await asyncio.wait_for(observed.known.wait(), 15)
        return RealCall(observed, caller)

    async def blind_transfer(self, channel: str, exten: str, context: str) -> None:
        reply = await self.observer.action(
            "BlindTransfer", Channel=channel, Exten=exten, Context=context
        )
        assert reply.get("Response") == "Success", reply.headers

    def phone(self, agent: str) -> PhoneCounts:
        return self.observer.phones.get(agent, PhoneCounts())

    async def event(self, name: str, timeout: float = 10.0, **prefixes: str) -> dict[str, str]:
        found = await self.observer.wait_for(
            lambda m: m.event == name and _matches(dict(m.headers), prefixes), timeout
        )
        return dict(found.headers)

    async def restart(self, *, graceful: bool) -> None:
        """``core stop now`` (graceful: channels hung up, Shutdown sent) or SIGKILL, then
        Asterisk starts again, as its service manager would start it. (``core restart now``
        re-executes in the same process, which the rig could not tell from a hang.)"""
        self.observer.halting = True
        if graceful:
            await asyncio.to_thread(self.rig.cli, "core stop now")
            assert self.rig.process is not None
            await asyncio.to_thread(self.rig.process.wait, 30)
        await asyncio.to_thread(self.rig.kill)
        await self.observer.close()
        await asyncio.to_thread(self.rig.start)
        self.observer.halting = False
        await self.observer.connect()

    async def hang_up_everything(self) -> None:
        """No channel of an earlier test may linger into the next one."""
        for _ in range(20):
            channels = await self.observer.list_action(
                "CoreShowChannels", "CoreShowChannelsComplete"
            )
            if not channels:
                return
            since = len(self.observer.messages)
            await self.observer.action("Hangup", Channel="/.*/")
            try:
                await self.observer.wait_for(lambda m: m.event == "Hangup", 5, since)
            except TimeoutError:
                # The channels listed hung up by themselves before the Hangup action came, so it
                # found nothing to hang up: list again.
                continue
        raise AssertionError("channels did not go away")

    async def close(self) -> None:
        for process in [*self._callers, *self._phones.values()]:
            await process.stop()
        await asyncio.gather(*(self._register(agent, 0, 0) for agent in self._registered))
        if self.rig.process is not None and self.rig.process.poll() is None:
            await self.hang_up_everything()
        await self.observer.close()
