"""The Simulator: an AMI server over TCP in front of a simulated Asterisk 22.

It accepts connections like Asterisk's manager (banner, login, actions, events), runs the
dialplan files it was given, plays callers (:meth:`Simulator.place_call`) and agent phones
(:meth:`Simulator.add_phone`), and offers faults for robustness tests.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from acd import contexts
from acd.sim.apps import DialplanExecutor
from acd.sim.callers import SimCall, place_call
from acd.sim.channels import Channel
from acd.sim.clock import SimClock
from acd.sim.dialplan import Dialplan
from acd.sim.eventfilters import EventFilters, load_user_filters
from acd.sim.events import AmiEvent
from acd.sim.features import load_features, press
from acd.sim.pbx import Pbx
from acd.sim.phones import SimPhone
from acd.sim.protocol import ActionMessage
from acd.sim.session import AmiSession
from acd.sim.transfers import hold
from acd.sim.wiretap import WireTap

log = logging.getLogger(__name__)

# AST_SOFTHANGUP_SHUTDOWN, and how long Asterisk waits for channels to go when it stops.
SOFTHANGUP_SHUTDOWN = 4
SHUTDOWN_TIMEOUT = 15.0
# Longest line the simulator buffers before declaring it too long (manager.c keeps 1 KiB).
_READ_LIMIT = 64 * 1024


def default_dialplan() -> Path:
    """The project's ``asterisk/extensions_acd.conf``; a packaged copy when installed."""
    return _project_file("extensions_acd.conf")


def default_features() -> Path:
    """The project's ``asterisk/features_acd.conf``; a packaged copy when installed."""
    return _project_file("features_acd.conf")


def _project_file(name: str) -> Path:
    in_repository = Path(__file__).resolve().parents[2] / "asterisk" / name
    return in_repository if in_repository.exists() else Path(__file__).with_name(name)


