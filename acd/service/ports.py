"""What the service needs from the telephony side and the outside world (implemented by
``acd.ami.telephony`` against Asterisk)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from acd.domain.events import AgentLegRecord, CallEntered, LiveChannel
from acd.domain.model import Agent, Call


class Telephony(Protocol):
    """Call control, in the contact centre's words. An action that fails raises
    ``AmiNotDone`` (``NoSuchChannel``: the caller is gone) if it certainly did not happen,
    a plain ``AmiError`` if that is unknown (the connection was lost meanwhile)."""

    @property
    def connected(self) -> bool:
        """True while actions can be sent."""

    async def ring_agent(self, call: Call, agent: Agent, ring_timeout: int, fence: int) -> None:
        """Ring ``agent``'s phone for ``call`` (the offer ``fence``); the caller hears music
        meanwhile."""

    async def send_to_fallback(self, call: Call, reason: str, context: str = "") -> None:
        """Give up on the caller and hand them to the dialplan's fallback (or ``context``)."""

    async def tell_place_in_line(self, call: Call, position: int, wait: int | None) -> None:
        """Let the dialplan know the waiting caller's position and estimated wait (None:
        not known)."""

    async def hang_up(self, channel: str) -> None:
        """Hang up one channel (a caller, at a supervisor's request)."""

    async def return_to_hold(self, call: Call) -> None:
        """Take a connected caller back to music on hold (the agent's leg ends)."""

    async def withdraw_offer(self, call: Call) -> None:
        """Stop ringing the agent ``call`` is offered to; the caller goes back on hold."""

    async def spy(self, dial: str, channel: str, mode: str, call_id: str) -> None:
        """Ring ``dial`` and, once answered, listen to (whisper to, barge into) ``channel``."""

    async def live_channels(self) -> dict[str, LiveChannel]:
        """Every channel that exists now, by id."""

    async def entered_call(self, uniqueid: str, channel: str) -> CallEntered:
        """What a caller's ACDEnqueue said, rebuilt from its channel (for a caller acd did
        not see enter: every field, as the event would have carried them)."""

    async def get_variable(self, channel: str, name: str) -> str:
        """A channel variable's value."""

    async def busy_devices(self) -> set[str]:
        """Every device the telephony side keeps a state for that is busy now
        (``PJSIP/1001``); a device not listed is free."""

    async def answered_at(self, agent_channel: str) -> float:
        """When the agent on ``agent_channel`` answered (0 if unknown), telephony's clock."""

    async def last_agent_leg(self, agent_id: str) -> AgentLegRecord | None:
        """What the telephony side recorded of the agent's last call leg, if anything."""


class EventSink(Protocol):
    """Where call and agent events go for integrators (event stream, webhooks)."""

    async def publish(self, kind: str, data: dict[str, object]) -> None:
        """Record one event."""

    async def publish_batch(self, events: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Record several events (kind, data), in order, as if published one by one; a sink
        backed by Redis writes them in one round trip."""
