"""Outgoing events for other systems: each becomes one delivery per endpoint subscribed to its kind.

``emit`` numbers the event (its ``sequence``: the order events happened in), stores one delivery
per subscribed endpoint (idempotent: the same event key is the same delivery id, however often it
is emitted) and hands the endpoints to the worker to send (``DELIVER_WEBHOOKS``). The listener uses
``submit``: the events wait in order in memory and ``run`` emits them, so neither a popup nor the
AMI loop ever waits on a webhook. Nothing is sent from here: an endpoint that fails or hangs costs
the worker's time, never a popup's.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError

from callercard.mongo import Database
from callercard.ports import DELIVER_WEBHOOKS, WorkerQueue
from callercard.webhooks import store
from callercard.webhooks.schemas import DeliveryStatus, EventKind

log = logging.getLogger(__name__)
ENDPOINTS_MAX_AGE_SECONDS = 5.0  # a new or changed endpoint gets events within this long
_BACKLOG_LIMIT = 20_000  # events kept for endpoints while the store is down; then the oldest go (logged)


def event_id(key: str) -> str:
    return "evt_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def delivery_id(event: str, endpoint_id: str) -> str:
    return "dlv_" + hashlib.sha256(f"{event}/{endpoint_id}".encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    data: dict[str, Any]
    key: str  # names the event: the same key is the same event
    occurred_at: datetime


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


class WebhookEmitter:
    def __init__(self, *, db: Database, queue: WorkerQueue, may_emit: Callable[[], bool] | None = None) -> None:
        """``may_emit``: the listener's lease (no I/O); once it says no, what is still queued is dropped, not
        stored: a listener that lost its PBX must not write for it."""
        self._db = db
        self._may_emit = may_emit
        self._queue = queue
        self._endpoints: list[dict[str, Any]] = []
        self._loaded_at = float("-inf")
        self._backlog: deque[Event] = deque()
        self._wake = asyncio.Event()
        self.emitted = 0

    def forget_endpoints(self) -> None:
        """An endpoint changed in this process: read them again on the next event."""
        self._loaded_at = float("-inf")

    async def _subscribed(self, kind: EventKind) -> list[dict[str, Any]]:
        if time.monotonic() - self._loaded_at > ENDPOINTS_MAX_AGE_SECONDS:
            try:
                await self._read_endpoints(store.endpoints(self._db))
            except PyMongoError as error:
                if self._loaded_at == float("-inf"):
                    raise  # never known: the events wait until they can be told apart
                self._not_read_again(error)
            self._loaded_at = time.monotonic()
        return self._wanting(kind)

    async def _read_endpoints(self, reading: Awaitable[list[dict[str, Any]]]) -> None:
        self._endpoints = [e for e in await reading if e.get("enabled")]
        self._loaded_at = time.monotonic()

    def _not_read_again(self, error: BaseException) -> None:
        log.warning("webhook endpoints not read again (%s); keeping the %d known", type(error).__name__,
                    len(self._endpoints))

    def _wanting(self, kind: EventKind) -> list[dict[str, Any]]:
        return [e for e in self._endpoints if kind.value in e.get("events", [])]

    def _nobody_wants(self, kind: EventKind) -> bool:
        """The endpoints last read (``keep_endpoints_fresh`` re-reads them every 5 s) do not want ``kind``: the event
        need not wait in memory. However old that list: when this process cannot read the store, it is the best it
        knows (an endpoint added meanwhile gets events from the next read on), and trusting it for 5 s only filled
        the backlog with events for nobody on an overloaded store (22,800 in one run at 100 calls/s).
        ``forget_endpoints`` makes events wait for a fresh read."""
        return self._loaded_at > float("-inf") and not self._wanting(kind)

    async def emit(self, kind: EventKind, data: dict[str, Any], *, key: str, occurred_at: datetime) -> int:
        """Queue ``data`` as event ``kind`` for every endpoint that wants it; returns the new deliveries.
        ``key`` names the event (the same key again is the same event: no second delivery)."""
        return await self.emit_many([Event(kind, data, key, occurred_at)])

    async def emit_many(self, events: list[Event]) -> int:
        """``emit`` for several events, numbered in the given order, in three store round trips whatever their
        number (the sequence numbers reserved at once, the deliveries inserted at once)."""
        wanted = [(event, await self._subscribed(event.kind)) for event in events]
        wanted = [(event, endpoints) for event, endpoints in wanted if endpoints]
        if not wanted:
            return 0
        last = await store.reserve_sequences(self._db, len(wanted))
        now = datetime.now(UTC)
        deliveries = []
        for sequence, (event, endpoints) in enumerate(wanted, start=last - len(wanted) + 1):
            named = event_id(f"{event.kind.value}/{event.key}")
            body = json.dumps({"id": named, "type": event.kind.value, "occurred_at": event.occurred_at.isoformat(),
                               "sequence": sequence, "data": event.data}, default=_json_default, ensure_ascii=False,
                              separators=(",", ":"))
            deliveries += [{"_id": delivery_id(named, endpoint["_id"]), "endpoint_id": endpoint["_id"],
                            "event_id": named, "event": event.kind.value, "sequence": sequence, "body": body,
                            "status": DeliveryStatus.PENDING.value, "attempts": 0, "last_status": None,
                            "last_error": None, "created_at": now, "next_attempt_at": now, "delivered_at": None}
                           for endpoint in endpoints]
        added = await store.add_deliveries(self._db, deliveries)
        for endpoint_id in sorted({d["endpoint_id"] for d in deliveries if d["_id"] in added}):
            try:
                await self._queue.send(DELIVER_WEBHOOKS, [endpoint_id], {})
            except Exception as error:  # noqa: BLE001  # whatever stops the hand-off, the sweep sends it later
                log.warning("webhook deliveries for %s stored, not handed to the worker (%s); the sweep will",
                            endpoint_id, error)
        self.emitted += len(wanted)
        return len(added)

    def submit(self, kind: EventKind, data: dict[str, Any], *, key: str, occurred_at: datetime) -> None:
        """``emit`` later, in order, from ``run``; never blocks, never raises."""
        if self._nobody_wants(kind):
            return
        if len(self._backlog) >= _BACKLOG_LIMIT:
            dropped = self._backlog.popleft()
            log.error("webhook backlog full (store down?): dropping the oldest event, %s %s", dropped.kind.value,
                      dropped.key)
        self._backlog.append(Event(kind, data, key, occurred_at))
        self._wake.set()

    async def keep_endpoints_fresh(self, *, every: float = ENDPOINTS_MAX_AGE_SECONDS) -> None:
        """Re-read the endpoints every ``every`` s whether events come or not (``run`` may wait on the store)."""
        while True:
            await asyncio.sleep(every)
            try:
                await self._read_endpoints(asyncio.wait_for(store.endpoints(self._db), every))
            except (PyMongoError, TimeoutError) as error:
                self._not_read_again(error)

    async def run(self, *, retry_max: float = 5.0, batch: int = 200) -> None:
        """Emit submitted events in order, as many at once as are waiting (at most ``batch``); while the store
        fails, retry them."""
        delay = 0.25
        while True:
            if not self._backlog:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._may_emit is not None and not self._may_emit():
                log.error("no longer the active listener: %d webhook event(s) not stored", len(self._backlog))
                self._backlog.clear()
                continue
            taken = list(itertools.islice(self._backlog, batch))
            try:
                await self.emit_many(taken)
            except PyMongoError as error:
                log.warning("%d webhook event(s) not stored yet (%s); retrying", len(taken), type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, retry_max)
                continue
            except Exception:
                log.exception("%d webhook event(s) dropped", len(taken))
            delay = 0.25
            for item in taken:  # unless ``submit`` dropped them meanwhile
                if self._backlog and self._backlog[0] is item:
                    self._backlog.popleft()

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    async def flush(self, *, timeout: float) -> int:
        """Wait (while ``run`` runs) until the submitted events are stored, at most ``timeout`` s; returns how many
        were not (a stopping process loses them: logged)."""
        deadline = time.monotonic() + timeout
        while self._backlog and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if self._backlog:
            log.error("stopping with %d webhook event(s) not stored", len(self._backlog))
        return len(self._backlog)


async def sweep_forever(*, db: Database, queue: WorkerQueue, every_seconds: float = 30.0) -> None:
    """Hand the worker every endpoint whose deliveries are overdue (a hand-off lost with the broker down, a worker
    killed mid-way): deliveries stored are sent in the end, whatever happened to their task."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            overdue = await store.endpoints_due(db, before=datetime.fromtimestamp(time.time() - every_seconds, UTC))
            for endpoint_id in overdue:
                await queue.send(DELIVER_WEBHOOKS, [endpoint_id], {"force": True})
        except Exception as error:  # noqa: BLE001  # the next sweep tries again
            log.warning("webhook sweep failed (%s: %s)", type(error).__name__, error)
