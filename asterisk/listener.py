"""The listener's AMI side: events in, through the state machine, effects out.

Order matters and the AMI loop must never block: each event goes through the
synchronous state machine at once (``AmiCallFlow.handle``), and its effects go to
``CallFlowService``, which does each call's I/O in order (different calls side by side).
The process is put together in ``asterisk/main.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from panoramisk import Manager

from asterisk.events import AmiCallFlow
from callercard import metrics
from callercard.agents.store import DeviceMap
from callercard.calls.flow_service import CallFlowService
from callercard.lines.board_publisher import BoardPublisher
from callercard.pbxs import DEFAULT_PBX
from callercard.wallboard.publisher import WallboardPublisher

log = logging.getLogger(__name__)


class AmiEvents:
    """AMI in: each event through the synchronous state machine at once, its effects queued in order."""

    def __init__(self, *, flow: AmiCallFlow, service: CallFlowService, lines: BoardPublisher,
                 wallboard: WallboardPublisher, changed: Callable[[], int] = lambda: 0,
                 pbx: str = DEFAULT_PBX) -> None:
        """``changed`` is told of every event (no I/O): the live calls kept in Redis are saved soon after."""
        self.flow = flow
        self.service = service
        self.lines = lines
        self.wallboard = wallboard
        self._changed = changed
        self._counted = metrics.AMI_EVENTS.labels(pbx)

    def on_event(self, event: Mapping[str, str]) -> None:
        self._counted.inc()
        effects = self.flow.handle(event)
        effects.state_seq = self._changed()
        self.service.submit(effects)
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
