"""panoramisk's AMI protocol, with the two things acd needs that it lacks.

- UTF-8 decoded incrementally: panoramisk decodes each TCP chunk on its own with errors
  ignored, so a Cyrillic or Arabic caller name split across two chunks loses bytes.
- Frames that are neither an event nor a response are counted instead of dropped silently.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable
from typing import Any

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

log = logging.getLogger("acd.ami")

EOL = "\r\n"


class AcdAmiProtocol(AMIProtocol):  # type: ignore[misc]
    """AMI framing and ActionID correlation (panoramisk), fed by an incremental decoder."""

    version: str | None

    def __init__(self, on_bad_frame: Callable[[str], None]) -> None:
        super().__init__()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._on_bad_frame = on_bad_frame
        self.encoding = "utf-8"
        self.version = None
        self.responses: dict[str, Any] = {}

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._decoder.reset()
        self._buffer = ""

    def data_received(self, data: bytes) -> None:
        text = self._buffer + self._decoder.decode(data)
        if self.version is None and text.startswith("Asterisk Call Manager/"):
            banner, _, text = text.partition(EOL)
            self.version = banner.partition("/")[2].strip()
        frames = text.split(EOL + EOL)
        self._buffer = frames.pop()
        for frame in frames:
            frame = frame.strip("\r\n")
            if not frame:
                continue
            message = Message.from_line(frame)
            if message is None:
                self._on_bad_frame(frame[:200])
                continue
            self.handle_message(message)
        if len(self._buffer) > 1_000_000:
            # A peer that never ends a frame must not grow our memory without bound.
            self._on_bad_frame("frame larger than 1 MB")
            self._buffer = ""
