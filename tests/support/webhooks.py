"""A real HTTPS webhook receiver for tests: aiohttp on a free loopback port, TLS with a certificate from the test
session's own CA (trustme), every request recorded as it arrived.

``answers`` decides each request's fate by its index: an HTTP status, and seconds to wait before answering
(longer than the sender's timeout: the sender gives up, the receiver has it anyway).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

Answer = tuple[int, float]  # HTTP status, delay before answering


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class ReceiverCA:
    """The session's certificate authority: the receiver's certificate, and the PEM callercard is told to trust."""

    def __init__(self, directory: Path) -> None:
        self._ca = trustme.CA()
        self.pem = directory / "webhook-test-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.pem))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context


_SESSION_CA: list[ReceiverCA] = []


def session_ca(directory: Path) -> ReceiverCA:
    """The test session's one CA (made on first use): every callercard process of the session trusts it."""
    if not _SESSION_CA:
        directory.mkdir(exist_ok=True)
        _SESSION_CA.append(ReceiverCA(directory))
    return _SESSION_CA[0]


class Receiver:
    def __init__(self, ca: ReceiverCA, *, answers: Callable[[int], Answer] = lambda _: (200, 0.0)) -> None:
        self._ca = ca
        self.answers = answers
        self.requests: list[Received] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/hooks/callercard"

    async def _handle(self, request: web.Request) -> web.Response:
        index = len(self.requests)
        self.requests.append(Received(headers=dict(request.headers), body=await request.read(), at=time.monotonic()))
        self._changed.set()
        status, delay = self.answers(index)
        if delay:
            await asyncio.sleep(delay)
        # No keep-alive: a connection left open by the sender would outlive the receiver, unclosed.
        return web.Response(status=status, text="ok" if status < 300 else "no", headers={"Connection": "close"})

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks/callercard", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ca.server_context())
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # port 0: the OS chose
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.requests
