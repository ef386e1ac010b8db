"""Simulated callers: calls arriving from a SIP trunk into ``acd.inbound``.

Asterisk sees such a call as ``PJSIP/trunk-XXXXXXXX`` in state Ring, with the caller's name
and number from the SIP From header and the ACD_* variables set on arrival (as an endpoint's
``set_var`` sets them: one VarSet each), then runs the dialplan from ``acd.inbound,s,1``.
The caller hangs up after ``patience`` unless an agent is on the line by then; once talking,
the agent's phone ends the call, or the caller does after ``talk_for`` if that is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from acd import contexts
from acd.sim.channels import NORMAL_CLEARING, Channel, Party, State
from acd.sim.pbx import Pbx, Timer

TRUNK = "trunk"


def _endpoint_of(peer: Channel) -> str:
    """The phone behind a bridged peer, looking through Local channels."""
    seen: set[int] = set()
    current: Channel | None = peer
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.endpoint is not None:
            return current.endpoint
        if current.local is None:
            break
        other = current.local.other(current)
        bridge = other.bridge
        current = next((c for c in bridge.members if c is not other), None) if bridge else None
    return peer.name


class SimCall:
    """One caller. Await :meth:`answered` and :meth:`ended` to follow the call."""

    def __init__(
        self, pbx: Pbx, chan: Channel, *, patience: float | None, talk_for: float | None
    ) -> None:
        self.pbx = pbx
        self.channel, self.uniqueid, self.linkedid = chan.name, chan.uniqueid, chan.linkedid
        self.answered_by: str | None = None
        self.outcome: str | None = None
        self.reached_fallback = False
        self._chan = chan
        self._talk_for = talk_for
        loop = asyncio.get_running_loop()
        self._answered: asyncio.Future[str | None] = loop.create_future()
        self._ended: asyncio.Future[str] = loop.create_future()
        self._timer: Timer | None = None
        if patience is not None:
            self._timer = pbx.call_later(patience, self.hang_up)
        chan.observers.append(self)

    @property
    def is_up(self) -> bool:
        """True until the call has ended."""
        return self.outcome is None

    @property
    def is_answered(self) -> bool:
        """True once an agent's phone is (or was) on the line."""
        return self.answered_by is not None

    async def answered(self, timeout: float | None = None) -> str | None:
        """The endpoint (``"1001"``) that answered; None if the call ended unanswered."""
        return await asyncio.wait_for(asyncio.shield(self._answered), timeout)

    async def ended(self, timeout: float | None = None) -> str:
        """How the call ended: 'abandoned', 'completed', 'fallback' (or 'dropped')."""
        return await asyncio.wait_for(asyncio.shield(self._ended), timeout)

    def hang_up(self) -> None:
        """The caller hangs up now (the trunk sends a BYE)."""
        if not self._chan.dead:
            self._chan.queue_hangup(NORMAL_CLEARING)

    # --- ChannelObserver -----------------------------------------------------------------------
    def bridged(self, chan: Channel, peer: Channel) -> None:
        if self.answered_by is None:
            self.answered_by = _endpoint_of(peer)
            if not self._answered.done():
                self._answered.set_result(self.answered_by)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._talk_for is not None:
            self._timer = self.pbx.call_later(self._talk_for, self.hang_up)

    def moved(self, chan: Channel) -> None:
        if chan.context == contexts.FALLBACK:
            self.reached_fallback = True

    def gone(self, chan: Channel) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.pbx.halting:
            outcome = "dropped"  # the simulated Asterisk went away under the call
        elif self.answered_by is not None:
            outcome = "completed"
        elif self.reached_fallback:
            outcome = "fallback"
        else:
            outcome = "abandoned"
        self.outcome = outcome
        if not self._answered.done():
            self._answered.set_result(None)
        if not self._ended.done():
            self._ended.set_result(outcome)


def _skills_text(skills: str | Mapping[str, int] | None) -> str | None:
    if skills is None or isinstance(skills, str):
        return skills
    return ",".join(f"{name}={level}" for name, level in skills.items())


def _attrs_text(attrs: str | Mapping[str, str] | None) -> str | None:
    if attrs is None or isinstance(attrs, str):
        return attrs
    return ";".join(f"{name}={value}" for name, value in attrs.items())


def place_call(
    pbx: Pbx,
    *,
    queue: str | None,
    priority: int | None,
    skills: str | Mapping[str, int] | None,
    attrs: str | Mapping[str, str] | None,
    caller_name: str,
    caller_number: str,
    patience: float | None,
    variables: Mapping[str, str] | None,
    talk_for: float | None,
    context: str = contexts.INBOUND,
    exten: str = "s",
) -> SimCall:
    """A new call from the trunk, starting at ``context,exten,1`` (``acd.inbound,s,1``)."""
    chan = Channel(
        pbx,
        pbx.pjsip_name(TRUNK),
        "PJSIP",
        state=State.RING,
        context=context,
        exten=exten,
        caller=Party(caller_number or None, caller_name or None),
        endpoint=TRUNK,
    )
    call = SimCall(pbx, chan, patience=patience, talk_for=talk_for)
    pbx.add_channel(chan)
    values: dict[str, str | None] = {
        "ACD_QUEUE": queue,
        "ACD_PRIORITY": None if priority is None else str(priority),
        "ACD_SKILLS": _skills_text(skills),
        "ACD_ATTRS": _attrs_text(attrs),
    }
    values.update(variables or {})
    for name, value in values.items():
        if value is not None:
            chan.setvar(name, value)
    pbx.start_dialplan(chan)
    return call
