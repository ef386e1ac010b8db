"""The Dial application, after apps/app_dial.c, and the bridge that follows an answer.

Dial clears the DIAL* variables, requests and calls each destination (DialBegin), plays music
to the caller with ``m``, then waits: the first answer wins (DialEnd ANSWER, bridge); busy and
unavailable destinations drop out; the timeout ends it with NOANSWER; a caller who hangs up or
is redirected cancels it (DialEnd CANCEL); ``U`` runs a Gosub on the answering channel before
the bridge. Once bridged, whoever hangs up first ends the call for both, unless the ``g``
option lets the caller continue in the dialplan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from acd.sim.bridges import Bridge
from acd.sim.channels import NORMAL_CLEARING, USER_BUSY, Channel, Kind, State, wait_any
from acd.sim.expressions import separate_args
from acd.sim.outgoing import call, dial_status_for, prepare_callee, publish_dial, request_channel

log = logging.getLogger(__name__)

DIAL_VARIABLES = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)
ANSWERED_ELSEWHERE = 26
CONGESTION_CAUSE = 34
NO_ANSWER_CAUSE = 19


@dataclass
class _Outgoing:
    chan: Channel
    number: str
    has_callerid: bool = False  # the channel driver gave it one (not DIAL_CALLERID_ABSENT)
    done: bool = False
    rang: bool = False


def parse_options(text: str) -> dict[str, str]:
    """``m(default)tg`` -> ``{"m": "default", "t": "", "g": ""}``."""
    options: dict[str, str] = {}
    i = 0
    while i < len(text):
        letter = text[i]
        i += 1
        argument = ""
        if text[i : i + 1] == "(":
            end = text.find(")", i)
            end = len(text) if end < 0 else end
            argument, i = text[i + 1 : end], end + 1
        options[letter] = argument
    return options


def _set_duration(chan: Channel, name: str, seconds: float) -> None:
    millis = max(0, int(seconds * 1000))
    chan.setvar(name, str(millis // 1000))
    chan.setvar(f"{name}_MS", str(millis))


def _timeout(args: list[str]) -> float:
    try:
        return float(args[1]) if len(args) > 1 and args[1].strip() else 0.0
    except ValueError:
        return 0.0


async def _call_destinations(
    chan: Channel, destinations: str, options: dict[str, str]
) -> tuple[list[_Outgoing], int]:
    """Create a channel per destination (``&``-separated), run the predial handler on each,
    then call them all; also how many could not be created (unreachable)."""
    outs: list[_Outgoing] = []
    failed = 0
    for destination in destinations.split("&"):
        tech, _, resource = destination.strip().partition("/")
        out = request_channel(chan.pbx, tech, resource, chan)
        if out is None:
            log.info("Dial: unable to create channel %s/%s", tech, resource)
            failed += 1
            continue
        outs.append(_Outgoing(out, resource, prepare_callee(out, chan, resource)))
    if "b" in options and chan.pbx.executor is not None:
        # app_dial runs the predial handler on every new channel before calling any of them.
        for outgoing in outs:
            await chan.pbx.executor.run_subroutine(outgoing.chan, options["b"])
    for outgoing in outs:
        call(outgoing.chan)
        publish_dial("DialBegin", chan, outgoing.chan, ("DialString", outgoing.number))
    return outs, failed


async def dial(chan: Channel, data: str) -> str:
    """Dial(destinations,timeout,options): ``"continue"`` or ``"hangup"`` for the PBX."""
    args = separate_args(data)
    if not args or not args[0].strip():
        log.warning("Dial requires an argument (technology/resource) on %s", chan.name)
        return "hangup"
    timeout = _timeout(args)
    options = parse_options(args[2]) if len(args) > 2 else {}
    for name in DIAL_VARIABLES:
        chan.setvar(name, "")
    started = chan.pbx.clock.now()
    outs, failed = await _call_destinations(chan, args[0], options)
    if not outs:
        chan.setvar("DIALSTATUS", "CHANUNAVAIL")
        return "continue"
    if "m" in options:
        chan.emit("MusicOnHoldStart", extra=[("Class", options["m"] or "default")])
    if len(outs) == 1 and outs[0].has_callerid and "I" not in options:
        # wait_for_answer, single destination: the caller is shown who it calls at once.
        chan.connected = outs[0].chan.caller
        chan.publish()
    progress = _Progress(
        started, "m" in options or "r" in options, lines=len(outs) + failed, nochan=failed
    )
    winner, status = await _wait_for_answer(chan, outs, timeout if timeout > 0 else None, progress)
    if winner is None:
        if "m" in options and not chan.dead:
            chan.emit("MusicOnHoldStop")
        for outgoing in outs:
            if not outgoing.done:
                outgoing.chan.destroy()
        chan.setvar("DIALSTATUS", status)
        return "hangup" if chan.hangup_requested else "continue"
    return await _connect(chan, winner, outs, options, started)


async def _connect(
    chan: Channel, winner: _Outgoing, outs: list[_Outgoing], options: dict[str, str], started: float
) -> str:
    """``winner`` answered: the others are cancelled, the caller answered, then bridged."""
    chan.setvar("DIALSTATUS", "ANSWER")
    for outgoing in outs:
        if outgoing is not winner and not outgoing.done:
            publish_dial("DialEnd", chan, outgoing.chan, ("DialStatus", "CANCEL"))
            outgoing.chan.hangupcause = ANSWERED_ELSEWHERE
            outgoing.chan.destroy()
    chan.setvar("DIALEDPEERNAME", winner.chan.name)
    chan.setvar("DIALEDPEERNUMBER", winner.number)
    winner.chan.exten = ""
    publish_dial("DialEnd", chan, winner.chan, ("DialStatus", "ANSWER"))
    if "m" in options:
        chan.emit("MusicOnHoldStop")
    if chan.state != State.UP:
        chan.answer()
    if options.get("U") and chan.pbx.executor is not None:
        # U(context[^arg...]): Gosub(context,s,1) on the called channel before the bridge.
        context = options["U"].split("^")[0]
        await chan.pbx.executor.run_subroutine(winner.chan, f"{context}^s^1")
    return await _bridge(chan, winner.chan, started, go_on="g" in options)


@dataclass(slots=True)
class _Progress:
    """What the callees said so far, for the Dial's final status: app_dial's handle_cause
    counts. BUSY (CONGESTION, CHANUNAVAIL) only when every destination was busy, congested
    or unreachable; a leg that rang out or was declined (cause 16, 19) leaves NOANSWER, so a
    ring group with one busy phone and one that did not answer says NOANSWER."""

    started: float
    ringback: bool  # the caller hears music (m) or a tone (r), not the callee's ringing
    lines: int = 0
    busy: int = 0
    congestion: int = 0
    nochan: int = 0
    rang: bool = False

    def ended(self, cause: int) -> None:
        if cause == USER_BUSY:
            self.busy += 1
        elif cause == CONGESTION_CAUSE:
            self.congestion += 1
        elif cause not in (NORMAL_CLEARING, NO_ANSWER_CAUSE):
            self.nochan += 1

    def status(self) -> str:
        if self.busy + self.congestion + self.nochan < self.lines:
            return "NOANSWER"
        if self.busy:
            return "BUSY"
        return "CONGESTION" if self.congestion else "CHANUNAVAIL" if self.nochan else "NOANSWER"


async def _wait_for_answer(
    chan: Channel, outs: list[_Outgoing], timeout: float | None, progress: _Progress
) -> tuple[_Outgoing | None, str]:
    clock = chan.pbx.clock
    deadline = None if timeout is None else progress.started + timeout
    while True:
        live = [o for o in outs if not o.done]
        if not live:
            return None, progress.status()
        if chan.hangup_requested or chan.dead or chan.pending_goto is not None:
            _end_all(chan, live, "CANCEL")
            return None, "CANCEL"
        remaining = None if deadline is None else deadline - clock.now()
        if remaining is not None and remaining <= 0:
            _end_all(chan, live, "NOANSWER")
            return None, "NOANSWER"
        await wait_any([chan, *(o.chan for o in live)], remaining)
        chan.frames.clear()  # the caller's hangup or redirect is in its flags
        for outgoing in live:
            if _read_callee(chan, outgoing, progress):
                return outgoing, "ANSWER"
            if outgoing.chan.dead and not outgoing.done:
                outgoing.done = True


def _end_all(chan: Channel, live: list[_Outgoing], status: str) -> None:
    for outgoing in live:
        publish_dial("DialEnd", chan, outgoing.chan, ("DialStatus", status))


def _read_callee(chan: Channel, outgoing: _Outgoing, progress: _Progress) -> bool:
    """Take in what one callee said since; True if it answered."""
    callee = outgoing.chan
    while callee.frames and not outgoing.done:
        frame = callee.frames.popleft()
        if frame.kind is Kind.ANSWER:
            return True
        if frame.kind is Kind.RINGING and not outgoing.rang:
            outgoing.rang = True
            publish_dial("DialState", chan, callee, ("DialStatus", "RINGING"))
            if not progress.rang:
                progress.rang = True
                _set_duration(chan, "RINGTIME", chan.pbx.clock.now() - progress.started)
                if not progress.ringback and chan.endpoint is not None:
                    # ast_indicate(RINGING) to the caller: chan_pjsip sends 180 and
                    # recomputes its device (the trunk turns INUSE).
                    chan.pbx.refresh_device(chan.endpoint)
        elif frame.kind is Kind.HANGUP:
            status = dial_status_for(callee.hangupcause)
            publish_dial("DialEnd", chan, callee, ("DialStatus", status))
            callee.destroy()
            outgoing.done = True
            progress.ended(callee.hangupcause)
        elif frame.kind is Kind.GOTO:
            # A redirected callee leaves the Dial and runs the dialplan on its own.
            publish_dial("DialEnd", chan, callee, ("DialStatus", "CANCEL"))
            outgoing.done = True
            chan.pbx.start_dialplan(callee)
    return False


async def _bridge(chan: Channel, peer: Channel, started: float, *, go_on: bool) -> str:
    """Bridge caller and callee until one of them leaves; the other is hung up."""
    clock = chan.pbx.clock
    answered_at = clock.now()
    bridge = Bridge(chan.pbx)
    bridge.enter(peer)
    bridge.enter(chan)
    bridge.update_peers()
    for observer in list(chan.observers):
        observer.bridged(chan, peer)
    for observer in list(peer.observers):
        observer.bridged(peer, chan)
    while True:
        caller_leaves = chan.hangup_requested or chan.dead or chan.pending_goto is not None
        peer_leaves = peer.hangup_requested or peer.dead or peer.pending_goto is not None
        if caller_leaves or peer_leaves:
            break
        await wait_any([chan, peer], None)
        chan.frames.clear()
        peer.frames.clear()
    if peer_leaves and not caller_leaves:
        bridge.leave(peer)
        if peer.pending_goto is not None and not peer.hangup_requested and not peer.dead:
            chan.pbx.start_dialplan(peer)
        else:
            peer.destroy()
        bridge.kick(chan)
        bridge.destroy()
        # The bridge dissolves with the leaver's cause and takes the caller down with it.
        if not go_on:
            chan.soft_hangup(peer.hangupcause or NORMAL_CLEARING)
    else:
        bridge.leave(chan)
        bridge.kick(peer)
        bridge.destroy()
        if not peer.dead:
            peer.hangupcause = peer.hangupcause or chan.hangupcause or NORMAL_CLEARING
            peer.destroy()
    now = clock.now()
    _set_duration(chan, "ANSWEREDTIME", now - answered_at)
    _set_duration(chan, "DIALEDTIME", now - started)
    chan.setvar("DIALSTATUS", "ANSWER")
    return "hangup" if chan.hangup_requested else "continue"
