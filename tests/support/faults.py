"""What fault tests inject: a private Redis they may stop, a TCP proxy they may stall or cut, bursts of calls.

Faults are only ever injected into servers a test started for itself, never into the session's shared
services, so the other tests are unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from amisim import Capture, Entry, clone_with_fresh_ids
from tests.support.processes import Process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of one test's own, on its own port: stopping it disturbs nobody else."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> PrivateRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Like the services script's Redis: no persistence, so what the broker held when it stopped is gone.
        with (self.directory / "redis.log").open("ab") as log:
            self.popen = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                 "--save", "", "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        raise TimeoutError(f"private redis-server on {self.port} did not start")

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)


class TcpProxy:
    """Forwards a local port to ``target``; ``stall()`` makes it a black hole, ``cut()`` refuses connections.

    Stalled: connections are accepted and held, nothing is forwarded either way (a server that hangs). Cut:
    every connection is aborted and new ones are refused (a server that is gone). ``restore()`` forwards again.
    Held (``hold()``): connections stay up and what is sent waits in the proxy until ``release()`` (a server
    that is slow to answer). ``cut_when_sent(marker)``: cut the moment a client sends bytes holding ``marker``,
    before they reach the server (a store that goes away between two writes); ``was_cut`` is set then.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "forward"
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._cut_marker: bytes | None = None
        self.was_cut = asyncio.Event()

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        parts = urlsplit(url)
        assert parts.hostname and parts.port, url
        return cls(parts.hostname, parts.port)

    def url(self, original: str) -> str:
        parts = urlsplit(original)
        return parts._replace(netloc=f"127.0.0.1:{self.port}").geturl()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        self._abort_all()
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def stall(self) -> None:
        self.mode = "stall"
        self._abort_all()

    async def cut(self) -> None:
        self.mode = "cut"
        self._abort_all()
        if self._server is not None:
            self._server.close()
            self._server = None

    async def restore(self) -> None:
        self.mode = "forward"
        self._abort_all()  # what was held while stalled is dropped, as a timed-out client would
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def cut_when_sent(self, marker: bytes) -> None:
        self._cut_marker = marker

    def _cut_now(self) -> None:
        self.mode = "cut"
        self._abort_all()
        if self._server is not None:
            self._server.close()
            self._server = None
        self.was_cut.set()

    def _abort_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.mode != "forward":
            return  # held open, never answered (stall); aborted by the next mode change
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        for source, sink, upstream in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.create_task(self._pump(source, sink, upstream=upstream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, upstream: bool) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while self.mode == "forward" and (data := await source.read(65536)):
                await self._flowing.wait()
                if self.mode != "forward":
                    return
                if upstream and self._cut_marker is not None and self._cut_marker in data:
                    self._cut_marker = None
                    self._cut_now()
                    return
                sink.write(data)
                await sink.drain()
        if self.mode == "forward":
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                sink.close()


def burst(capture: Capture, *, calls: int, spacing: float, first: int = 1) -> Capture:
    """``calls`` copies of the capture's call with fresh ids, each starting ``spacing`` s after the previous,
    overlapping as real calls do; the login and everything before it is kept from the original."""
    index = capture.login_exchange[0]
    prefix = capture.entries[: index + 1]
    t0 = capture.entries[index].t if index >= 0 else 0.0
    merged: list[Entry] = []
    for n in range(calls):
        clone = clone_with_fresh_ids(capture, first + n)
        merged += [Entry(e.t + n * spacing, e.dir, e.raw) for e in clone.entries[index + 1:] if e.t >= t0]
    merged.sort(key=lambda e: e.t)
    return Capture({**capture.header, "burst": calls}, prefix + merged)


def call_ids(capture: Capture) -> set[str]:
    """Every call (Linkedid) of the capture's replayed part whose caller entered the queue."""
    return {e.headers["Linkedid"] for e in capture.replay_entries if e.headers.get("Event") == "QueueCallerJoin"}


def kill_group(process: Process) -> None:
    """SIGKILL a process started with ``new_session=True`` and every process of its group (a worker's pool)."""
    assert process.popen is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.popen.pid, signal.SIGKILL)
    process.popen.wait(10)


def with_env(env: Mapping[str, str], **overrides: str) -> dict[str, str]:
    return {**env, **{f"CALLERCARD_{key.upper()}": value for key, value in overrides.items()}}


def call_starts(capture: Capture, speed: float = 1.0, event: str = "QueueCallerJoin") -> dict[str, float]:
    """Call id -> seconds after the replay starts when its caller joins the queue (its first ring follows), or
    its first ``event`` (``Newchannel``: the call enters and its card is looked up)."""
    starts: dict[str, float] = {}
    for e in capture.replay_entries:
        if e.headers.get("Event") == event and e.headers.get("Linkedid"):
            starts.setdefault(e.headers["Linkedid"], (e.t - capture.replay_t0) / speed)
    return starts


FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "fault-figures.jsonl"


def report(test: str, **figures: object) -> None:
    """Append what a fault test measured to test-artifacts/fault-figures.jsonl (the README's table quotes it)."""
    FIGURES.parent.mkdir(exist_ok=True)
    with FIGURES.open("a") as handle:
        handle.write(json.dumps({"test": test, "at": time.time(), **figures}) + "\n")
    print(f"{test}: {figures}")


def call_spans(capture: Capture, speed: float = 1.0) -> dict[str, tuple[float, float]]:
    """Call id -> (first event, last event) in seconds after the replay starts."""
    spans: dict[str, tuple[float, float]] = {}
    for e in capture.replay_entries:
        call = e.headers.get("Linkedid")
        if call:
            at = (e.t - capture.replay_t0) / speed
            spans[call] = (spans[call][0], at) if call in spans else (at, at)
    return spans
