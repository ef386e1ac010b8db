"""Session-level AMI actions and the dispatcher, after process_message in main/manager.c.

The order of checks is Asterisk's: no ``Action`` header -> "Missing action in request"; before
login only Login, Logoff and Challenge -> otherwise "Permission denied"; an unknown action ->
"Invalid/unknown command: X. ..." plus a RequestBadFormat security event. A wrong secret is
answered after a second (scaled) and the connection is closed, as action_login does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from acd.sim.astdb import db_get, device_state_list
from acd.sim.channel_actions import CHANNEL_ACTIONS
from acd.sim.events import PERMISSIONS, event_mask
from acd.sim.protocol import ActionMessage, response
from acd.sim.transfers import TRANSFER_ACTIONS

if TYPE_CHECKING:
    from acd.sim.session import AmiSession

Handler = Callable[["AmiSession", ActionMessage], Awaitable[bool]]

FAILED_LOGIN_DELAY = 1.0  # manager.c: sleep(1) before "Authentication failed"


def _security_event(
    session: AmiSession, name: str, severity: str, fields: list[tuple[str, str]]
) -> None:
    pbx = session.host.pbx
    pbx.publish(
        name,
        "security",
        [
            ("EventTV", pbx.clock.event_tv()),
            ("Severity", severity),
            ("Service", "AMI"),
            ("EventVersion", "1"),
            *fields,
        ],
    )


def report_bad_format(session: AmiSession, action: str) -> None:
    """The RequestBadFormat security event (errors.ami)."""
    _security_event(
        session,
        "RequestBadFormat",
        "Error",
        [
            ("SessionID", session.session_id),
            ("LocalAddress", session.local_address),
            ("RemoteAddress", session.remote_address),
            ("RequestType", f"Action: {action}"),
            ("SessionTV", session.session_tv),
            ("AccountID", session.username),
        ],
    )


def _credentials_ok(session: AmiSession, message: ActionMessage) -> bool:
    host = session.host
    if message.get("Username").lower() != host.username.lower():
        return False
    if message.get("AuthType").lower() == "md5":
        if not session.challenge:
            return False
        expected = hashlib.md5(
            (session.challenge + host.secret).encode(), usedforsecurity=False
        ).hexdigest()
        return hmac.compare_digest(message.get("Key").lower(), expected)
    return hmac.compare_digest(message.get("Secret").encode(), host.secret.encode())


async def login(session: AmiSession, message: ActionMessage) -> bool:
    if session.authenticated:
        session.ack(message, "Already authenticated")
        return True
    pbx = session.host.pbx
    if not _credentials_ok(session, message):
        await asyncio.sleep(pbx.clock.real(FAILED_LOGIN_DELAY))
        session.error(message, "Authentication failed")
        return False
    session.authenticated = True
    session.username = message.get("Username")
    events = message.get("Events")
    if events and event_mask(events) >= 0:
        session.send_events = event_mask(events)
    session.ack(message, "Authentication accepted")
    system = PERMISSIONS["system"]
    if session.send_events & system and session.read_perm & system:
        uptime = str(int(pbx.clock.now() - pbx.booted_at))
        session.send(
            [
                ("Event", "FullyBooted"),
                ("Privilege", "system,all"),
                ("Uptime", uptime),
                ("LastReload", uptime),
                ("Status", "Fully Booted"),
            ]
        )
    _security_event(
        session,
        "SuccessfulAuth",
        "Informational",
        [
            ("AccountID", session.username),
            ("SessionID", session.session_id),
            ("LocalAddress", session.local_address),
            ("RemoteAddress", session.remote_address),
            ("UsingPassword", "0"),
            ("SessionTV", session.session_tv),
        ],
    )
    return True


async def challenge(session: AmiSession, message: ActionMessage) -> bool:
    if message.get("AuthType").lower() != "md5":
        session.error(message, "Must specify AuthType")
        return True
    if not session.challenge:
        session.challenge = str(session.host.pbx.rng.getrandbits(31))
    session.send([*response("Success", message.action_id), ("Challenge", session.challenge)])
    return True


async def logoff(session: AmiSession, message: ActionMessage) -> bool:
    session.respond(message, "Goodbye", "Thanks for all the fish.")
    return False


async def events(session: AmiSession, message: ActionMessage) -> bool:
    mask = event_mask(message.get("EventMask"))
    if mask < 0:
        session.error(message, "Invalid event mask")
        return True
    session.send_events = mask
    session.send([*response("Success", message.action_id), ("Events", "On" if mask > 0 else "Off")])
    return True


async def ping(session: AmiSession, message: ActionMessage) -> bool:
    now = session.host.pbx.clock.now()
    session.send(
        [*response("Success", message.action_id), ("Ping", "Pong"), ("Timestamp", f"{now:.6f}")]
    )
    return True


async def core_status(session: AmiSession, message: ActionMessage) -> bool:
    pbx = session.host.pbx
    boot_date, boot_time = pbx.clock.date_and_time(pbx.booted_at)
    session.send(
        [
            *response("Success", message.action_id),
            ("CoreStartupDate", boot_date),
            ("CoreStartupTime", boot_time),
            ("CoreReloadDate", boot_date),
            ("CoreReloadTime", boot_time),
            ("CoreCurrentCalls", str(len(pbx.channels))),
            ("CoreProcessedCalls", str(pbx.processed_calls)),
        ]
    )
    return True


async def user_event(session: AmiSession, message: ActionMessage) -> bool:
    """action_userevent: every other header of the action goes into the event, as sent."""
    body: list[tuple[str, str]] = []
    for line in message.lines:
        lowered = line.lower()
        if lowered.startswith("userevent:") or lowered.startswith("action:"):
            continue
        name, _, value = line.partition(":")
        body.append((name, value.lstrip(" ")))
    session.ack(message, "Event Sent")
    session.host.pbx.publish("UserEvent", "user", [("UserEvent", message.get("UserEvent")), *body])
    return True


SESSION_ACTIONS: dict[str, Handler] = {
    "login": login,
    "challenge": challenge,
    "logoff": logoff,
    "events": events,
    "ping": ping,
    "corestatus": core_status,
    "userevent": user_event,
    "dbget": db_get,
    "devicestatelist": device_state_list,
}
ACTIONS: dict[str, Handler] = {**SESSION_ACTIONS, **CHANNEL_ACTIONS, **TRANSFER_ACTIONS}
_BEFORE_LOGIN = ("login", "logoff", "challenge")


async def dispatch(session: AmiSession, message: ActionMessage) -> bool:
    """Run one action; False when the session must end (Logoff, failed Login)."""
    if message.too_many_lines:
        session.error(message, "Too many lines in message or allocation failure")
        return True
    if message.line_too_long:
        session.error(message, "Failed to parse message: line too long")
        return True
    action = message.action
    if not action:
        report_bad_format(session, "NONE")
        session.error(message, "Missing action in request")
        return True
    if not session.authenticated and action.lower() not in _BEFORE_LOGIN:
        session.error(message, "Permission denied")
        return True
    handler = ACTIONS.get(action.lower())
    if handler is None:
        report_bad_format(session, action)
        session.error(
            message,
            f"Invalid/unknown command: {action}. "
            "Use Action: ListCommands to show available commands.",
        )
        return True
    return await handler(session, message)