class Simulator:
    """A simulated Asterisk with its AMI server, callers and agent phones."""

    def __init__(
        self,
        username: str = "acd",
        secret: str = "acd",  # noqa: S107
        dialplan_files: Sequence[Path] | None = None,
        time_scale: float = 1.0,
        seed: int | None = None,
        features_files: Sequence[Path] | None = None,
        manager_conf: Path | None = None,
    ) -> None:
        self.username, self.secret = username, secret
        # The user's eventfilter lines, as Asterisk applies them; none (everything) unless a
        # manager.conf is given, so test clients can watch every event.
        self.event_filters = (
            load_user_filters(manager_conf, username)
            if manager_conf is not None
            else EventFilters()
        )
        # Observers told of every event written to a client and every action read from one,
        # at that moment: the load generator times acd's decisions from outside acd with them.
        self.taps: list[WireTap] = []
        self.clock = SimClock(time_scale)
        self.rng = random.Random(seed)
        files = list(dialplan_files) if dialplan_files is not None else [default_dialplan()]
        self.pbx = Pbx(self.clock, Dialplan.load(files), self.rng)
        self.pbx.executor = DialplanExecutor()
        self.features = load_features(
            list(features_files) if features_files is not None else [default_features()]
        )
        self.phones: dict[str, SimPhone] = {}
        self.calls: list[SimCall] = []  # placed callers (ended ones pruned now and then)
        self._prune_calls_at = 64
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._sessions: set[AmiSession] = set()
        self._session_tasks: set[asyncio.Task[None]] = set()
        self._accepting = False
        # Actions that reset the connections instead of being carried out (faults).
        self.action_faults: list[tuple[dict[str, str], bool, asyncio.Future[None]]] = []
        self.refusals: list[tuple[dict[str, str], str]] = []

    @property
    def time_scale(self) -> float:
        """Real seconds per simulated second."""
        return self.clock.time_scale

    @property
    def channels(self) -> Mapping[str, Channel]:
        """Live channels by name (read-only use, for tests)."""
        return self.pbx.channels

    @property
    def session_count(self) -> int:
        """How many AMI clients are connected."""
        return len(self._sessions)

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen for AMI clients; ``port=0`` picks a free port (see :attr:`port`)."""
        self._server = await asyncio.start_server(self._accept, host, port, limit=_READ_LIMIT)
        self.host = host
        self.port = self._server.sockets[0].getsockname()[1]
        self._accepting = True
        log.info("Asterisk simulator listening on %s:%d", host, self.port)

    async def stop(self) -> None:
        """Close every session, hang up everything, cancel every timer; nothing left behind."""
        self._accepting = False
        if self._server is not None:
            self._server.close()
        await self._close_sessions(abort=False)
        await self.pbx.halt()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._accepting:
            writer.transport.abort()  # restarting: Asterisk is not listening
            return
        session = AmiSession(self, reader, writer)
        self._sessions.add(session)
        self.pbx.bus.subscribe(session)
        task = asyncio.current_task()
        if task is not None:
            self._session_tasks.add(task)
        try:
            await session.serve()
        finally:
            if task is not None:
                self._session_tasks.discard(task)

    def forget(self, session: AmiSession) -> None:
        """Called by a session when it closes."""
        self._sessions.discard(session)
        self.pbx.bus.unsubscribe(session)

    async def _close_sessions(self, *, abort: bool) -> None:
        for session in list(self._sessions):
            session.close(abort=abort)
        # A closed transport ends each session's read loop; cancel only what does not end.
        tasks = list(self._session_tasks)
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=1.0)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.gather(*stuck, return_exceptions=True)

    # --- simulated people ------------------------------------------------------------------------
    def add_phone(
        self,
        endpoint: str,
        *,
        answer_after: float = 1.0,
        answers: bool = True,
        talk_for: float = 3.0,
        rng: random.Random | None = None,
        context: str = "default",
        callerid: tuple[str, str] | None = None,
    ) -> SimPhone:
        """Make ``PJSIP/<endpoint>`` dialable, backed by a simulated phone; ``callerid``
        (number, name) is the endpoint's ``callerid`` option in pjsip.conf."""
        phone = SimPhone(
            self.pbx,
            endpoint,
            answer_after=answer_after,
            answers=answers,
            talk_for=talk_for,
            rng=rng,
            context=context,
            callerid=callerid,
        )
        self.phones[endpoint] = phone
        self.pbx.endpoints[endpoint] = phone
        return phone

    async def press_feature(self, endpoint: str, digits: str) -> bool:
        """The person at ``endpoint`` keys ``digits`` during a call (a features.conf code);
        True if an applicationmap item their channel may use ran."""
        for chan in self.phones[endpoint].channels:
            if chan.bridge is not None:
                return await press(chan, digits, self.features)
        return False

    def hold(self, endpoint: str, held: bool) -> bool:
        """The person at ``endpoint`` puts the call on hold (``held``) or takes it off (the
        phone's re-INVITE, sendonly / sendrecv); True if it was in a call."""
        for chan in self.phones[endpoint].channels:
            if chan.bridge is not None:
                hold(chan, held)
                return True
        return False

    def phone(self, endpoint: str) -> SimPhone:
        """The phone added as ``endpoint``."""
        return self.phones[endpoint]

    async def place_call(
        self,
        queue: str | None,
        priority: int | None = None,
        skills: str | Mapping[str, int] | None = None,
        attrs: str | Mapping[str, str] | None = None,
        caller_name: str = "Ivan",
        caller_number: str = "79991234567",
        patience: float | None = 30.0,
        variables: Mapping[str, str] | None = None,
        talk_for: float | None = None,
        context: str = contexts.INBOUND,
        exten: str = "s",
    ) -> SimCall:
        """A caller arrives from the trunk into ``acd.inbound`` for ``queue`` (or into
        ``context,exten,1`` of another dialplan, without ACD_QUEUE when ``queue`` is None)."""
        call = place_call(
            self.pbx,
            queue=queue,
            priority=priority,
            skills=skills,
            attrs=attrs,
            caller_name=caller_name,
            caller_number=caller_number,
            patience=patience,
            variables=variables,
            talk_for=talk_for,
            context=context,
            exten=exten,
        )
        self.calls.append(call)
        # Ended calls are pruned when the list has doubled since the last pruning: a pass per
        # call would make placing n callers cost n^2 (100,000 waiting callers in a benchmark).
        if len(self.calls) >= self._prune_calls_at:
            self.calls = [c for c in self.calls if c.is_up]
            self._prune_calls_at = max(64, 2 * len(self.calls))
        return call

    # --- faults ----------------------------------------------------------------------------------
    async def drop_connections(self) -> None:
        """Reset every AMI connection at once (calls go on)."""
        await self._close_sessions(abort=True)

    async def restart(self, graceful: bool = True) -> None:
        """Asterisk restarts: ``core restart now``, or killed and started again (``graceful``
        False: no events at all), then a new boot begins.

        ``core restart now`` (main/asterisk.c, can_safely_quit) soft-hangs-up every channel,
        each with a SoftHangupRequest whose Cause is 4 (AST_SOFTHANGUP_SHUTDOWN), waits up to
        15 s for them to hang up (their Hangup events), publishes Shutdown, and exits: the
        sessions drop. Calls in progress end as 'dropped'. The next login sees FullyBooted
        with a new Uptime. Uniqueids keep counting so that they stay unique; channel names
        start again at 0.
        """
        self._accepting = False
        try:
            if graceful:
                await self._hang_up_everything(restart=True)
            # A process that exits closes its sockets; a killed one's connections reset.
            await self._close_sessions(abort=not graceful)
            await self.pbx.halt()
            self.pbx.boot()
        finally:
            self._accepting = True

    async def _hang_up_everything(self, restart: bool) -> None:
        pbx = self.pbx
        pbx.halting = True  # the callers' calls end as 'dropped'
        try:
            for chan in list(pbx.channels.values()):
                chan.emit("SoftHangupRequest", extra=[("Cause", str(SOFTHANGUP_SHUTDOWN))])
                chan.soft_hangup(0)
            # wait_for_channels_to_die: a look every 100 ms, for at most 15 s.
            deadline = pbx.clock.now() + SHUTDOWN_TIMEOUT
            while pbx.channels and pbx.clock.now() < deadline:  # noqa: ASYNC110 (as Asterisk)
                await asyncio.sleep(pbx.clock.real(0.1))
        finally:
            pbx.halting = False
        pbx.publish(
            "Shutdown",
            "system",
            [
                ("Shutdown", "Uncleanly" if pbx.channels else "Cleanly"),
                ("Restart", "True" if restart else "False"),
            ],
        )
        await asyncio.sleep(0)  # the event bus delivers on the next turn of the loop

    def replay(self, events: Sequence[AmiEvent]) -> None:
        """Send ``events`` (as published before) again to every session, through its
        filters: a duplicated or late event, as a reconnecting proxy or a second AMI
        connection could bring."""
        for session in list(self._sessions):
            session.deliver(events)

    def send_raw(self, data: bytes) -> None:
        """Write raw bytes to every session (malformed frames)."""
        for session in list(self._sessions):
            session.write(data)

    def reset_at_action(
        self, action: str, *, carried_out: bool = False, **headers: str
    ) -> asyncio.Future[None]:
        """Fault: at the next action ``action`` whose headers are these, every AMI connection
        resets (Asterisk lost mid-action): before it is carried out, or (``carried_out``)
        after, its response never sent. The future is done once that happened."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wanted = {"Action": action, **headers}
        self.action_faults.append((wanted, carried_out, done))
        return done

    def refuse_action(self, action: str, error: str, **headers: str) -> None:
        """Fault: every action ``action`` whose headers are these is answered ``Response:
        Error`` with ``error`` and not carried out (e.g. "Redirect failed")."""
        self.refusals.append(({"Action": action, **headers}, error))

    def refusal_for(self, message: ActionMessage) -> str | None:
        """The error a refusal fault answers ``message`` with, if any."""
        for wanted, error in self.refusals:
            if all(message.get(k).lower() == v.lower() for k, v in wanted.items()):
                return error
        return None

    def abort_sessions(self) -> None:
        """Reset every AMI connection now (their read loops then end by themselves)."""
        for session in list(self._sessions):
            session.close(abort=True)

    def take_action_fault(self, message: ActionMessage) -> bool | None:
        """None if no fault waits for ``message``; else whether the action is carried out
        before the connections reset (that fault is then used)."""
        for fault in self.action_faults:
            wanted, carried_out, done = fault
            if all(message.get(k).lower() == v.lower() for k, v in wanted.items()):
                self.action_faults.remove(fault)
                if not done.done():
                    done.set_result(None)
                return carried_out
        return None

    def slow_consumer(self, seconds: float) -> None:
        """Stop writing to every session for ``seconds`` of real time, then catch up."""
        for session in list(self._sessions):
            session.stall(seconds)
