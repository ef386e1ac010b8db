"""The simulator's clock: Asterisk's notion of time, running ``1 / time_scale`` times faster.

Every duration the simulated Asterisk sees (Wait, MusicOnHold, Dial timeouts, a caller's
patience, an agent's talk time) is measured on this clock, and so are ``${EPOCH}``, Uniqueids
and event timestamps. With ``time_scale=0.01`` a 15 s ring timeout passes in 0.15 s of real
time, and the dialplan's own arithmetic on ``${EPOCH}`` still adds up.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SimClock:
    """Wall-clock time at start, then advancing ``1 / time_scale`` seconds per real second."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, not {time_scale!r}")
        self.time_scale = time_scale
        self._epoch_at_start = time.time()
        self._monotonic_at_start = time.monotonic()

    def now(self) -> float:
        """Seconds since 1970 on the simulated clock."""
        elapsed = time.monotonic() - self._monotonic_at_start
        return self._epoch_at_start + elapsed / self.time_scale

    def real(self, sim_seconds: float) -> float:
        """How many real seconds ``sim_seconds`` of simulated time take."""
        return max(0.0, sim_seconds) * self.time_scale

    def event_tv(self, when: float | None = None) -> str:
        """Security events' timestamp format: ``2026-11-22T16:38:20.494+0000``."""
        moment = datetime.fromtimestamp(self.now() if when is None else when, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"

    @staticmethod
    def date_and_time(when: float) -> tuple[str, str]:
        """``CoreStatus``' date and time fields: ``("2026-11-22", "16:36:35")``."""
        moment = datetime.fromtimestamp(when, UTC)
        return moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")
