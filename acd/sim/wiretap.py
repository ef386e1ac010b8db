"""What an observer of the simulator's AMI wire sees: events written, actions read.

A tap is told at the moment an event's bytes are written to a client's socket and the moment
an action from a client has been read whole, before the simulator acts on it. The load
generator measures acd's decision latency between the two, from outside acd.
"""

from __future__ import annotations

from typing import Protocol

from acd.sim.events import AmiEvent
from acd.sim.protocol import ActionMessage


class WireTap(Protocol):
    """An observer of one simulator's AMI traffic (called on the event loop, keep it cheap)."""

    def event_sent(self, event: AmiEvent) -> None:
        """``event`` was just written to a logged-in client that wanted it."""

    def action_received(self, message: ActionMessage) -> None:
        """A client's action was just read, before it runs."""
