"""The active listener's live calls, kept in Redis as it goes, so a standby can take over after any death.

A SIGTERMed listener hands over at its end; a SIGKILLed one cannot. So the active listener writes its call flow's
snapshot (the calls, their channels, what was looked up) and the call records not yet taken by the broker to
the hash ``callercard:pbx:<pbx>:calls`` (a field per call; a save writes the calls events touched since the last
one): within ``EVERY`` seconds of any event, before a popup is shown, and before a record is handed to the
worker (the outbox's gate). Whatever moment the listener dies, each finished call is in the snapshot either
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
from asterisk.flow_resync import snapshot_of
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
# The hash's fields: one per call, one per call record the broker has not taken (``rec:<outbox number>``), one
# per finished call whose record is not in the outbox yet, the flow's caller channels, and the token and time.
# Each is written once and deleted when it is gone: under overload thousands of records wait, and writing them
# all again before every popup made each save slower than the last (the listener then only saved).
_CALL, _RECORD, _FINISHING, _CALLER_CHANNELS, _META = "call:", "rec:", "fin:", "caller_channels", "meta"


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
        # Saved incrementally: a hash with a field per call, written when an event touched it (issue 20: a full
        # snapshot before every popup was the listener's largest cost). The first save writes everything anew.
        flow.keep_changes()
        self._unsaved: set[str] = set()  # calls touched and not yet written
        self._rewrite = True
        self._caller_channels_saved: set[str] | None = None
        self._saving: asyncio.Task[int] | None = None  # the save popups wait for
        self._fields_saved: set[str] = set()  # the rec: and fin: fields the hash holds
        # ... and those a failed save may have written too (its reply lost): deleted once gone, like the others
        self._fields_maybe: set[str] = set()

    def changed(self) -> int:
        """An event went through the flow (no I/O: the next save picks it up); returns its number."""
        self.dirty = True
        self.changes += 1
        return self.changes

    async def saved_through(self, change: int) -> None:
        """Return once a save covers event number ``change``: a popup is shown only after the call it belongs to
        is kept, so a successor knows every popup there is to close. Saves coalesce.

        The save runs as its own task: a popup that stops waiting (it waits half a second) does not cancel it.
        Cancelled saves wrote nothing, so the next one had more to write and was cancelled in turn: under
        overload the listener then did nothing but start saves."""
        while self._saved_through < change:
            if self._saving is None or self._saving.done():
                self._saving = asyncio.create_task(self.save())
                self._saving.add_done_callback(_retrieved)
            await asyncio.shield(self._saving)

    async def save(self) -> int:
        """Write what changed now (fenced); returns how many outbox hand-offs it covers. Raises ``LeaseLost``."""
        async with self._lock:
            return await self._save_locked()

    async def _save_locked(self) -> int:
        covered, through = self._service.outbox.puts, self.changes
        self.dirty = False
        self._unsaved |= self._flow.take_touched()
        rewrite, ids = self._rewrite, self._flow.call_ids() if self._rewrite else self._unsaved
        self._unsaved, self._rewrite = set(), False
        caller_channels = set(self._flow.caller_channels())
        records = {f"{_RECORD}{number}": args[0] for number, name, args, _ in self._service.outbox.waiting()
                   if name == RECORD_CALL}
        finishing = {f"{_FINISHING}{call.call_id}": call for call in self._service.finishing()}
        try:
            await self._lease.fenced(self._commands(ids, rewrite=rewrite, caller_channels=caller_channels,
                                                    records=records, finishing=finishing), keys=[self._key])
        except BaseException:
            self._unsaved |= ids
            self._rewrite |= rewrite
            self._fields_maybe = self._fields_maybe | records.keys() | finishing.keys()
            self.dirty = True
            raise
        self._caller_channels_saved = caller_channels
        self._fields_saved = records.keys() | finishing.keys()
        self._fields_maybe = set(self._fields_saved)
        self.saves += 1
        self._saved_through = through
        return covered

    def _commands(self, ids: set[str], *, rewrite: bool, caller_channels: set[str], records: dict[str, Any],
                  finishing: dict[str, Call]) -> list[list[str | int]]:
        written: list[str | int] = ["HSET", self._key]
        gone: list[str | int] = ["HDEL", self._key]
        for call_id in ids:
            part = self._flow.snapshot_part(call_id)
            if part is not None:
                written += [_CALL + call_id, json.dumps(part, separators=(",", ":"))]
            elif not rewrite:
                gone.append(_CALL + call_id)
        if rewrite or caller_channels != self._caller_channels_saved:
            written += [_CALLER_CHANNELS, json.dumps(sorted(caller_channels))]
        saved, maybe = (set(), set()) if rewrite else (self._fields_saved, self._fields_maybe)
        for field in records.keys() - saved:
            written += [field, json.dumps(records[field], separators=(",", ":"))]
        for field in finishing.keys() - saved:
            written += [field, json.dumps(call_to_json(finishing[field]), separators=(",", ":"))]
        gone += sorted(maybe - records.keys() - finishing.keys())
        written += [_META, json.dumps({"v": 3, "token": self._lease.token, "saved_at": time.time()})]
        commands: list[list[str | int]] = [["DEL", self._key]] if rewrite else []
        if len(gone) > 2:
            commands.append(gone)
        return [*commands, written, ["EXPIRE", self._key, KEPT_SECONDS]]

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
            snapshot = await load_live_calls(self._client, self._lease.pbx)
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


async def load_live_calls(client: aioredis.Redis, pbx: str) -> dict[str, Any] | None:
    """The live calls the PBX's last active listener kept, as one snapshot (``AmiCallFlow.restore`` reads it)
    with its records, finishing calls, token and time; a listener before issue 20 kept it as one JSON string."""
    key = redis_state.live_calls_key(pbx)
    kind = await client.type(key)
    if kind == "string":
        raw = await client.get(key)
        return json.loads(raw) if raw else None
    if kind != "hash":
        return None
    fields = {_text(name): _text(value) for name, value in (await client.hgetall(key)).items()}
    parts = [json.loads(value) for name, value in fields.items() if name.startswith(_CALL)]
    snapshot = snapshot_of(parts, caller_channels=json.loads(fields.get(_CALLER_CHANNELS, "[]")))
    meta = json.loads(fields.get(_META, "{}"))  # before v3 it held the records and finishing calls as lists
    records = sorted((int(name.removeprefix(_RECORD)), value) for name, value in fields.items()
                     if name.startswith(_RECORD))
    finishing = [json.loads(value) for name, value in fields.items() if name.startswith(_FINISHING)]
    return {**snapshot, "records": meta.get("records", []) + [json.loads(value) for _, value in records],
            "finishing": meta.get("finishing", []) + finishing,
            "token": meta.get("token"), "saved_at": meta.get("saved_at", time.time())}


def _retrieved(task: asyncio.Task[int]) -> None:
    """A save's failure is its waiters' to handle; with none left waiting it is not an "unretrieved" error."""
    if not task.cancelled():
        task.exception()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
                                  channel=leg.channel if event is CardEvent.RINGING else None, leg_id=leg.leg_id,
                                  direction=call.direction))
    return notices
