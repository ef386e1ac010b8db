"""One logged-in AMI session to Asterisk: login, keep-alive ping, reconnect with backoff,
event dispatch, and actions correlated by ActionID with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from panoramisk.actions import Action
from panoramisk.message import Message

from acd.ami.protocol import AcdAmiProtocol
from acd.ami.settings import AmiSettings
from acd.errors import AmiAuthError, AmiError, AmiNotDone, NoSuchChannel
from acd.metrics import Metrics

log = logging.getLogger("acd.ami")

ActionValue = str | Sequence[str]
EventHandler = Callable[[Message], None]
ConnectedHandler = Callable[[bool], Awaitable[None]]


# The event names acd_ami_events_total has a series of: those manager.conf lets through, the
# answers to acd's list actions, and the few an unfiltered AMI user sends most. Any other name
# is counted as "other", so a peer inventing names cannot grow the series without bound.
COUNTED_EVENTS = frozenset(
    {
        "UserEvent",
        "DialBegin",
        "DialEnd",
        "BridgeEnter",
        "BridgeLeave",
        "Hangup",
        "Newchannel",
        "DeviceStateChange",
        "FullyBooted",
        "SoftHangupRequest",
        "BlindTransfer",
        "AttendedTransfer",
        "Hold",
        "Unhold",
        "HangupRequest",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "DeviceStateListComplete",
        "DBGetResponse",
        "DBGetComplete",
        "ListDialplan",
        "ShowDialPlanComplete",
        "OriginateResponse",
        "Shutdown",
        "Reload",
        "Newstate",
        "VarSet",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "NewCallerid",
        "NewConnectedLine",
        "NewExten",
        "BridgeCreate",
        "BridgeDestroy",
    }
)


def event_label(name: str) -> str:
    """The ``event`` label an AMI event is counted under: its name if known, else ``other``."""
    return name if name in COUNTED_EVENTS else "other"


# What Asterisk answers an action naming a channel it does not have (manager.c: Setvar,
# Getvar, Hangup say "No such channel"; Redirect "Channel does not exist: <name>").
_NO_CHANNEL = re.compile(r"^(No such channel|Channel does not exist)", re.IGNORECASE)


def check_header_value(name: str, value: str) -> None:
    """Refuse values that would end an AMI header early (CR/LF injection)."""
    if "\r" in value or "\n" in value or "\x00" in value:
        raise AmiError(f"AMI header {name!r} contains a line break or NUL")


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    # A response that arrives after its caller timed out is dropped without a warning.
    if not future.cancelled():
        future.exception()


class AmiConnection:
    """A self-healing AMI client; ``send`` fails fast with :class:`AmiError` while down."""

    def __init__(
        self,
        settings: AmiSettings,
        metrics: Metrics,
        on_event: EventHandler,
        on_connected: ConnectedHandler,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._on_event = on_event
        self._on_connected = on_connected
        self._protocol: AcdAmiProtocol | None = None
        self._lost = asyncio.Event()
        self._ready = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._connected_once = False
        # panoramisk's protocol parks unanswered actions here when the socket closes.
        self.awaiting_actions: deque[Action] = deque()
        self.forgetable_actions = ("ping", "login")
        self.auth_failures = 0
        self._backpressure = False  # the worker is behind: read only to get responses
        self._in_flight = 0  # actions awaiting their response

    @property
    def connected(self) -> bool:
        """True while logged in."""
        return self._ready.is_set()

    def start(self) -> None:
        """Start connecting in the background; reconnects until :meth:`close`."""
        self._task = asyncio.create_task(self._run(), name="ami-connection")

    async def wait_connected(self, timeout: float) -> None:
        """Wait until logged in, or raise TimeoutError."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def close(self) -> None:
        """Log off and stop reconnecting."""
        self._closing = True
        if self._protocol is not None and self.connected:
            with contextlib.suppress(AmiError, OSError):
                await self.send({"Action": "Logoff"}, timeout=1.0)
        # Wake the run loop as well as cancelling it: Python 3.11's wait_for can swallow a
        # cancellation that races with its inner future, and the loop would then wait on
        # `_lost` for ever.
        self._lost.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)
        self._drop()

    async def send(
        self,
        fields: Mapping[str, ActionValue],
        timeout: float | None = None,
        *,
        single: bool = False,
    ) -> Message | list[Message]:
        """Send an action and wait for its response (a list for list actions).

        ``single``: the first response is the answer, whatever follows it. panoramisk would
        otherwise wait past an async Originate's "Originate successfully queued" for the
        OriginateResponse event, which acd's event filters drop.
        Raises :class:`AmiError` if not connected, on timeout, or on ``Response: Error``.
        """
        protocol = self._protocol
        if protocol is None or (not self.connected and fields.get("Action") != "Login"):
            raise AmiNotDone("not connected to Asterisk")
        for name, value in fields.items():
            for item in [value] if isinstance(value, str) else value:
                check_header_value(name, item)
        action = Action(dict(fields))
        # as_list=None lets panoramisk tell list actions (EventList) from single replies;
        # its default, False, would cut CoreShowChannels short at its first message.
        future = protocol.send(action, as_list=False if single else None)
        future.add_done_callback(_retrieve_exception)
        self._in_flight += 1
        self._apply_reading()
        try:
            response = await asyncio.wait_for(
                asyncio.shield(future), timeout or self.settings.action_timeout
            )
        except TimeoutError:
            protocol.responses.pop(action.id, None)
            raise AmiError(f"{fields.get('Action')}: no response from Asterisk") from None
        finally:
            self._in_flight -= 1
            self._apply_reading()
        first = response[0] if isinstance(response, list) else response
        if first.get("Response") == "Error":
            text = f"{fields.get('Action')}: {first.get('Message', 'error')}"
            if _NO_CHANNEL.search(str(first.get("Message", ""))):
                raise NoSuchChannel(text)
            raise AmiNotDone(text)
        return response

    async def send_list(
        self, fields: Mapping[str, ActionValue], timeout: float | None = None
    ) -> list[Message]:
        """:meth:`send` for a list action: its messages, as a list even when Asterisk answered
        with one message (an empty list, or an error-free single reply)."""
        reply = await self.send(fields, timeout)
        return reply if isinstance(reply, list) else [reply]

    def pause_reading(self, paused: bool) -> None:
        """Stop (or resume) reading from Asterisk: backpressure while acd is behind. Its
        events wait in the socket buffers, in order; none is dropped here. An action's
        response comes in the same stream, after the events sent before it: while one is
        awaited, reading goes on (what it lets in is what Asterisk sent meanwhile)."""
        self._backpressure = paused
        self._apply_reading()

    def _apply_reading(self) -> None:
        transport = self._protocol.transport if self._protocol is not None else None
        if transport is None or transport.is_closing():
            return
        if self._backpressure and not self._in_flight:
            if transport.is_reading():
                transport.pause_reading()
        elif not transport.is_reading():
            transport.resume_reading()

    # --- the protocol calls these (panoramisk's factory interface) ------------------------------

    def dispatch(self, message: Message) -> None:
        """Count an event and hand it on; a handler's failure never reaches the socket."""
        name = str(message.get("Event", ""))[:64]
        self.metrics.ami_events.labels(event_label(name)).inc()
        if name == "FullyBooted":
            self._ready.set()
        try:
            self._on_event(message)
        except Exception:
            self.metrics.ami_bad_events.labels("handler_error").inc()
            log.exception("ami event handler failed", extra={"event": name})

    def connection_lost(self, exc: Any) -> None:
        """The socket closed; the run loop reconnects."""
        self._lost.set()

    def bad_frame(self, frame: str) -> None:
        """A frame that is neither an event nor a response: count and log it."""
        self.metrics.ami_bad_events.labels("malformed").inc()
        log.warning("malformed AMI frame ignored", extra={"frame": frame[:120]})

    # --- lifecycle ------------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._connect_once()
                attempt = 0
                await self._lost.wait()
                log.warning("AMI connection lost", extra={"host": self.settings.host})
            except AmiAuthError as exc:
                self.auth_failures += 1
                log.error("AMI login refused", extra={"user": self.settings.user, "error": exc})
            except (OSError, AmiError, TimeoutError) as exc:
                log.warning(
                    "AMI connect failed",
                    extra={
                        "host": self.settings.host,
                        "port": self.settings.port,
                        "error": str(exc) or type(exc).__name__,
                    },
                )
            self._drop()
            if self._closing:
                return
            attempt += 1
            delay = min(self.settings.reconnect_max_delay, 0.2 * 2 ** min(attempt, 10))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _connect_once(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost.clear()
        self._ready.clear()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(
                lambda: AcdAmiProtocol(self.bad_frame), self.settings.host, self.settings.port
            ),
            self.settings.action_timeout,
        )
        assert isinstance(protocol, AcdAmiProtocol)
        protocol.factory = self
        protocol.log = log
        self._protocol = protocol
        try:
            await self.send(
                {
                    "Action": "Login",
                    "Username": self.settings.user,
                    "Secret": str(self.settings.secret),
                    "Events": "on",
                }
            )
        except AmiError as exc:
            if "Authentication" in str(exc):
                raise AmiAuthError(f"user {self.settings.user!r}: authentication failed") from None
            raise
        # Asterisk sends FullyBooted right after a successful login once it has booted.
        await asyncio.wait_for(self._ready.wait(), self.settings.action_timeout * 6)
        self.metrics.ami_connected.set(1)
        reconnect = self._connected_once
        if reconnect:
            self.metrics.ami_reconnects.inc()
        self._connected_once = True
        log.info("AMI connected", extra={"host": self.settings.host, "version": protocol.version})
        pinger = asyncio.create_task(self._ping_forever(), name="ami-ping")
        self._lost_tasks = [pinger]
        await self._on_connected(reconnect)

    async def _ping_forever(self) -> None:
        while not self._lost.is_set():
            await asyncio.sleep(self.settings.ping_interval)
            try:
                await self.send({"Action": "Ping"})
            except AmiError:
                log.warning("AMI ping unanswered, reconnecting")
                self._lost.set()
                return

    def _drop(self) -> None:
        self.metrics.ami_connected.set(0)
        self._ready.clear()
        for task in getattr(self, "_lost_tasks", []):
            task.cancel()
        self._lost_tasks = []
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()
            for action in list(protocol.responses.values()):
                if not action.future.done():
                    action.future.set_exception(AmiError("AMI connection lost"))
            protocol.responses.clear()
        while self.awaiting_actions:
            action = self.awaiting_actions.popleft()
            if not action.future.done():
                action.future.set_exception(AmiError("AMI connection lost"))
