"""Simulated agent phones: PJSIP endpoints that ring, answer or not, talk and hang up.

A phone is what Asterisk sees at the far end of ``PJSIP/1001``: a Dial to it creates
``PJSIP/1001-XXXXXXXX``; the phone sends 180 Ringing at once (Newstate Ringing,
DeviceStateChange RINGING), answers ``answer_after`` seconds after the INVITE unless ``answers``
is False, and hangs up (BYE) ``talk_for`` seconds after answering. A phone busy elsewhere
answers 486 (DialStatus BUSY); an unregistered or unknown endpoint cannot be called at all
(CHANUNAVAIL).
"""

from __future__ import annotations

import random

from acd.sim.channels import NORMAL_CLEARING, USER_BUSY, Channel, Frame, Kind, Party, State
from acd.sim.pbx import Pbx, Timer

# The 180 Ringing (or 486 Busy Here) a SIP phone sends back, in simulated seconds.
PROVISIONAL_DELAY = 0.05
BUSY_HERE = 486


class SimPhone:
    """One agent's phone. Its behaviour can be changed at any time; counters help tests."""

    def __init__(
        self,
        pbx: Pbx,
        endpoint: str,
        *,
        answer_after: float = 1.0,
        answers: bool = True,
        talk_for: float = 3.0,
        rng: random.Random | None = None,
        context: str = "default",
        callerid: tuple[str, str] | None = None,
    ) -> None:
        self.pbx = pbx
        self.endpoint = endpoint
        self.context = context
        # pjsip.conf's callerid: the caller id chan_pjsip gives the endpoint's new channels.
        self.callerid = Party(*callerid) if callerid is not None else Party()
        self.answer_after = answer_after
        self.answers = answers
        # When set (with ``rng``), each call is answered with this chance instead.
        self.answer_chance: float | None = None
        self.talk_for = talk_for
        self.rng = rng
        self.registered = True
        # Answers every INVITE with 486 Busy Here (a phone set to do-not-disturb): its
        # device state stays NOT_INUSE, as a real PJSIP phone's does.
        self.busy_here = False
        self.calls_rung = 0
        self.calls_answered = 0
        self.calls_busy = 0
        self._in_use = False
        self._timers: dict[Channel, list[Timer]] = {}

    @property
    def device(self) -> str:
        """The device name in DeviceStateChange events: ``PJSIP/1001``."""
        return f"PJSIP/{self.endpoint}"

    @property
    def in_use(self) -> bool:
        """True while the agent is on a call the simulator does not know about."""
        return self._in_use

    @property
    def channels(self) -> list[Channel]:
        """This phone's live channels."""
        return list(self._timers)

    def set_in_use(self, in_use: bool) -> None:
        """The agent takes (or ends) another call: INUSE/NOT_INUSE, and Dials get BUSY."""
        self._in_use = in_use
        self.pbx.refresh_device(self.endpoint)

    def set_registered(self, registered: bool) -> None:
        """Unregistered phones cannot be called (CHANUNAVAIL) and show UNAVAILABLE."""
        self.registered = registered
        self.pbx.refresh_device(self.endpoint)

    def pick_up(self) -> None:
        """The agent answers the ringing call now, whatever ``answer_after`` says."""
        for chan in self.channels:
            if chan.state == State.RINGING and not chan.dead:
                for timer in self._timers.get(chan, []):
                    timer.cancel()
                self._act(chan, "answer")

    def hang_up(self) -> None:
        """The agent hangs up whatever call the phone has now (a BYE or a CANCEL reply)."""
        for chan in self.channels:
            chan.queue_hangup(NORMAL_CLEARING)

    def _vary(self, seconds: float) -> float:
        return seconds * self.rng.uniform(0.5, 1.5) if self.rng is not None else seconds

    def _later(self, chan: Channel, seconds: float, action: str) -> None:
        def fire() -> None:
            if not chan.dead:
                self._act(chan, action)

        self._timers.setdefault(chan, []).append(self.pbx.call_later(seconds, fire))

    def _answers(self) -> bool:
        if self.answer_chance is None or self.rng is None:
            return self.answers
        return self.rng.random() < self.answer_chance

    # --- what Asterisk does to the phone -------------------------------------------------
    def invite(self, chan: Channel) -> None:
        """Asterisk calls the phone on ``chan``."""
        busy = self.busy_here or self._in_use or any(other is not chan for other in self._timers)
        self._timers[chan] = []
        self._later(chan, PROVISIONAL_DELAY, "busy" if busy else "ringing")

    def hangup(self, chan: Channel) -> None:
        """The call on ``chan`` is over: forget its timers."""
        for timer in self._timers.pop(chan, []):
            timer.cancel()

    def _act(self, chan: Channel, action: str) -> None:
        if action == "busy":
            # A final 486: chan_pjsip queues a hangup with the cause it maps to (17), the
            # channel never rings, so the device state never changes (busy.ami).
            self.calls_busy += 1
            chan.tech_cause = BUSY_HERE
            chan.queue_hangup(USER_BUSY)
        elif action == "ringing":
            self.calls_rung += 1
            chan.set_state(State.RINGING)
            chan.queue_frame(Frame(Kind.RINGING))
            if self._answers():  # answer_after counts from the INVITE, the 180 included
                delay = self._vary(self.answer_after) - PROVISIONAL_DELAY
                self._later(chan, max(0.0, delay), "answer")
        elif action == "answer":
            self.calls_answered += 1
            chan.set_state(State.UP)
            chan.queue_frame(Frame(Kind.ANSWER))
            self._later(chan, self._vary(self.talk_for), "bye")
        elif action == "bye":
            chan.queue_hangup(NORMAL_CLEARING)
