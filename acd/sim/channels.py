"""Simulated channels: their snapshot, their events, control frames and hangup.

A channel changes by setting its fields and calling :meth:`Channel.publish`, which emits what
main/manager_channels.c derives from two snapshots in its order: Newstate, Newexten (only when
context/exten/priority change or the first application is set), NewCallerid,
NewConnectedLine. Whoever drives a channel (its dialplan, a Dial, an Originate) reads
control frames from it: hangups and redirects interrupt, answers and ringing inform.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Protocol

from acd.sim.protocol import Header

if TYPE_CHECKING:
    from acd.sim.bridges import Bridge
    from acd.sim.pbx import Pbx


class State(IntEnum):
    """enum ast_channel_state."""

    DOWN = 0
    RSRVD = 1
    OFFHOOK = 2
    DIALING = 3
    RING = 4
    RINGING = 5
    UP = 6
    BUSY = 7


STATE_DESC = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
}

# ast_cause2str for the causes a simulated call can end with.
CAUSES = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    26: "Answered elsewhere",
    27: "Destination out of order",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    127: "Interworking, unspecified",
}
NORMAL_CLEARING = 16
USER_BUSY = 17
UNKNOWN = "<unknown>"
# chan_pjsip.c hangup_cause2sip: the SIP response a PJSIP channel hung up with a cause sends
# (its TechCause); 0 for a BYE or a CANCEL.
CAUSE_TO_SIP = {
    1: 404,
    2: 404,
    3: 404,
    17: 486,
    18: 408,
    19: 480,
    20: 480,
    21: 403,
    22: 410,
    23: 302,
    27: 502,
    28: 484,
    29: 501,
    31: 480,
    34: 503,
    38: 500,
    42: 503,
    58: 488,
    66: 503,
    127: 500,
}


class Kind(Enum):
    """What a control frame says."""

    HANGUP = "hangup"
    GOTO = "goto"
    ANSWER = "answer"
    RINGING = "ringing"


@dataclass(frozen=True)
class Frame:
    """A control frame queued on a channel for whoever drives it."""

    kind: Kind
    cause: int = 0


@dataclass(frozen=True)
class Party:
    """A caller id or connected line; None parts show as ``<unknown>``."""

    number: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class _Snapshot:
    state: State
    cep: tuple[str, str, int]
    appl: str
    caller: Party
    connected: Party


class ChannelObserver(Protocol):
    """A simulated person watching a channel (a caller, a phone)."""

    def bridged(self, chan: Channel, peer: Channel) -> None:
        """``chan`` was bridged with ``peer``."""

    def moved(self, chan: Channel) -> None:
        """``chan`` reached a new place in the dialplan (after its Newexten)."""

    def gone(self, chan: Channel) -> None:
        """``chan`` hung up."""


class LocalPair:
    """The two halves of a Local channel: ``;1`` faces the caller, ``;2`` runs the dialplan."""

    def __init__(self, one: Channel, two: Channel, context: str, exten: str) -> None:
        self.one, self.two, self.context, self.exten = one, two, context, exten
        one.local = two.local = self

    @property
    def device(self) -> str:
        return f"Local/{self.exten}@{self.context}"

    def other(self, chan: Channel) -> Channel:
        return self.two if chan is self.one else self.one


class Channel:
    """One simulated Asterisk channel."""

    def __init__(
        self,
        pbx: Pbx,
        name: str,
        tech: str,
        *,
        state: State,
        context: str,
        exten: str,
        linkedid: str | None = None,
        caller: Party | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.pbx = pbx
        self.name, self.tech, self.endpoint = name, tech, endpoint
        self.uniqueid = pbx.new_uniqueid()
        self.linkedid = linkedid or self.uniqueid
        self.state = state
        self.caller = caller or Party()
        self.connected = Party()
        self.context, self.exten, self.priority = context, exten, 1
        self.appl = self.data = ""
        self.created = pbx.clock.now()
        self.hangupcause = 0
        self.tech_cause = 0  # the SIP status that ended a PJSIP channel (TechCause)
        self.hangup_requested = False
        self.pending_goto: tuple[str, str, int] | None = None
        self.dead = False
        self.bridge: Bridge | None = None
        self.local: LocalPair | None = None
        self.observers: list[ChannelObserver] = []
        self.hangup_handlers: list[str] = []  # CHANNEL(hangup_handler_push), newest first
        self.frames: deque[Frame] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self._vars: dict[str, tuple[str, str]] = {}  # bare name -> (name as set, value)
        self._published: _Snapshot | None = None

    # --- snapshot and events ---------------------------------------------------------------------
    def snapshot(self, prefix: str = "") -> list[Header]:
        """The channel block of every channel event (``Dest``/``LocalOne`` prefixed)."""
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(int(self.state))),
            (f"{prefix}ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (f"{prefix}CallerIDNum", _shown(self.caller.number)),
            (f"{prefix}CallerIDName", _shown(self.caller.name)),
            (f"{prefix}ConnectedLineNum", _shown(self.connected.number)),
            (f"{prefix}ConnectedLineName", _shown(self.connected.name)),
            (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", ""),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]

    def emit(self, event: str, category: str = "call", extra: Sequence[Header] = ()) -> None:
        """Publish a channel event: this channel's snapshot, then ``extra``."""
        self.pbx.publish(event, category, [*self.snapshot(), *extra])

    def publish(self) -> None:
        """Publish the current snapshot; emit the events its differences call for."""
        if self.dead:
            return
        new = _Snapshot(
            self.state,
            (self.context, self.exten, self.priority),
            self.appl,
            self.caller,
            self.connected,
        )
        old, self._published = self._published, new
        if old is None:
            self.emit("Newchannel")
            return
        if old.state != new.state:
            self.emit("Newstate")
        if new.appl and (not old.appl or old.cep != new.cep):
            self.emit(
                "Newexten",
                "dialplan",
                [("Extension", self.exten), ("Application", self.appl), ("AppData", self.data)],
            )
            for observer in list(self.observers):
                observer.moved(self)
        if old.caller != new.caller:
            self.emit(
                "NewCallerid", extra=[("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]
            )
        if old.connected != new.connected:
            self.emit("NewConnectedLine")

    def set_state(self, state: State) -> None:
        """Change state (Newstate) and let the device state follow."""
        if self.state == state or self.dead:
            return
        self.state = state
        self.pbx.channel_state_changed(self)
        self.publish()
        self.pbx.device_changed(self)

    def answer(self) -> None:
        """ast_raw_answer; a Local ``;2`` also answers its ``;1`` (local_answer)."""
        self.set_state(State.UP)
        if self.local is not None and self is self.local.two:
            one = self.local.one
            one.set_state(State.UP)
            one.queue_frame(Frame(Kind.ANSWER))

    # --- variables -------------------------------------------------------------------------------
    def setvar(self, name: str, value: str, *, event: bool = True) -> None:
        """pbx_builtin_setvar_helper: replace, put first in the list, publish VarSet."""
        bare = name.lstrip("_")
        self._vars.pop(bare, None)
        self._vars = {bare: (name, value), **self._vars}
        if event and not self.dead:
            self.emit("VarSet", "dialplan", [("Variable", name), ("Value", value)])

    def getvar(self, name: str) -> str | None:
        """A channel variable, None when unset."""
        found = self._vars.get(name.lstrip("_"))
        return None if found is None else found[1]

    def variables(self) -> list[tuple[str, str]]:
        """Every variable as (name as set, value), most recently set first."""
        return list(self._vars.values())

    # --- control frames --------------------------------------------------------------------------
    def queue_frame(self, frame: Frame) -> None:
        """Queue a frame and wake whoever is waiting on this channel."""
        if self.dead:
            return
        self.frames.append(frame)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def read(self, seconds: float | None) -> Frame | None:
        """The next frame, or None if none comes within ``seconds`` of simulated time."""
        if not self.frames and (seconds is None or seconds > 0):
            await wait_any([self], seconds)
        return self.frames.popleft() if self.frames else None

    async def sleep(self, seconds: float | None) -> Frame | None:
        """Wait ``seconds`` (None: forever); a hangup or a redirect ends it early."""
        deadline = None if seconds is None else self.pbx.clock.now() + seconds
        while True:
            if self.hangup_requested or self.dead:
                return Frame(Kind.HANGUP, self.hangupcause)
            if self.pending_goto is not None:
                return Frame(Kind.GOTO)
            remaining = None if deadline is None else deadline - self.pbx.clock.now()
            if remaining is not None and remaining <= 0:
                return None
            frame = await self.read(remaining)
            if frame is None and remaining is not None:
                return None

    # --- hangup and redirect ---------------------------------------------------------------------
    def queue_hangup(self, cause: int) -> None:
        """ast_queue_hangup_with_cause: HangupRequest now, the hangup when the owner reads it."""
        if self.dead:
            return
        self.emit("HangupRequest", extra=[("Cause", str(cause)), *self._tech_cause()])
        self.soft_hangup(cause)

    def soft_hangup(self, cause: int = 0) -> None:
        """ast_softhangup without an event, as the AMI Hangup action does."""
        if self.dead:
            return
        if cause > 0:
            self.hangupcause = cause
        self.hangup_requested = True
        self.queue_frame(Frame(Kind.HANGUP, cause))

    def async_goto(self, context: str, exten: str, priority: int) -> None:
        """ast_async_goto: whatever the channel is doing stops, then it runs from there."""
        self.pending_goto = (context, exten, priority)
        self.queue_frame(Frame(Kind.GOTO))

    def destroy(self) -> None:
        """ast_hangup: the technology's hangup, the Hangup event, the device state."""
        if self.dead:
            return
        if self.local is not None:
            self._local_hangup()
        self.pbx.endpoint_hangup(self)
        if self.hangup_handlers and self.pbx.executor is not None:
            self.pbx.executor.run_hangup_handlers(self)
        if self.tech == "PJSIP" and not self.tech_cause:
            # chan_pjsip_hangup: the response it sends for the cause, unless one came in.
            self.tech_cause = CAUSE_TO_SIP.get(self.hangupcause, 0)
        self.emit(
            "Hangup",
            extra=[
                ("Cause", str(self.hangupcause)),
                ("Cause-txt", CAUSES.get(self.hangupcause, "Unknown")),
                *self._tech_cause(),
            ],
        )
        self.dead = True
        self.pbx.remove_channel(self)
        self.pbx.device_changed(self)
        for observer in list(self.observers):
            observer.gone(self)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _tech_cause(self) -> list[Header]:
        """manager_channels.c adds TechCause to HangupRequest and Hangup when it is set."""
        return [("TechCause", str(self.tech_cause))] if self.tech_cause else []

    def _local_hangup(self) -> None:
        """ast_unreal_hangup: tell the other half, with CHANLOCALSTATUS after a Dial."""
        assert self.local is not None
        other = self.local.other(self)
        if other.dead:
            return
        if self is self.local.two:
            status = self.getvar("DIALSTATUS")
            if status is not None:
                other.hangupcause = self.hangupcause
                other.setvar("CHANLOCALSTATUS", status)
        other.queue_hangup(self.hangupcause)


def _shown(value: str | None) -> str:
    return UNKNOWN if value is None else value


async def wait_any(channels: Iterable[Channel], seconds: float | None) -> None:
    """Wait until one of ``channels`` has a frame (or is gone), or ``seconds`` pass."""
    chans = list(channels)
    if any(chan.frames or chan.dead for chan in chans):
        return
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    for chan in chans:
        chan.waiter = waiter
    timer = None
    if seconds is not None:
        timer = loop.call_later(chans[0].pbx.clock.real(seconds), _finish, waiter)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        for chan in chans:
            if chan.waiter is waiter:
                chan.waiter = None


def _finish(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
