"""The PBX loop and the dialplan applications the simulator runs (Dial is in :mod:`dial`).

Each application returns what the PBX does next: go on to the next priority, stay where it
jumped to, or hang up. When a channel leaves its dialplan because of a hangup (its own
``Hangup()``, the far end hanging up, a bridge ending), Asterisk publishes a
``SoftHangupRequest`` with cause 16 just before the ``Hangup`` (abandon.ami, answered.ami).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import Enum

from acd.sim.astdb import db_key
from acd.sim.channels import NORMAL_CLEARING, Channel, Frame, Kind, Party, State
from acd.sim.dial import dial
from acd.sim.expressions import separate_args
from acd.sim.variables import check_condition, strftime, substitute

log = logging.getLogger(__name__)

# How long Answer() waits for the first media frame (main/channel.c: __ast_answer waits up
# to 500 ms). A Local channel whose other half plays nothing gets none and waits it all; a SIP
# caller's RTP arrives within one 20 ms packet.
LOCAL_ANSWER_WAIT = 0.5
SIP_ANSWER_WAIT = 0.02
PLAYBACK_SECONDS = 1.5


class Next(Enum):
    """What the PBX does after an application."""

    CONTINUE = "continue"  # the next priority
    JUMP = "jump"  # the application moved the channel (Goto)
    HANGUP = "hangup"


class ChannelScope:
    """Variable and function lookups for substitution on one channel."""

    def __init__(self, chan: Channel) -> None:
        self.chan = chan

    def variable(self, name: str) -> str | None:
        chan = self.chan
        builtins = {
            "CHANNEL": chan.name,
            "UNIQUEID": chan.uniqueid,
            "CONTEXT": chan.context,
            "EXTEN": chan.exten,
            "PRIORITY": str(chan.priority),
            "HANGUPCAUSE": str(chan.hangupcause),
        }
        if name in builtins:
            return builtins[name]
        value = chan.getvar(name)
        if value is not None:
            return value
        if name == "EPOCH":
            return str(int(chan.pbx.clock.now()))
        return chan.pbx.globals.get(name)

    def function(self, name: str, argument: str) -> str | None:
        if name == "CALLERID":
            part = argument.strip().lower()
            caller = self.chan.caller
            if part == "all":
                return f'"{caller.name or ""}" <{caller.number or ""}>'
            return {"num": caller.number, "name": caller.name}.get(part) or ""
        if name == "DB":
            key = db_key(argument)
            return self.chan.pbx.astdb.get("/".join(key), "") if key else ""
        if name == "STRFTIME":
            return strftime(self.chan.pbx.clock.now(), argument)
        if name == "CHANNEL":
            return {
                "name": self.chan.name,
                "uniqueid": self.chan.uniqueid,
                "linkedid": self.chan.linkedid,
            }.get(argument.strip().lower(), "")
        return None


App = Callable[[Channel, str], Awaitable[Next]]


def _ended(frame: Frame | None) -> Next:
    return Next.HANGUP if frame is not None and frame.kind is Kind.HANGUP else Next.CONTINUE


async def answer(chan: Channel, data: str) -> Next:
    if chan.state == State.UP:
        return Next.CONTINUE
    waited_for_media = chan.state in (State.RING, State.RINGING)
    chan.answer()
    if waited_for_media:
        wait = LOCAL_ANSWER_WAIT if chan.local is not None else SIP_ANSWER_WAIT
        return _ended(await chan.sleep(wait))
    return Next.CONTINUE


def assign(chan: Channel, name: str, value: str) -> None:
    """Set a variable, or write CALLERID(num|name) (a NewCallerid follows), DB(family/key)
    or CHANNEL(hangup_handler_push) (a handler run when the channel hangs up, last in first)."""
    name = name.strip()
    if name.upper().startswith("DB(") and name.endswith(")"):
        key = db_key(name[3:-1])
        if key is not None:
            chan.pbx.astdb["/".join(key)] = value
    elif name.upper() == "CHANNEL(HANGUP_HANDLER_PUSH)":
        chan.hangup_handlers.insert(0, value)
    elif name.upper().startswith("CALLERID(") and name.endswith(")"):
        part = name[9:-1].strip().lower()
        caller = chan.caller
        chan.caller = Party(
            value if part == "num" else caller.number, value if part == "name" else caller.name
        )
        chan.publish()
    else:
        chan.setvar(name, value)


async def set_variable(chan: Channel, data: str) -> Next:
    name, sep, value = data.partition("=")
    if not sep:
        log.warning("Set requires an '=' to be a valid assignment (%s)", chan.name)
        return Next.CONTINUE
    assign(chan, name, value)
    return Next.CONTINUE


async def no_op(chan: Channel, data: str) -> Next:
    return Next.CONTINUE


async def user_event(chan: Channel, data: str) -> Next:
    """app_userevent: ``Key: value`` arguments, split at the first ':', keys in order."""
    args = separate_args(data, limit=101)
    if not data or not args:
        log.warning("UserEvent requires an argument (%s)", chan.name)
        return Next.HANGUP
    body: dict[str, str] = {}
    for arg in args[1:]:
        key, sep, value = arg.partition(":")
        if sep:
            body[key] = value.strip()
    chan.emit("UserEvent", "user", [("UserEvent", args[0]), *body.items()])
    return Next.CONTINUE


def _seconds(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


async def music_on_hold(chan: Channel, data: str) -> Next:
    """MusicOnHold(class,duration): a duration of 0 or none means until interrupted."""
    args = separate_args(data)
    moh_class = args[0] if args and args[0] else "default"
    duration = int(_seconds(args[1]) or 0) if len(args) > 1 else 0
    chan.emit("MusicOnHoldStart", extra=[("Class", moh_class)])
    frame = await chan.sleep(duration if duration > 0 else None)
    if not chan.dead:
        chan.emit("MusicOnHoldStop")
    return _ended(frame)


async def wait(chan: Channel, data: str) -> Next:
    seconds = _seconds(data.strip() or "0")
    return _ended(await chan.sleep(max(seconds or 0.0, 0.0)))


async def playback(chan: Channel, data: str) -> Next:
    """Playback(files): answers first; each file takes a moment; PLAYBACKSTATUS after."""
    args = separate_args(data)
    if not args or not args[0]:
        log.warning("Playback requires an argument (%s)", chan.name)
        return Next.HANGUP
    if chan.state != State.UP:
        chan.answer()
    frame = await chan.sleep(PLAYBACK_SECONDS * len(args[0].split("&")))
    if frame is None:
        chan.setvar("PLAYBACKSTATUS", "SUCCESS")
    return _ended(frame)


async def hangup(chan: Channel, data: str) -> Next:
    cause = data.strip()
    if cause.isdigit():
        chan.hangupcause = int(cause)
    elif not chan.hangupcause:
        chan.hangupcause = NORMAL_CLEARING
    return Next.HANGUP


def _jump(chan: Channel, spec: str) -> Next:
    target = chan.pbx.dialplan.goto_target(spec, chan.context, chan.exten)
    if target is None:
        log.warning("Goto(%s) on %s: no such place in the dialplan", spec, chan.name)
        return Next.HANGUP
    chan.context, chan.exten, chan.priority = target
    return Next.JUMP


async def goto(chan: Channel, data: str) -> Next:
    return _jump(chan, data)


async def goto_if(chan: Channel, data: str) -> Next:
    condition, sep, branches = data.partition("?")
    if not sep:
        log.warning("GotoIf requires a '?' (%s)", chan.name)
        return Next.HANGUP
    parts = separate_args(branches, ":", remove_chars=False, limit=2)
    when_true = parts[0] if parts else ""
    when_false = parts[1] if len(parts) > 1 else ""
    branch = (when_true if check_condition(condition) else when_false).strip()
    return _jump(chan, branch) if branch else Next.CONTINUE


class _SpyeeWatch:
    """ChanSpy's E option: the spy leaves when the channel it listens to hangs up."""

    def __init__(self, spier: Channel) -> None:
        self.spier = spier

    def bridged(self, chan: Channel, peer: Channel) -> None:
        pass

    def moved(self, chan: Channel) -> None:
        pass

    def gone(self, chan: Channel) -> None:
        self.spier.soft_hangup(NORMAL_CLEARING)


