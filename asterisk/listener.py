"""The listener's AMI side: events in, through the state machine, effects out; its hand-over across restarts.

Order matters and the AMI loop must never block: each event goes through the
synchronous state machine at once (``AmiCallFlow.handle``), and its effects go to
``CallFlowService``, which does each call's I/O in order (different calls side by side).
The process is put together in ``asterisk/main.py``.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from panoramisk import Manager
from panoramisk.message import Message

from asterisk.events import AmiCallFlow
from callercard import redis_state
from callercard.agents.store import DeviceMap
from callercard.calls.flow_service import CallFlowService
from callercard.lines.board_publisher import BoardPublisher
from callercard.wallboard.publisher import WallboardPublisher

log = logging.getLogger(__name__)


class AmiEvents:
    """AMI in: each event through the synchronous state machine at once, its effects queued in order."""

    def __init__(self, *, flow: AmiCallFlow, service: CallFlowService, lines: BoardPublisher,
                 wallboard: WallboardPublisher) -> None:
        self.flow = flow
        self.service = service
        self.lines = lines
        self.wallboard = wallboard

    async def on_event(self, event: Message) -> None:
        self.service.submit(self.flow.handle(event))
        self.wallboard.observe(event, members_changed=self.lines.observe(event))

    async def resynchronize(self, manager: Manager) -> None:
        """After (re)login: end the calls Asterisk no longer has, so no popup stays open; line status afresh."""
        await self.reconcile(manager, why="resynchronized")
        await self._refresh_lines(manager)

    async def reconcile(self, manager: Manager, *, why: str = "reconciled") -> None:
        """Calls and legs as CoreShowChannels lists them: what ended (or began) without an event is repaired,
        even when the link never dropped (a lost Hangup)."""
        asked_at = self.flow.now()
        response = await asyncio.wait_for(manager.send_action({"Action": "CoreShowChannels"}, as_list=True), 10)
        messages = response if isinstance(response, list) else [response]
        live = [m for m in messages if m.get("Event") == "CoreShowChannel"]
        effects = self.flow.resynchronize(live, asked_at=asked_at)
        level = logging.INFO if why == "resynchronized" or effects.finished or effects.notices else logging.DEBUG
        log.log(level, "%s with CoreShowChannels: %d live channels, %d stale calls ended, %d card events", why,
                len(live), len(effects.finished), len(effects.notices))
        self.service.submit(effects)

    async def _refresh_lines(self, manager: Manager) -> None:
        """Every queue's members, so widgets show the right line status from the first page load.

        No ``as_list``: panoramisk then reads a list for "will follow" and a single message for an error."""
        response = await asyncio.wait_for(manager.send_action({"Action": "QueueStatus"}), 10)
        messages = response if isinstance(response, list) else [response]
        if messages and messages[0].get("Response") == "Error":
            log.warning("QueueStatus refused (%s); line status comes from member events only",
                        messages[0].get("Message"))
            return
        self.wallboard.replace(messages, members_changed=self.lines.replace(messages))


async def refresh_devices_forever(devices: DeviceMap, interval: float = 5.0) -> None:
    while True:
        await devices.refresh(force=True)
        await asyncio.sleep(interval)


async def take_over_calls(flow: AmiCallFlow, redis_client: aioredis.Redis) -> None:
    """Adopt the live calls a stopped listener handed over; the first login's resynchronization ends the gone ones."""
    try:
        snapshot = await redis_state.take_listener_calls(redis_client)
    except Exception:
        log.exception("cannot read the previous listener's calls; calls live across the restart go unlogged")
        return
    if snapshot:
        log.info("took over %d live call(s) from the previous listener", flow.restore(snapshot))


async def hand_over_calls(flow: AmiCallFlow, service: CallFlowService, redis_client: aioredis.Redis,
                          timeout: float = 5.0) -> None:
    """On shutdown: finish the queued effects and hand-offs, then leave the live calls to the next listener."""
    left = await service.shutdown(timeout=timeout)
    snapshot = flow.snapshot()
    try:
        await redis_state.save_listener_calls(redis_client, snapshot)
    except Exception:
        log.exception("cannot hand over %d live call(s); they go unlogged", len(snapshot["calls"]))
        return
    log.info("handed over %d live call(s) to the next listener (%d hand-off(s) undelivered)",
             len(snapshot["calls"]), left)
