"""A tiny raw-socket AMI client for the simulator's tests: every byte kept, nothing hidden."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import overload

Header = tuple[str, str]


class Message:
    """One AMI message as received: its headers in order."""

    def __init__(self, headers: list[Header]) -> None:
        self.headers = headers

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: str | None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        return next((value for key, value in self.headers if key == name), default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(f"{name} not in {self.headers}")
        return value

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    @property
    def event(self) -> str | None:
        return self.get("Event")

    def matches(self, event: str | None = None, **headers: str) -> bool:
        if event is not None and self.event != event:
            return False
        return all(self.get(key) == value for key, value in headers.items())

    def __repr__(self) -> str:
        return "Message(" + ", ".join(f"{k}: {v}" for k, v in self.headers) + ")"


def parse(block: bytes) -> Message:
    headers: list[Header] = []
    for line in block.decode("utf-8").split("\r\n"):
        name, _, value = line.partition(": ")
        headers.append((name, value))
    return Message(headers)


class AmiClient:
    """Connects, sends actions, and waits for messages with a timeout (never sleeps)."""

    _ids = itertools.count(1)

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.raw = bytearray()
        self.banner = b""
        self.messages: list[Message] = []
        self.cursor = 0
        self.eof = False
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._receive())

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> AmiClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        await client.wait(lambda: bool(client.banner), 5)
        return client

    async def _receive(self) -> None:
        buffer = b""
        try:
            while chunk := await self.reader.read(65536):
                self.raw += chunk
                buffer += chunk
                if not self.banner and b"\r\n" in buffer:
                    line, buffer = buffer.split(b"\r\n", 1)
                    self.banner = line + b"\r\n"
                while self.banner and b"\r\n\r\n" in buffer:
                    block, buffer = buffer.split(b"\r\n\r\n", 1)
                    self.messages.append(parse(block))
                async with self._changed:
                    self._changed.notify_all()
        except ConnectionError:
            pass
        finally:
            self.eof = True
            async with self._changed:
                self._changed.notify_all()

    async def wait(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: condition() or self.eof)
            if not condition():
                raise AssertionError("connection closed before the awaited message")

        await asyncio.wait_for(until(), timeout)

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, headers: Sequence[Header] | Mapping[str, str]) -> None:
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        self.write(("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode())

    async def action(self, action: str, timeout: float = 5.0, /, **headers: str) -> Message:
        """Send an action with a fresh ActionID and return its response.

        ``timeout`` is positional-only: every keyword is a header (``**{"Cause-txt": ...}``).
        """
        action_id = f"t-{next(self._ids)}"
        self.send([("Action", action), ("ActionID", action_id), *headers.items()])
        return await self.find(
            lambda m: "Response" in m and m.get("ActionID") == action_id, timeout
        )

    async def login(self, username: str = "acd", secret: str = "s3cret", **headers: str) -> Message:
        return await self.action("Login", Username=username, Secret=secret, **headers)

    async def find(self, predicate: Callable[[Message], bool], timeout: float = 5.0) -> Message:
        """The first message (from the start) that matches."""
        found: list[Message] = []

        def check() -> bool:
            found[:] = [m for m in self.messages if predicate(m)][:1]
            return bool(found)

        await self.wait(check, timeout)
        return found[0]

    async def expect(self, event: str, timeout: float = 5.0, /, **headers: str) -> Message:
        """The next matching event after the previous ``expect``: checks order, too."""
        found: list[int] = []

        def check() -> bool:
            found[:] = [
                i
                for i in range(self.cursor, len(self.messages))
                if self.messages[i].matches(event, **headers)
            ][:1]
            return bool(found)

        await self.wait(check, timeout)
        self.cursor = found[0] + 1
        return self.messages[found[0]]

    def events(self, event: str, **headers: str) -> list[Message]:
        return [m for m in self.messages if m.matches(event, **headers)]

    async def closed(self, timeout: float = 5.0) -> None:
        await self.wait(lambda: self.eof, timeout)

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