async def chan_spy(chan: Channel, data: str) -> Next:
    """ChanSpy(prefix,options), reduced to what acd asks of it: spy on the first other channel
    whose name starts with ``prefix`` (acd passes a whole channel name), between ChanSpyStart
    and ChanSpyStop with Spyer/Spyee channel blocks, until either side hangs up. Real ChanSpy
    keeps scanning when nothing matches; here the spy just hangs up."""
    args = separate_args(data)
    prefix = (args[0] if args else "").lower()
    exit_with_spyee = "E" in (args[1] if len(args) > 1 else "")
    if chan.state != State.UP:
        chan.answer()
    spyee = next(
        (
            c
            for c in chan.pbx.channels.values()
            if c is not chan and not c.dead and prefix and c.name.lower().startswith(prefix)
        ),
        None,
    )
    if spyee is None:
        log.warning("ChanSpy: no channel matches %s", prefix)
        return Next.HANGUP
    watch = _SpyeeWatch(chan)
    if exit_with_spyee:
        spyee.observers.append(watch)
    chan.pbx.publish("ChanSpyStart", "call", [*chan.snapshot("Spyer"), *spyee.snapshot("Spyee")])
    frame = await chan.sleep(None)
    if watch in spyee.observers:
        spyee.observers.remove(watch)
    chan.pbx.publish("ChanSpyStop", "call", [*chan.snapshot("Spyer"), *spyee.snapshot("Spyee")])
    return _ended(frame) if not exit_with_spyee else Next.HANGUP


