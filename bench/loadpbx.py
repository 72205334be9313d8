"""A load-generating PBX: the test AMI server serving many concurrent cloned calls to one listener.

Each call is a recorded capture cloned with fresh Uniqueid/Linkedid/channel suffixes
(``amisim.fresh_ids``), its caller number replaced by one from the generated
customer base and its agents' devices (``Local/20X@agents``) by one agent group's. Its ``in`` messages
are written with their recorded spacing, interleaved with every other live call's. As Asterisk does, an
event is sent only when one of its classes (``Privilege``) is in the event mask the client asked for at
login. The write time of every message that rings an agent (``AgentCalled``, ``DialBegin``) is kept.
Live channels are tracked from ``Newchannel``/``Hangup`` only, enough for ``CoreShowChannels`` after
a reconnect to list the calls still going on.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amisim import AmiSimulator, Capture, fresh_ids
from amisim.session import Session
from asterisk.ami_message import parse_headers
from asterisk.events import device_of, leg_id

_RING_EVENTS = ("AgentCalled", "DialBegin")
_CHANNEL_EVENTS = ("Newchannel", "Hangup")
_AGENT_DEVICE = re.compile(r"Local/(20[1-3])@agents")
_PRIVILEGE = re.compile(r"^Privilege: ([^\r\n]*)", re.MULTILINE)


@dataclass
class CallPlan:
    """One cloned call: what was sent and when (``time.perf_counter()``; entry also in wall-clock time)."""

    call_id: str
    capture: str
    number: str  # as the PBX gives it
    holder: str
    group: int
    entered: float = 0.0
    entered_wall: float = 0.0
    finished: bool = False
    rings: dict[str, tuple[str, float]] = field(default_factory=dict)  # leg id -> (agent device, first write)


class _LoadSession(Session):
    """Answers the listener's login and actions; calls are written into it by ``LoadPbx``."""

    async def login(self, low: dict[str, str], aid: str | None) -> bool:
        mask = {c.strip().lower() for c in low.get("events", "on").split(",")}
        self.sim.event_mask = None if mask & {"on", "all", "yes", "true"} else mask
        return await super().login(low, aid)

    async def replay(self) -> None:
        self.sim.attach(self)


class LoadPbx(AmiSimulator):
    def __init__(self, login_capture: Capture, *, keep_plans: bool = True, **kwargs: Any) -> None:
        super().__init__(login_capture, **kwargs)
        self.keep_plans = keep_plans
        self.event_mask: set[str] | None = None
        self.session: Session | None = None
        self.attached = asyncio.Event()
        self._last_channels: dict[str, dict[str, Any]] | None = None  # kept across a reconnect
        self.calls: dict[str, CallPlan] = {}
        self.sent = 0
        self.filtered = 0
        self._suffix = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, session: Session) -> None:
        if self.session is not None:  # a reconnect: the PBX's live channels are the same
            session.channels = self.session.channels
        elif self._last_channels is not None:
            session.channels = self._last_channels
        self.session = session
        self.attached.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _LoadSession(self, reader, writer)
        self._sessions[session] = asyncio.current_task()
        try:
            await session.run()
        finally:
            self._sessions.pop(session, None)
            if self.session is session:
                self._last_channels = session.channels
                self.session = None
                self.attached.clear()

    def start_call(self, capture: Capture, *, caller: str, number: str, holder: str, group: int,
                   on_ring: Callable[[CallPlan], None] | None = None) -> CallPlan:
        """Clone ``capture`` (its caller ``caller`` becomes ``number``, its agents group ``group``'s) and send it."""
        self._suffix += 1
        call_id, replay = fresh_ids(capture).replay(self._suffix)
        if call_id is None:
            raise ValueError(f"capture {capture.name} has no Linkedid to replay")
        device = f"Local/\\1g{group}@agents"
        entries = [(t, _AGENT_DEVICE.sub(device, raw.replace(caller, number))) for t, raw in replay]
        plan = CallPlan(call_id=call_id, capture=capture.name, number=number, holder=holder,
                        group=group)
        if self.keep_plans:
            self.calls[plan.call_id] = plan
        task = asyncio.create_task(self._send_call(plan, entries, capture.replay_t0))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return plan

    async def _send_call(self, plan: CallPlan, entries: list[tuple[float, str]], t0: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            for offset, raw in entries:
                delay = start + (offset - t0) / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._write(plan, raw)
        finally:
            plan.finished = True

    def _write(self, plan: CallPlan, raw: str) -> None:
        session = self.session
        if session is None:
            return
        if self.event_mask is not None and (m := _PRIVILEGE.search(raw)) is not None:
            classes = {c.strip().lower() for c in m.group(1).split(",")} - {"all"}
            if not classes & self.event_mask:
                self.filtered += 1
                return
        ring = raw.startswith(_RING_EVENTS, len("Event: "))
        headers = parse_headers(raw) if ring or raw.startswith(_CHANNEL_EVENTS, len("Event: ")) else None
        if headers is not None and not ring:
            session.observe(headers)  # live channels, for CoreShowChannels after a reconnect
        if not session.send_event(raw):  # the session's Filter / eventfilter, as Asterisk applies them
            return
        now = time.perf_counter()
        self.sent += 1
        if not plan.entered:
            plan.entered, plan.entered_wall = now, time.time()
        if ring and headers is not None and headers.get("DestChannel"):
            leg = leg_id(headers["DestChannel"])
            if leg not in plan.rings:
                plan.rings[leg] = (device_of(headers["DestChannel"]), now)

    @property
    def started(self) -> int:
        return self._suffix

    @property
    def live_calls(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> None:
        """Wait until every started call has been sent completely."""
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), timeout)
