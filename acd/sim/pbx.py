"""The simulated Asterisk core: channels, ids, device states, timers and the event bus.

Everything that runs on behalf of a channel (its dialplan, an Originate, a phone's timers) is
started here, so that a restart or a stop can cancel all of it and leave no task behind.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from acd.sim.channels import Channel, Party, State
from acd.sim.clock import SimClock
from acd.sim.dialplan import Dialplan
from acd.sim.events import AmiEvent, EventBus
from acd.sim.protocol import Header

log = logging.getLogger(__name__)


class Endpoint(Protocol):
    """A SIP device the simulator plays (an agent's phone)."""

    endpoint: str
    context: str
    registered: bool
    callerid: Party

    @property
    def in_use(self) -> bool:
        """Busy on a call the simulator does not know about."""

    def invite(self, chan: Channel) -> None:
        """Asterisk calls the device on ``chan``."""

    def hangup(self, chan: Channel) -> None:
        """Asterisk hung up ``chan`` (or the device did)."""


class Executor(Protocol):
    """Runs dialplan and applications on channels (see :mod:`acd.sim.apps`)."""

    async def run_dialplan(self, chan: Channel) -> None:
        """Run ``chan`` from its context/exten/priority until it hangs up."""

    async def run_app(self, chan: Channel, app: str, data: str) -> None:
        """Run one application on ``chan`` (an Originate's Application), then hang up."""

    async def run_subroutine(self, chan: Channel, location: str) -> None:
        """Run ``context^exten^priority`` on ``chan`` until Return() (Dial's b option)."""

    async def run_feature_app(self, chan: Channel, app: str, data: str) -> None:
        """Run one application on a bridged channel, which stays in its bridge."""

    def run_hangup_handlers(self, chan: Channel) -> None:
        """Run ``chan``'s hangup handlers (it is hanging up)."""


class Timer:
    """A callback after some simulated seconds; cancellable, forgotten once run."""

    def __init__(self, pbx: Pbx, seconds: float, callback: Callable[[], None]) -> None:
        self._pbx, self._callback = pbx, callback
        self._handle = asyncio.get_running_loop().call_later(pbx.clock.real(seconds), self._run)
        pbx.timers.add(self)

    def _run(self) -> None:
        self._pbx.timers.discard(self)
        try:
            self._callback()
        except Exception:
            log.exception("simulator timer failed")

    def cancel(self) -> None:
        """Do not run (any more)."""
        self._handle.cancel()
        self._pbx.timers.discard(self)


class Pbx:
    """Channels, counters and background work of one simulated Asterisk."""

    def __init__(self, clock: SimClock, dialplan: Dialplan, rng: random.Random) -> None:
        self.clock, self.dialplan, self.rng = clock, dialplan, rng
        self.bus = EventBus()
        self.channels: dict[str, Channel] = {}
        # How many live channels of each PJSIP endpoint are in each state: a device's state is
        # computed from them on every change, which must not cost a pass over the channels
        # (every caller shares the trunk's endpoint: 100,000 waiting callers in a benchmark).
        self._endpoint_states: dict[str, Counter[State]] = {}
        self._counted: dict[Channel, State] = {}  # the state each channel is counted under
        self.endpoints: dict[str, Endpoint] = {}
        self.globals: dict[str, str] = dict(dialplan.globals)
        self.tasks: set[asyncio.Task[None]] = set()
        self.timers: set[Timer] = set()
        self.executor: Executor | None = None
        self.halting = False
        self.astdb: dict[str, str] = {}  # "family/key" -> value; on disk, survives a restart
        # Uniqueids stay unique across simulated restarts; channel names restart at 0.
        self._uniqueids = itertools.count()
        self.boot()

    def boot(self) -> None:
        """A fresh start: new boot time, channel numbering from 0."""
        self.booted_at = self.clock.now()
        self.processed_calls = 0
        self._local_ids = itertools.count()
        self._pjsip_ids = itertools.count()
        self._device_states: dict[str, str] = {}

    # --- ids -------------------------------------------------------------------------------------
    def new_uniqueid(self) -> str:
        """``epoch.sequence``, as Asterisk's Uniqueids look."""
        return f"{int(self.clock.now())}.{next(self._uniqueids)}"

    def local_name(self, exten: str, context: str) -> str:
        """``Local/100@from-customer-00000004`` (without the ``;1``/``;2``)."""
        return f"Local/{exten}@{context}-{next(self._local_ids):08x}"

    def pjsip_name(self, endpoint: str) -> str:
        """``PJSIP/1001-0000000a``."""
        return f"PJSIP/{endpoint}-{next(self._pjsip_ids):08x}"

    def new_bridge_id(self) -> str:
        """A bridge's uuid (from the simulator's seeded generator)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # --- events and channels ---------------------------------------------------------------------
    def publish(
        self, event: str, category: str, headers: Sequence[Header], privileged: bool = True
    ) -> None:
        """Send an event to every AMI session that wants it."""
        self.bus.publish(AmiEvent.build(event, category, headers, privileged))

    def add_channel(self, chan: Channel) -> Channel:
        """Register a new channel and publish Newchannel."""
        replaced = self.channels.get(chan.name)
        if replaced is not None:
            self._forget_endpoint_channel(replaced)
        self.channels[chan.name] = chan
        if chan.endpoint is not None:
            self._endpoint_states.setdefault(chan.endpoint, Counter())[chan.state] += 1
            self._counted[chan] = chan.state
        chan.publish()
        return chan

    def remove_channel(self, chan: Channel) -> None:
        """Forget a hung-up channel."""
        if self.channels.get(chan.name) is chan:
            del self.channels[chan.name]
            self._forget_endpoint_channel(chan)

    def _forget_endpoint_channel(self, chan: Channel) -> None:
        counted = self._counted.pop(chan, None)
        if counted is not None and chan.endpoint is not None:
            states = self._endpoint_states[chan.endpoint]
            states[counted] -= 1
            if not states[counted]:
                del states[counted]

    def channel_state_changed(self, chan: Channel) -> None:
        """Keep the count of ``chan``'s endpoint's channel states (a channel changed state)."""
        counted = self._counted.get(chan)
        if counted is not None and counted != chan.state and chan.endpoint is not None:
            self._forget_endpoint_channel(chan)
            self._endpoint_states[chan.endpoint][chan.state] += 1
            self._counted[chan] = chan.state

    def find_channel(self, name: str) -> Channel | None:
        """ast_channel_get_by_name (exact name, case-insensitive as Asterisk compares)."""
        found = self.channels.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((c for c in self.channels.values() if c.name.lower() == lowered), None)

    def endpoint_hangup(self, chan: Channel) -> None:
        """Tell the phone behind a PJSIP channel that the call is over."""
        if chan.endpoint is not None and chan.endpoint in self.endpoints:
            self.endpoints[chan.endpoint].hangup(chan)

    # --- device states ---------------------------------------------------------------------------
    def device_changed(self, chan: Channel) -> None:
        """DeviceStateChange after a channel's state changed or it hung up."""
        if chan.local is not None:
            # Local devices are not cached: Asterisk reports every change, INUSE while any
            # channel of the same exten@context exists.
            device = chan.local.device
            live = any(
                c.local is not None and c.local.device == device for c in self.channels.values()
            )
            self.publish(
                "DeviceStateChange",
                "call",
                [("Device", device), ("State", "INUSE" if live else "NOT_INUSE")],
            )
        elif chan.endpoint is not None:
            self.refresh_device(chan.endpoint)

    def device_state(self, endpoint: str) -> str:
        """A PJSIP endpoint's aggregate state from its channels and its phone
        (chan_pjsip_devicestate): an endpoint with no phone registered (the trunk, whose
        endpoint has no contact) is UNAVAILABLE when it has no channel."""
        phone = self.endpoints.get(endpoint)
        if phone is not None and not phone.registered:
            return "UNAVAILABLE"
        states = [s for s, n in self._endpoint_states.get(endpoint, {}).items() if n]
        if phone is None and not states:
            return "UNAVAILABLE"
        in_use = (phone is not None and phone.in_use) or any(
            s in (State.UP, State.RING, State.OFFHOOK, State.DIALING) for s in states
        )
        ringing = State.RINGING in states
        if ringing:
            return "RINGINUSE" if in_use else "RINGING"
        return "INUSE" if in_use else "NOT_INUSE"

    def _idle_state(self, endpoint: str) -> str:
        """The state cached for a device before it published any."""
        return "NOT_INUSE" if endpoint in self.endpoints else "UNAVAILABLE"

    def cached_devices(self) -> list[str]:
        """The PJSIP endpoints in the device state cache: every configured one (a phone
        registers again after a restart) and any other that published a state since boot."""
        return sorted(set(self.endpoints) | set(self._device_states))

    def refresh_device(self, endpoint: str) -> None:
        """Publish a PJSIP device's state if it changed (those states are cached). Asterisk
        recomputes it when one of its channels changes state or hangs up, and when chan_pjsip
        indicates ringing or progress to its far end; not when a channel is created."""
        state = self.device_state(endpoint)
        if self._device_states.get(endpoint, self._idle_state(endpoint)) != state:
            self._device_states[endpoint] = state
            self.publish(
                "DeviceStateChange", "call", [("Device", f"PJSIP/{endpoint}"), ("State", state)]
            )

    # --- background work -------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` in the background; errors are logged, stop() cancels it."""
        task = asyncio.get_running_loop().create_task(self._guard(coro, name), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulator task %s failed", name)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` after ``seconds`` of simulated time."""
        return Timer(self, seconds, callback)

    def start_dialplan(self, chan: Channel) -> None:
        """Start a PBX on ``chan`` at its current context/exten/priority."""
        assert self.executor is not None
        self.processed_calls += 1
        self.spawn(self.executor.run_dialplan(chan), f"pbx {chan.name}")

    async def halt(self) -> None:
        """Cancel every task and timer and forget every channel (no events)."""
        self.halting = True
        try:
            await self._halt()
        finally:
            self.halting = False

    async def _halt(self) -> None:
        for timer in list(self.timers):
            timer.cancel()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.bus.clear()
        gone = list(self.channels.values())
        self.channels.clear()
        self._endpoint_states.clear()
        self._counted.clear()
        for chan in gone:
            chan.dead = True
            self.endpoint_hangup(chan)
            for observer in list(chan.observers):
                observer.gone(chan)
        self.bus.clear()
