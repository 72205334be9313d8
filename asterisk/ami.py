"""The AMI link: panoramisk's Manager plus what it lacks.

panoramisk 1.4 leaves a wrong secret silently unauthenticated, never notices a
half-open connection, has no action timeouts, and drops handler exceptions. This
module owns the reconnect loop: one ``Manager`` per session, the Login answer
awaited and reported, a Ping watchdog with a timeout, exponential backoff between
sessions, and every event handler's exception caught and logged with its ids. The
stream is read by ``ami_protocol.AmiProtocol`` (callercard's AMI parser, a size limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass

from panoramisk import Manager

from asterisk.ami_protocol import DEFAULT_MAX_MESSAGE_BYTES, protocol_factory

log = logging.getLogger(__name__)

# panoramisk's own pinger and reconnect are pushed out of reach: this module does both.
_NEVER = 10**9

# Called at once, in order, from the protocol's reading of the stream: it must not block (the state machine is pure).
EventHandler = Callable[[Mapping[str, str]], None]
StateReporter = Callable[[bool, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LinkConfig:
    host: str
    port: int
    username: str
    secret: str
    # Only the classes the call flow reads: call (channels, dials, bridges, transfers), agent (queue
    # and member events), system (FullyBooted). The dialplan class (Newexten, VarSet) is most of an
    # Asterisk's traffic and of no use here.
    events: str = "call,agent,system"
    connect_timeout: float = 5.0
    ping_interval: float = 3.0
    ping_timeout: float = 4.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    # panoramisk buffers an unfinished message without limit: a peer that never ends one is a broken link.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # The Filter action sent after each login (``asterisk.event_filter``): only the events a handler reads.
    event_filter: dict[str, str] | None = None
    # Events the PBX sends on its own that are dropped unread when its filter let them through (None: none).
    wanted_events: Collection[str] | None = None


class AmiLink:
    def __init__(self, config: LinkConfig, *, on_event: EventHandler, report_state: StateReporter,
                 on_login: Callable[[Manager], Awaitable[None]] | None = None,
                 every: tuple[float, Callable[[Manager], Awaitable[None]]] | None = None) -> None:
        """``on_login`` runs after each login; ``every = (seconds, work)`` runs ``work`` that often while logged in."""
        self.config = config
        self._on_event = on_event
        self._report_state = report_state
        self._on_login = on_login
        self._every = every
        self.sessions = 0
        self._last_event_at = 0.0  # event loop time of the latest event received

    async def run_forever(self) -> None:
        delay = self.config.backoff_initial
        while True:
            was_logged_in, reason = await self._session()
            log.warning("AMI link to %s:%s down: %s; reconnecting in %.1f s", self.config.host, self.config.port,
                        reason, delay)
            await self._report(False, reason)
            await asyncio.sleep(delay)
            delay = self.config.backoff_initial if was_logged_in else min(delay * 2, self.config.backoff_max)

    async def _session(self) -> tuple[bool, str]:
        """One connection: returns (whether it logged in, why it ended)."""
        config = self.config
        lost = asyncio.Event()
        manager = Manager(host=config.host, port=config.port, username=config.username, secret=config.secret,
                          events=config.events, ping_delay=_NEVER, reconnect_timeout=_NEVER,
                          loop=asyncio.get_running_loop(), on_disconnect=lambda *_: lost.set(),
                          protocol_factory=protocol_factory(max_message_bytes=config.max_message_bytes,
                                                            on_event=self._dispatch, wanted=config.wanted_events))
        # What the protocol leaves to panoramisk (Shutdown, events carrying an ActionID) reaches the same handler.
        manager.register_event("*", lambda _manager, event: self._dispatch(event))
        self.sessions += 1
        try:
            try:
                await asyncio.wait_for(manager.connect(), config.connect_timeout)
                response = await asyncio.wait_for(manager.authenticated_future, config.connect_timeout)
            except (OSError, TimeoutError) as error:
                return False, f"cannot connect: {type(error).__name__} {error}".strip()
            if not response.success:
                return False, f"authentication failed: {response.get('Message', 'refused')}"
            log.info("AMI logged in to %s:%s as %s", config.host, config.port, config.username)
            await self._ask_for_less(manager)
            await self._report(True, "logged in")
            if self._on_login is not None:
                await self._guarded("on_login", self._on_login(manager))
            periodic = asyncio.create_task(self._periodically(manager)) if self._every else None
            try:
                return True, await self._watch(manager, lost)
            finally:
                if periodic is not None:
                    periodic.cancel()
        finally:
            manager.close()

    async def _ask_for_less(self, manager: Manager) -> None:
        """The Filter action, before anything reads events: Asterisk then writes only the events asked for.

        Refused (the shipped AMI user has no ``system`` write class, which Filter needs) or unanswered, the
        session goes on with what the user's manager.conf ``eventfilter`` lines let through, or everything.
        """
        if self.config.event_filter is None:
            return
        try:
            response = await asyncio.wait_for(manager.send_action(dict(self.config.event_filter)),
                                               self.config.connect_timeout)
        except TimeoutError:
            log.warning("AMI: no answer to Filter within %.0f s; reading unfiltered events",
                        self.config.connect_timeout)
            return
        if response.success:
            log.info("AMI: Asterisk filters events for this session (%s)", self.config.event_filter["Filter"])
        else:
            log.info("AMI: Filter refused (%s); the events are those manager.conf's eventfilter lines let through "
                     "(asterisk/conf/manager_callercard.conf ships them), or all of the login's classes",
                     response.get("Message", "no reason given"))

    async def _periodically(self, manager: Manager) -> None:
        assert self._every is not None
        seconds, work = self._every
        while True:
            await asyncio.sleep(seconds)
            await self._guarded("periodic", work(manager))

    async def _watch(self, manager: Manager, lost: asyncio.Event) -> str:
        """Until the link dies: a Ping every interval; no Pong in time means half-open.

        Unless events kept arriving meanwhile: then the link is alive and the Pong is queued behind
        them (the listener is reading slower than the PBX writes). Reconnecting then would end every
        live call and close its popups, the opposite of what a busy moment needs.
        """
        loop = asyncio.get_running_loop()
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), self.config.ping_interval)
            except TimeoutError:
                sent_at = loop.time()
                try:
                    await asyncio.wait_for(manager.send_action({"Action": "Ping"}), self.config.ping_timeout)
                except TimeoutError:
                    if self._last_event_at < sent_at:
                        return f"no answer to Ping within {self.config.ping_timeout:.0f} s (half-open link)"
                    log.warning("AMI: no answer to Ping within %.0f s but events keep arriving: behind, not down",
                                self.config.ping_timeout)
                    continue
                await self._report(True, "logged in")
        return "connection closed by the PBX"

    def _dispatch(self, event: Mapping[str, str]) -> None:
        self._last_event_at = asyncio.get_running_loop().time()
        try:
            self._on_event(event)
        except Exception:
            log.exception("AMI handler for %s failed (Linkedid=%s Uniqueid=%s); continuing", event.get("Event", "?"),
                          event.get("Linkedid"), event.get("Uniqueid"))

    async def _guarded(self, what: str, work: Awaitable[None], **ids: object) -> None:
        try:
            await work
        except Exception:
            log.exception("AMI handler for %s failed (%s); continuing", what,
                          " ".join(f"{key}={value}" for key, value in ids.items()))

    async def _report(self, logged_in: bool, detail: str) -> None:
        await self._guarded("state report", self._report_state(logged_in, detail))
