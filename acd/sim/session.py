"""One AMI connection: reading actions, writing responses, delivering events.

Like manager.c's session thread: lines end with ``\\r\\n`` or ``\\n``; a blank line ends an
action (even an empty one, which is answered "Missing action in request"); actions of one
session run one at a time, in order; events reach only a logged-in session whose event mask
and read permission cover them, and are held while an action is being processed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from acd.sim.actions import dispatch
from acd.sim.eventfilters import EventFilters
from acd.sim.events import ALL_PERMISSIONS, AmiEvent
from acd.sim.protocol import BANNER, MAX_LINE, ActionMessage, Header, encode, response
from acd.sim.wiretap import WireTap

if TYPE_CHECKING:
    from acd.sim.pbx import Pbx

log = logging.getLogger(__name__)


class SessionHost(Protocol):
    """What a session needs from the simulator that accepted it."""

    pbx: Pbx
    username: str
    secret: str
    event_filters: EventFilters  # the user's manager.conf eventfilter lines
    taps: list[WireTap]  # observers of what crosses the wire (the load generator's clock)

    def forget(self, session: AmiSession) -> None:
        """The session is closed."""

    def refusal_for(self, message: ActionMessage) -> str | None:
        """The error to answer ``message`` with instead of carrying it out, if any."""

    def take_action_fault(self, message: ActionMessage) -> bool | None:
        """None, or whether ``message`` is carried out before the connections reset."""

    def abort_sessions(self) -> None:
        """Reset every AMI connection now."""


def _address(info: object) -> str:
    """``IPV4/TCP/127.0.0.1/5038``, as security events show addresses."""
    if isinstance(info, tuple) and len(info) >= 2:
        family = "IPV6" if ":" in str(info[0]) else "IPV4"
        return f"{family}/TCP/{info[0]}/{info[1]}"
    return "IPV4/TCP/0.0.0.0/0"


class AmiSession:
    """A client connection to the simulated manager interface."""

    def __init__(
        self, host: SessionHost, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.host = host
        self.reader, self.writer = reader, writer
        self.authenticated = False
        self.username = ""
        self.challenge = ""
        self.send_events = ALL_PERMISSIONS
        self.read_perm = ALL_PERMISSIONS
        self.closed = False
        self.session_id = f"0x{0x7F0000000000 | host.pbx.rng.getrandbits(40):x}"
        self.local_address = _address(writer.get_extra_info("sockname"))
        self.remote_address = _address(writer.get_extra_info("peername"))
        self.session_tv = host.pbx.clock.event_tv()
        self._busy = False
        self._backlog: list[AmiEvent] = []
        self._held: list[bytes] | None = None  # bytes waiting out a simulated stall

    # --- input -----------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Banner, then actions until the client leaves, logs off or the session is closed."""
        self.write(BANNER)
        try:
            while not self.closed:
                message = await self._read_message()
                if message is None:
                    break
                for tap in self.host.taps:
                    tap.action_received(message)
                refusal = self.host.refusal_for(message)
                if refusal is not None:
                    self.error(message, refusal)
                    continue
                fault = self.host.take_action_fault(message)
                if fault is not None:
                    if fault:  # carried out, its response lost with the connection
                        self._held = []
                        await dispatch(self, message)
                    self.host.abort_sessions()
                    break
                self._busy = True
                try:
                    keep_open = await dispatch(self, message)
                finally:
                    self._busy = False
                if not keep_open:
                    break
                if not message.get("SuppressEvents"):
                    self._flush_backlog()
        except (ConnectionError, OSError) as exc:
            log.debug("AMI session %s ended: %s", self.remote_address, exc)
        finally:
            self.close()

    async def _read_message(self) -> ActionMessage | None:
        message = ActionMessage()
        while True:
            try:
                raw = await self.reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as exc:
                await self.reader.readexactly(exc.consumed)  # drop it, as manager.c does
                message.line_too_long = True
                continue
            except asyncio.IncompleteReadError:
                return None
            line = raw[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) >= MAX_LINE:
                message.line_too_long = True
                continue
            if not line:
                return message
            message.add_line(line.decode("utf-8", errors="surrogateescape"))

    # --- output ----------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Bytes to the client (held back during a simulated stall)."""
        # A client that went away closes the transport before this session's read loop
        # notices; events published in between are dropped, as Asterisk drops them.
        if self.closed or self.writer.transport.is_closing():
            return
        if self._held is not None:
            self._held.append(data)
        else:
            self.writer.write(data)

    def send(self, headers: Sequence[Header]) -> None:
        """One message."""
        self.write(encode(headers))

    def respond(
        self,
        message: ActionMessage,
        kind: str,
        text: str | None = None,
        extra: Sequence[Header] = (),
    ) -> None:
        """astman_send_response: Response, ActionID, Message, then ``extra``."""
        headers = response(kind, message.action_id)
        if text is not None:
            headers.append(("Message", text))
        self.send([*headers, *extra])

    def ack(self, message: ActionMessage, text: str | None) -> None:
        """Response: Success."""
        self.respond(message, "Success", text)

    def error(self, message: ActionMessage, text: str) -> None:
        """Response: Error."""
        self.respond(message, "Error", text)

    def list_ack(self, message: ActionMessage, text: str) -> None:
        """The first message of a list: ``EventList: start``."""
        self.send(
            [*response("Success", message.action_id), ("EventList", "start"), ("Message", text)]
        )

    # --- events ----------------------------------------------------------------------------------
    def wants(self, event: AmiEvent) -> bool:
        """Whether this session's read permission, event mask and filters let ``event`` in."""
        bit = event.bit
        return (
            (self.read_perm & bit) == bit
            and (self.send_events & bit) == bit
            and self.host.event_filters.allows(event)
        )

    def deliver(self, events: Sequence[AmiEvent]) -> None:
        """Events from the bus; held while an action runs, dropped before login."""
        if self.closed or not self.authenticated:
            return
        if self._busy:
            self._backlog.extend(events)
            return
        taps = self.host.taps
        for event in events:
            if self.wants(event):
                self.write(event.wire)
                for tap in taps:
                    tap.event_sent(event)

    def _flush_backlog(self) -> None:
        events, self._backlog = self._backlog, []
        self.deliver(events)

    def stall(self, seconds: float) -> None:
        """Stop writing for ``seconds`` of real time, then write everything held, in order."""
        if self._held is None:
            self._held = []
            asyncio.get_running_loop().call_later(seconds, self._resume)

    def _resume(self) -> None:
        held, self._held = self._held or [], None
        for data in held:
            self.write(data)

    def close(self, *, abort: bool = False) -> None:
        """End the session (``abort``: reset the connection without a goodbye)."""
        if self.closed:
            return
        self.closed = True
        transport = self.writer.transport
        if abort:
            transport.abort()
        else:
            self.writer.close()
        self.host.forget(self)
