"""The active listener's live calls, kept in Redis as it goes, so a standby can take over after any death.

A SIGTERMed listener hands over at its end; a SIGKILLed one cannot. So the active listener writes its call flow's
snapshot (the calls, their channels, what was looked up) and the call records not yet taken by the broker to
``callercard:pbx:<pbx>:calls``: within ``EVERY`` seconds of any event, and always before a record is handed to
the worker (the outbox's gate). Whatever moment the listener dies, each finished call is in the snapshot either
as live (its successor ends it from ``CoreShowChannels``) or as a record to send (again: ``record_call`` is
idempotent by call id). Every write is fenced by the lease: an ex-leader overwrites nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from asterisk.events import AmiCallFlow
from callercard import redis_state
from callercard.calls.flow_service import CallFlowService
from callercard.calls.state import Call, CardEvent, Effects, LegState, Notice, call_from_json, call_to_json
from callercard.lease import Lease, LeaseLost
from callercard.ports import RECORD_CALL

log = logging.getLogger(__name__)
EVERY = 0.5  # seconds: how far behind the events the kept state may be
KEPT_SECONDS = 6 * 3600  # a PBX with no active listener this long: its calls are gone from the PBX too
# A successor shows again the legs that changed this recently (well within Centrifugo's idempotency window).
REPLAYED_WITHIN = timedelta(seconds=120)


class LiveCalls:
    def __init__(self, *, client: aioredis.Redis, lease: Lease, flow: AmiCallFlow, service: CallFlowService) -> None:
        self._client = client
        self._lease = lease
        self._flow = flow
        self._service = service
        self._key = redis_state.live_calls_key(lease.pbx)
        self._lock = asyncio.Lock()
        self.dirty = False
        self.saves = 0
        self.changes = 0  # events that went through the flow
        self._saved_through = 0  # of them, how many the latest save covers

    def changed(self) -> int:
        """An event went through the flow (no I/O: the next save picks it up); returns its number."""
        self.dirty = True
        self.changes += 1
        return self.changes

    async def saved_through(self, change: int) -> None:
        """Return once a save covers event number ``change``: a popup is shown only after the call it belongs to
        is kept, so a successor knows every popup there is to close. Saves coalesce."""
        if self._saved_through >= change:
            return
        async with self._lock:
            if self._saved_through < change:
                await self._save_locked()

    def snapshot(self) -> dict[str, Any]:
        waiting = [args[0] for name, args, _ in self._service.outbox.waiting() if name == RECORD_CALL]
        return {**self._flow.snapshot(), "records": waiting,
                "finishing": [call_to_json(call) for call in self._service.finishing()],
                "token": self._lease.token, "saved_at": time.time()}

    async def save(self) -> int:
        """Write the snapshot now (fenced); returns how many outbox hand-offs it covers. Raises ``LeaseLost``."""
        async with self._lock:
            return await self._save_locked()

    async def _save_locked(self) -> int:
        covered, through = self._service.outbox.puts, self.changes
        self.dirty = False
        data = json.dumps(self.snapshot())
        await self._lease.fenced([["SET", self._key, data, "EX", KEPT_SECONDS]], keys=[self._key])
        self.saves += 1
        self._saved_through = through
        return covered

    async def run(self) -> None:
        """Save within ``EVERY`` s of a change, until the lease is lost."""
        while True:
            await asyncio.sleep(EVERY)
            if not self.dirty:
                continue
            try:
                await self.save()
            except LeaseLost:
                return
            except (RedisError, OSError) as error:
                self.dirty = True
                log.warning("live calls not saved (%s: %s); retrying", type(error).__name__, error)

    async def take_over(self) -> None:
        """Adopt what the previous active listener kept: its live calls (the first login's resynchronization
        ends the gone ones), their card lookups again, and the records it had not handed to the broker."""
        try:
            snapshot = await redis_state.load_live_calls(self._client, self._lease.pbx)
        except (RedisError, OSError):
            log.exception("cannot read the previous listener's calls; calls live across the takeover go unlogged")
            return
        if not snapshot:
            return
        taken = self._flow.restore(snapshot)
        records = snapshot.get("records", [])
        for record in records:
            self._service.outbox.put(RECORD_CALL, [record], {})
        lookups = [(call.number, call_id) for call_id, call in self._flow.tracker.calls.items()
                   if call.number and call.direction == "inbound"]
        # What the predecessor may have decided and not yet shown when it died: each recent leg's state again.
        # Card events' keys are the PBX's ids, so what it did show is dropped by Centrifugo as a duplicate.
        recent = datetime.now(UTC) - REPLAYED_WITHIN
        notices = [n for call in self._flow.tracker.calls.values() for n in leg_states(call, since=recent)]
        finished = [call_from_json(data) for data in snapshot.get("finishing", [])]
        notices += [n for call in finished for n in leg_states(call, since=None)]
        self._service.submit(Effects(lookups=lookups, notices=notices, finished=finished))
        log.info("took over %d live call(s) from the previous listener (fencing token %s, saved %.1f s ago) and "
                 "%d call record(s) it had not handed over", taken, snapshot.get("token"),
                 time.time() - float(snapshot.get("saved_at", time.time())), len(records))
        self.dirty = True


def leg_states(call: Call, *, since: datetime | None) -> list[Notice]:
    """Each leg's current card event (ringing, answered, or its closing one), for legs that changed ``since``;
    a finished call's legs all close (``since`` None)."""
    notices = []
    for leg in (call.legs[key] for key in call.leg_order):
        if leg.state is LegState.RINGING or (call.ended_at is not None and leg.answered_at is None):
            event, at, reason = ((CardEvent.RINGING, leg.rung_at, None) if leg.state is LegState.RINGING
                                 and call.ended_at is None else (CardEvent.DISMISSED, leg.ended_at or leg.rung_at,
                                                                 leg.result or "caller_hung_up"))
        elif leg.state is LegState.ANSWERED and call.ended_at is None:
            event, at, reason = CardEvent.ANSWERED, leg.answered_at or leg.rung_at, None
        elif leg.answered_at is not None:
            event, at = CardEvent.ENDED, leg.ended_at or call.ended_at or leg.answered_at
            reason = "transferred" if leg.result == "transferred" else "hangup"
        else:
            event, at, reason = CardEvent.DISMISSED, leg.ended_at or leg.rung_at, leg.result
        if since is None or at >= since:
            notices.append(Notice(leg.agent_id, event, call.call_id, leg.queue, at, reason,
                                  channel=leg.channel if event is CardEvent.RINGING else None, leg_id=leg.leg_id))
    return notices