async def run_dial(chan: Channel, data: str) -> Next:
    return Next.HANGUP if await dial(chan, data) == "hangup" else Next.CONTINUE


APPS: dict[str, tuple[str, App]] = {
    name.lower(): (name, app)
    for name, app in [
        ("Answer", answer),
        ("Set", set_variable),
        ("NoOp", no_op),
        ("Verbose", no_op),
        ("Log", no_op),
        ("UserEvent", user_event),
        ("MusicOnHold", music_on_hold),
        ("Wait", wait),
        ("Playback", playback),
        ("Hangup", hangup),
        ("Goto", goto),
        ("GotoIf", goto_if),
        ("Dial", run_dial),
        ("ChanSpy", chan_spy),
    ]
}


class DialplanExecutor:
    """Runs channels through the dialplan (the PBX thread of each channel in Asterisk)."""

    async def run_dialplan(self, chan: Channel) -> None:
        """__ast_pbx_run: one application per priority until the channel hangs up."""
        steps = 0
        while not chan.dead:
            steps += 1
            if steps % 64 == 0:
                # A dialplan looping through instant applications (Goto(1)) must not starve
                # the other channels and the AMI sessions of the event loop.
                await asyncio.sleep(0)
            if chan.pending_goto is not None:
                chan.context, chan.exten, chan.priority = chan.pending_goto
                chan.pending_goto = None
            if chan.hangup_requested:
                break
            step = chan.pbx.dialplan.step(chan.context, chan.exten, chan.priority)
            found = APPS.get(step.app.lower()) if step is not None else None
            if step is None or found is None:
                if step is not None:
                    log.warning("no application %s (%s)", step.app, chan.name)
                if not chan.hangupcause:
                    chan.hangupcause = NORMAL_CLEARING
                break
            name, app = found
            chan.appl, chan.data = name, substitute(step.args, ChannelScope(chan))
            chan.publish()
            outcome = await app(chan, chan.data)
            if chan.pending_goto is not None and not chan.hangup_requested:
                continue
            if outcome is Next.HANGUP or chan.hangup_requested:
                break
            if outcome is Next.CONTINUE:
                chan.priority += 1
        if not chan.dead:
            chan.emit("SoftHangupRequest", extra=[("Cause", str(NORMAL_CLEARING))])
            chan.destroy()

    async def run_subroutine(self, chan: Channel, location: str) -> None:
        """ast_app_exec_sub for a predial handler (Dial's ``b(context^exten^priority)``):
        run from there on the new channel until Return(), then it is dialled."""
        parts = location.split("^")
        context = parts[0] if len(parts) == 3 else chan.context
        exten = parts[-2] if len(parts) >= 2 else chan.exten
        priority = chan.pbx.dialplan.priority_of(context, exten, parts[-1])
        if priority is None:
            log.warning("Dial b(%s): no such place in the dialplan (%s)", location, chan.name)
            return
        saved = (chan.context, chan.exten, chan.priority, chan.appl, chan.data)
        chan.context, chan.exten, chan.priority = context, exten, priority
        while not chan.dead and not chan.hangup_requested:
            step = chan.pbx.dialplan.step(chan.context, chan.exten, chan.priority)
            if step is None:
                break
            if step.app.lower() == "return":
                chan.appl, chan.data = "Return", step.args
                chan.publish()  # Return is an application too: its Newexten comes first
                break
            found = APPS.get(step.app.lower())
            if found is None:
                log.warning("no application %s (%s)", step.app, chan.name)
                break
            name, app = found
            chan.appl, chan.data = name, substitute(step.args, ChannelScope(chan))
            chan.publish()
            outcome = await app(chan, chan.data)
            if outcome is Next.HANGUP:
                break
            if outcome is Next.CONTINUE:
                chan.priority += 1
        chan.context, chan.exten, chan.priority, chan.appl, chan.data = saved

    def run_hangup_handlers(self, chan: Channel) -> None:
        """ast_pbx_hangup_handler_run: each pushed ``context,exten,priority`` runs until
        Return(), before the Hangup event. Handlers do bookkeeping (Set, DB()), so only the
        applications that finish at once run here."""
        while chan.hangup_handlers:
            parts = separate_args(chan.hangup_handlers.pop(0))
            context = parts[0] if len(parts) == 3 else chan.context
            exten = parts[-2] if len(parts) >= 2 else chan.exten
            priority = chan.pbx.dialplan.priority_of(context, exten, parts[-1] if parts else "1")
            while priority is not None:
                step = chan.pbx.dialplan.step(context, exten, priority)
                if step is None or step.app.lower() == "return":
                    break
                data = substitute(step.args, ChannelScope(chan))
                if step.app.lower() == "set" and "=" in data:
                    assign(chan, *data.split("=", 1))
                elif step.app.lower() not in ("noop", "verbose", "log"):
                    log.warning("hangup handler: %s is not simulated (%s)", step.app, chan.name)
                    break
                priority += 1

    async def run_feature_app(self, chan: Channel, app: str, data: str) -> None:
        """An applicationmap item's application on a bridged channel (bridge_channel_run_app):
        the channel runs it and stays in its bridge."""
        found = APPS.get(app.lower())
        if found is None:
            log.warning("feature: no application %s", app)
            return
        await found[1](chan, data)

    async def run_app(self, chan: Channel, app: str, data: str) -> None:
        """An Originate's application on its channel; a redirect starts the dialplan there."""
        found = APPS.get(app.lower())
        if found is None:
            log.warning("Originate: no application %s", app)
        else:
            chan.appl, chan.data = found[0], data
            chan.publish()
            await found[1](chan, data)
        if chan.pending_goto is not None and not chan.hangup_requested and not chan.dead:
            chan.pbx.processed_calls += 1
            await self.run_dialplan(chan)
        elif not chan.dead:
            chan.destroy()
