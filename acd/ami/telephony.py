"""Call-control actions on Asterisk, in the contact centre's words."""

from __future__ import annotations

import asyncio
import logging
import math
import re

from acd import contexts
from acd.ami.connection import AmiConnection
from acd.ami.translate import MalformedEvent, call_entered, device_busy
from acd.domain.events import AgentLegRecord, CallEntered, LiveChannel
from acd.domain.model import Agent, Call
from acd.domain.names import MAX_CALL_ID, check_channel, check_dial_string, check_name, id_problem
from acd.errors import AmiError, InvalidInput

log = logging.getLogger("acd.ami")

# ChanSpy options per mode: q no beep, E leave when the spied-on channel hangs up; w whisper to
# the agent, B barge (speak to both sides).
SPY_OPTIONS = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}
# A channel name that ends up inside ChanSpy's argument list: no separators at all.
_SPY_TARGET = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[\w.\-+@;/]{1,150}$")
SPY_RING_SECONDS = 30


class AsteriskTelephony:
    """Moves callers between hold, agents and fallback through the AMI connection."""

    def __init__(self, ami: AmiConnection) -> None:
        self.ami = ami
        self._unanswered: set[asyncio.Future[object]] = set()  # actions sent, not awaited

    async def ring_agent(self, call: Call, agent: Agent, ring_timeout: int, fence: int) -> None:
        """Dial ``agent`` for ``call``: the caller keeps hearing music until the agent answers.

        ``fence`` goes with the offer into the dialplan and comes back on its result events,
        so that each settles this offer only. The Setvars and the Redirect are written back
        to back: Asterisk runs one session's actions in order, so one round trip's latency
        covers all five.
        """
        channel = check_channel("call.channel", call.channel)
        dial = check_dial_string("agent.dial", agent.dial)
        await self._in_order(
            [
                _setvar(channel, "ACD_AGENT_DIAL", dial),
                _setvar(channel, "ACD_AGENT", agent.id),
                _setvar(channel, "ACD_RING", str(ring_timeout)),
                _setvar(channel, "ACD_FENCE", str(fence)),
                _redirect(channel, contexts.CONNECT),
            ]
        )

    async def send_to_fallback(self, call: Call, reason: str, context: str = "") -> None:
        """Give up on the caller: the dialplan's fallback takes over (or ``context``, s, 1)."""
        channel = check_channel("call.channel", call.channel)
        actions = [_setvar(channel, "ACD_FALLBACK_REASON", check_name("reason", reason))]
        if context:
            target = f"{check_name('context', context)},s,1"
            actions.append(_setvar(channel, "ACD_FALLBACK", target))
        await self._in_order([*actions, _redirect(channel, contexts.FALLBACK)])

    async def tell_place_in_line(self, call: Call, position: int, wait: int | None) -> None:
        """Set ``ACD_POSITION`` and ``ACD_EWT`` (seconds; empty while unknown) on the
        caller's channel, for the dialplan to announce.

        The two Setvars are written without waiting for Asterisk's answers: a waiting
        caller's figures never hold up the next event (a burst of arrivals nobody is free
        for would otherwise wait one AMI round trip each); a refusal (the caller hung up
        meanwhile) is logged.
        """
        channel = check_channel("call.channel", call.channel)
        for action in (
            _setvar(channel, "ACD_POSITION", str(position)),
            _setvar(channel, "ACD_EWT", "" if wait is None else str(wait)),
        ):
            task = asyncio.ensure_future(self.ami.send(action))
            self._unanswered.add(task)
            task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Future[object]) -> None:
        self._unanswered.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.warning("position not set on the caller's channel", extra={"error": str(error)})

    async def hang_up(self, channel: str) -> None:
        """Hang up ``channel`` with cause 16 (normal clearing)."""
        await self.ami.send(
            {"Action": "Hangup", "Channel": check_channel("channel", channel), "Cause": "16"}
        )

    async def return_to_hold(self, call: Call) -> None:
        """The caller leaves the agent for music on hold, with a fresh maximum wait.

        Redirecting one side of a Dial bridge hangs up the other: the agent's leg ends.
        """
        await self.ami.send(
            _redirect(check_channel("call.channel", call.channel), contexts.ESCALATE)
        )

    async def withdraw_offer(self, call: Call) -> None:
        """Stop ringing the agent: the caller leaves Dial (Asterisk hangs up the agent's leg
        and sends no dial result) for music on hold, with the wait it already had."""
        await self.ami.send(
            _redirect(check_channel("call.channel", call.channel), contexts.WITHDRAWN)
        )

    async def spy(self, dial: str, channel: str, mode: str, call_id: str) -> None:
        """Originate a call to ``dial`` that runs ChanSpy on ``channel`` once answered.

        Done once Asterisk has queued it ("Originate successfully queued"): whether the
        supervisor answers is theirs to see, and the OriginateResponse that would tell is
        not among the events acd's manager.conf filters let through.
        """
        if not _SPY_TARGET.fullmatch(channel):
            raise InvalidInput("agent_channel", "is not a channel name ChanSpy can take")
        await self.ami.send(
            {
                "Action": "Originate",
                "Channel": check_dial_string("dial", dial),
                "Application": "ChanSpy",
                "Data": f"{channel},{SPY_OPTIONS[mode]}",
                "CallerID": f'"acd {mode}" <{check_name("call", call_id)}>',
                "Timeout": str(SPY_RING_SECONDS * 1000),
                "Async": "true",
            },
            single=True,
        )

    async def live_channels(self) -> dict[str, LiveChannel]:
        """Every channel Asterisk has now, by Uniqueid."""
        messages = await self.ami.send_list({"Action": "CoreShowChannels"}, timeout=30.0)
        channels: dict[str, LiveChannel] = {}
        for message in messages:
            if message.get("Event") == "CoreShowChannel":
                if id_problem(message["Uniqueid"], MAX_CALL_ID) is not None:
                    # It could be no call of acd's, and it would become a Redis key.
                    self.ami.metrics.ami_bad_events.labels("bad_id").inc()
                    log.warning(
                        "channel with a Uniqueid that is no call id ignored",
                        extra={"channel": str(message.get("Channel", ""))[:80]},
                    )
                    continue
                channels[message["Uniqueid"]] = LiveChannel(
                    uniqueid=message["Uniqueid"],
                    channel=message.get("Channel", ""),
                    seconds=_duration_seconds(message.get("Duration", "")),
                    bridge=message.get("BridgeId", ""),
                    waiting=message.get("Context") == contexts.INBOUND
                    and message.get("Application") == "MusicOnHold",
                    with_agent=message.get("Context") == contexts.CONNECT
                    and message.get("Application") == "Dial",
                    context=message.get("Context", ""),
                )
        return channels

    async def entered_call(self, uniqueid: str, channel: str) -> CallEntered:
        """The caller's ACDEnqueue, rebuilt from the variables it was made of.

        An adoption can win the race against the caller's own ACDEnqueue (acd connects just
        as the caller enters); then this is the only record of the call, so it carries the
        caller id and attributes too.
        """
        names = (
            "ACD_QUEUE",
            "ACD_PRIORITY",
            "ACD_SKILLS",
            "ACD_ATTRS",
            "CALLERID(name)",
            "CALLERID(num)",
        )
        queue, priority, skills, attrs, name, number = await asyncio.gather(
            *(self.get_variable(channel, n) for n in names)
        )
        try:
            return call_entered(uniqueid, channel, queue, priority, skills, attrs, name, number)
        except MalformedEvent as exc:
            raise AmiError(str(exc)) from None

    async def get_variable(self, channel: str, name: str) -> str:
        """A channel variable's value ('' when unset)."""
        reply = await self.ami.send({"Action": "Getvar", "Channel": channel, "Variable": name})
        message = reply[0] if isinstance(reply, list) else reply
        return str(message.get("Value", ""))

    async def busy_devices(self) -> set[str]:
        """Every cached device that is busy now (``PJSIP/1001``), from DeviceStateList.

        Its items are DeviceStateChange events written into the response, which eventfilters
        do not touch. Local channels' devices are not cached, so never listed."""
        messages = await self.ami.send_list({"Action": "DeviceStateList"}, timeout=30.0)
        return {
            str(m["Device"])
            for m in messages
            if m.get("Event") == "DeviceStateChange"
            and "Device" in m
            and device_busy(str(m.get("State", "")))
        }

    async def answered_at(self, agent_channel: str) -> float:
        """When the agent on ``agent_channel`` answered (extensions_acd.conf's
        ``acd.agent-answered`` keeps it), on Asterisk's clock; 0 if unknown."""
        return _seconds(
            await self.get_variable(check_channel("channel", agent_channel), "ACD_ANSWERED_AT")
        )

    async def last_agent_leg(self, agent_id: str) -> AgentLegRecord | None:
        """The record of the agent's last call leg in AstDB (``acd/agent-<id>``, written by
        the leg's hangup handler), or None if Asterisk has none."""
        key = f"agent-{check_name('agent', agent_id)}"
        action = {"Action": "DBGet", "Family": "acd", "Key": key}
        try:
            messages = await self.ami.send_list(action)
        except AmiError:
            return None  # "Database entry not found", or Asterisk is gone again
        value = next(
            (str(m.get("Val", "")) for m in messages if m.get("Event") == "DBGetResponse"), ""
        )
        call_id, _, times = value.partition(",")
        answered, _, ended = times.partition(",")
        if not call_id or not _seconds(ended):
            return None
        return AgentLegRecord(call_id, _seconds(answered), _seconds(ended))

    @property
    def connected(self) -> bool:
        """True while acd is logged in to Asterisk (an action can be sent)."""
        return self.ami.connected

    async def _in_order(self, actions: list[dict[str, str]]) -> None:
        """Send ``actions`` back to back. The last one (the Redirect) is what moves the
        caller, so its failure is the one raised: once it was done, a Setvar's failure does
        not make it undone (the dialplan meets the unset variable, and the call's own events
        say what came of it)."""
        results = await asyncio.gather(
            *(self.ami.send(action) for action in actions), return_exceptions=True
        )
        if isinstance(results[-1], BaseException):
            raise results[-1]


def _seconds(text: str) -> float:
    """``1764621000.125`` -> that float; anything else -> 0."""
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def _duration_seconds(text: str) -> float:
    """``01:02:03`` -> 3723.0; anything else -> 0."""
    try:
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        return 0.0
    return float(hours * 3600 + minutes * 60 + seconds)


def _setvar(channel: str, name: str, value: str) -> dict[str, str]:
    return {"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value}


def _redirect(channel: str, context: str) -> dict[str, str]:
    return {
        "Action": "Redirect",
        "Channel": channel,
        "Context": context,
        "Exten": "s",
        "Priority": "1",
    }
