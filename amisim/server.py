"""The simulator's server: every client that logs in gets the capture, and the tests' fault controls.

Two ways to replay: each client its own replay from its login (the default), or ``shared_timeline``: one PBX
whose calls go on whether or not a client is connected, as with a real Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from amisim.capture import Capture
from amisim.cloning import clone_with_fresh_ids
from amisim.pbx_state import observe_channels, observe_members
from amisim.session import Session


class AmiSimulator:
    """Serve ``capture`` to every client that logs in with ``username``/``secret``.

    ``responses`` maps an action name to a reply template (``{action_id}`` placeholder) or a list of
    templates used in turn per connection (then the built-in answer); see ``recorded_responses``.
    """

    def __init__(self, capture: Capture, *, username: str, secret: str, speed: float = 1.0,
                 host: str = "127.0.0.1", port: int = 0, loop_forever: bool = False,
                 responses: Mapping[str, str | Sequence[str]] | None = None,
                 then: Sequence[Capture] = (), shared_timeline: bool = False,
                 answer_delays: Mapping[str, float] | None = None,
                 eventfilters: Sequence[str] = (), filter_permitted: bool = True) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.capture, self.username, self.secret, self.speed = capture, username, secret, speed
        # Replayed in turn after ``capture`` (which also gives the login exchange), each with fresh ids from
        # the second round on.
        self.then = list(then)
        self.host, self.port, self.loop_forever = host, port, loop_forever
        self.responses = {k.lower(): [v] if isinstance(v, str) else list(v)
                          for k, v in (responses or {}).items()}
        # Seconds before answering an action (by name), as a PBX busy with it would take.
        self.answer_delays = {k.lower(): v for k, v in (answer_delays or {}).items()}
        self.received_actions: list[dict[str, str]] = []
        # As a manager.conf user: its eventfilter lines (every session starts with them), and whether its write
        # classes include system, which the Filter action needs (the shipped callercard user's do not).
        self.eventfilters, self.filter_permitted = tuple(eventfilters), filter_permitted
        self.events_filtered = 0  # events a session's filters kept from it
        # shared_timeline: one PBX whose calls go on whether or not a client is connected. ``start_timeline``
        # plays the capture once for everyone logged in at that moment; a client that reconnects misses what
        # happened meanwhile and sees only the live channels in CoreShowChannels, as with a real Asterisk.
        self.shared_timeline = shared_timeline
        self.pbx_channels: dict[str, dict[str, Any]] = {}
        self.pbx_members: dict[str, dict[str, dict[str, str]]] = {}
        self.login_times: list[float] = []  # time.monotonic() of each accepted Login
        self.disconnect_times: list[float] = []  # time.monotonic() of each client connection's end
        self._timeline: asyncio.Task[None] | None = None
        self.timeline_started = 0.0  # time.monotonic() when start_timeline was called
        self.replays_finished = 0
        self._finished = asyncio.Event()
        self._sessions: dict[Session, asyncio.Task[Any] | None] = {}
        self._server: asyncio.Server | None = None

    @property
    def playlist(self) -> list[Capture]:
        return [self.capture, *self.then]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._timeline is not None:
            self._timeline.cancel()
            await asyncio.gather(self._timeline, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        tasks = [task for task in self._sessions.values() if task is not None]
        for session in list(self._sessions):
            session.writer.transport.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def replay_finished(self) -> None:
        """A replay sent every ``in`` message of the playlist (once per round)."""
        self.replays_finished += 1
        self._finished.set()

    async def wait_finished(self, timeout: float) -> None:
        """Wait until a client's replay has sent every ``in`` message (raises TimeoutError)."""
        await asyncio.wait_for(self._finished.wait(), timeout)

    def start_timeline(self) -> None:
        """Shared-timeline mode: start the PBX's calls (the capture, then fresh-id clones if looping)."""
        if not self.shared_timeline or self._timeline is not None:
            raise RuntimeError("start_timeline needs shared_timeline=True and runs once")
        self.timeline_started = time.monotonic()
        self._timeline = asyncio.create_task(self._play_timeline())

    async def _play_timeline(self) -> None:
        loop, rounds = asyncio.get_running_loop(), 0
        while True:
            capture = self.capture if rounds == 0 else clone_with_fresh_ids(self.capture, rounds)
            start = loop.time()
            for entry in capture.replay_entries:
                delay = start + (entry.t - capture.replay_t0) / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                observe_members(self.pbx_members, entry.headers)
                observe_channels(self.pbx_channels, entry.headers)
                await self.broadcast(entry.raw.encode("utf-8"))
            rounds += 1
            self.replay_finished()
            if not self.loop_forever:
                return

    async def broadcast(self, data: bytes) -> None:
        """Write raw bytes (well-formed or not) to every logged-in, non-silent client."""
        for session in list(self._sessions):
            if session.authenticated and session.wants_events and not session.silent \
                    and not session.writer.is_closing():
                if session.filters.active and not session.filters.admits(data.decode("utf-8", "replace")):
                    self.events_filtered += 1
                    continue
                session.writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await session.writer.drain()

    async def wait_logins(self, count: int, timeout: float) -> float:
        """Wait until ``count`` Logins were accepted in all; returns the monotonic time of the last one."""
        async with asyncio.timeout(timeout):
            while len(self.login_times) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        return self.login_times[count - 1]

    async def drop_connections(self) -> None:
        """Abort every client connection (no FIN handshake niceties, pending data is lost)."""
        for session in list(self._sessions):
            session.writer.transport.abort()
        await asyncio.sleep(0)

    def go_silent(self) -> None:
        """Current connections stay open but send and answer nothing (a half-open link); new ones work."""
        for session in self._sessions:
            session.silent = True

    def resume(self) -> None:
        for session in self._sessions:
            session.silent = False

    @property
    def silent(self) -> bool:
        return any(session.silent for session in self._sessions)

    @property
    def connections(self) -> int:
        return len(self._sessions)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        self._sessions[session] = asyncio.current_task()
        try:
            await session.run()
        except asyncio.CancelledError:
            # stop() cancels sessions; finishing normally keeps asyncio's stream callback from logging it as
            # an error (its connection_made callback reads the task's exception).
            pass
        finally:
            self._sessions.pop(session, None)
            self.disconnect_times.append(time.monotonic())

