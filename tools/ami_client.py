"""A minimal AMI client that keeps every byte: what the capture recorder and the live tests drive the PBX with.

Hand-written on purpose: a capture must hold the exact text Asterisk sent and the client wrote, message by
message, which panoramisk (the product's AMI library) parses away. Messages are split where AMI ends them (a
blank line); the banner is its own line. ``entries`` is the capture body: ``{"t", "dir", "raw"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Mapping
from typing import Any

from asterisk.ami_message import parse_headers as parse_message

_END = b"\r\n\r\n"


class AmiClient:
    def __init__(self, *, host: str, port: int, username: str, secret: str, events: str = "on") -> None:
        self.host, self.port, self.username, self.secret, self.events = host, port, username, secret, events
        self.entries: list[dict[str, Any]] = []
        self.messages: list[dict[str, str]] = []  # every message Asterisk sent, parsed
        self._t0 = 0.0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiters: dict[str, asyncio.Future[list[dict[str, str]]]] = {}
        self._lists: dict[str, list[dict[str, str]]] = {}
        self._changed = asyncio.Event()
        self._ids = (uuid.uuid4().hex[:12] for _ in itertools.count())

    def _t(self) -> float:
        return round(time.monotonic() - self._t0, 4)

    async def connect(self) -> None:
        self._t0 = time.monotonic()
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        banner = await self._reader.readline()
        self.entries.append({"t": self._t(), "dir": "in", "raw": banner.decode()})
        self._task = asyncio.create_task(self._read())
        answer = await self.send({"Action": "Login", "Username": self.username, "Secret": self.secret,
                                  **({"Events": self.events} if self.events != "on" else {})})
        if answer[0].get("Response") != "Success":
            raise PermissionError(f"AMI login refused: {answer[0].get('Message')}")

    async def close(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(self.send({"Action": "Logoff"}), 3)
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self) -> None:
        assert self._reader is not None
        buffer = b""
        while chunk := await self._reader.read(65536):
            buffer += chunk
            while (end := buffer.find(_END)) >= 0:
                raw, buffer = buffer[: end + len(_END)], buffer[end + len(_END):]
                text = raw.decode("utf-8", "replace")
                self.entries.append({"t": self._t(), "dir": "in", "raw": text})
                self._received(parse_message(text))

    def _received(self, message: dict[str, str]) -> None:
        self.messages.append(message)
        self._changed.set()
        action_id = message.get("ActionID", "")
        waiter = self._waiters.get(action_id)
        if waiter is None or waiter.done() or message.get("Event") == "OriginateResponse":
            return
        items = self._lists.setdefault(action_id, [])
        items.append(message)
        # A list action ("... will follow") ends with its EventList: Complete event; any other with its Response.
        if (len(items) == 1 and message.get("EventList") != "start") or message.get("EventList") == "Complete":
            waiter.set_result(items)

    async def send(self, fields: Mapping[str, str | list[str]], *, timeout: float = 10) -> list[dict[str, str]]:
        """Send an action; returns its answer (the Response, then a list action's events)."""
        assert self._writer is not None
        action_id = next(self._ids)
        lines = []
        for key, value in {**fields, "ActionID": action_id}.items():
            lines += [f"{key}: {item}" for item in (value if isinstance(value, list) else [value])]
        raw = "\r\n".join(lines) + "\r\n\r\n"
        waiter = self._waiters[action_id] = asyncio.get_running_loop().create_future()
        self.entries.append({"t": self._t(), "dir": "out", "raw": raw})
        self._writer.write(raw.encode())
        await self._writer.drain()
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._waiters.pop(action_id, None)
            self._lists.pop(action_id, None)

    async def channels(self) -> list[dict[str, str]]:
        answer = await self.send({"Action": "CoreShowChannels"})
        return [m for m in answer if m.get("Event") == "CoreShowChannel"]

    async def wait_event(self, event: str, timeout: float = 30, **headers: str) -> dict[str, str]:
        """The first event named ``event`` (with these header values) from now on."""
        start = len(self.messages)
        async with asyncio.timeout(timeout):
            while True:
                for message in self.messages[start:]:
                    if message.get("Event") == event and all(message.get(k) == v for k, v in headers.items()):
                        return message
                start = len(self.messages)
                self._changed.clear()
                await self._changed.wait()

    async def wait_channel(self, prefix: str, timeout: float = 30) -> str:
        """The name of the first live channel whose name starts with ``prefix`` (polled as the recorder polls)."""
        async with asyncio.timeout(timeout):
            while True:
                for channel in await self.channels():
                    if channel.get("Channel", "").startswith(prefix):
                        return channel["Channel"]
                await asyncio.sleep(0.3)

    async def wait_idle(self, timeout: float = 60, poll: float = 1.5) -> None:
        """Until Asterisk has no channel left (CoreShowChannels polls, which the captures show as noise)."""
        async with asyncio.timeout(timeout):
            while await self.channels():  # noqa: ASYNC110 (each poll is an AMI round trip, recorded)
                await asyncio.sleep(poll)
