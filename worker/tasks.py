"""Celery tasks: thin, idempotent wrappers around the async domain services, under the names the domain hands
them off by (``callercard.ports``)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from celery import Celery
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
from redis.exceptions import LockError

from callercard import metrics, phone, redis_state
from callercard.callbacks import services as callbacks
from callercard.calls import store as calls_store
from callercard.ports import DELIVER_WEBHOOKS, LOOKUP_CALLER, RECORD_CALL, RECORD_CALLS
from callercard.webhooks import delivery
from callercard.webhooks.schemas import EventKind
from worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)
# Only errors that a later attempt can cure are retried.
RETRYABLE = (AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError)
# One worker at a time sends an endpoint's deliveries (in order); the lock outlives one drain's 30 s budget.
DRAIN_LOCK_SECONDS = 60
BUSY_RETRY_SECONDS = 1.0


def _next_key(endpoint_id: str) -> str:
    return f"callercard:webhooks:next:{endpoint_id}"


async def _scheduled_later(client: aioredis.Redis, endpoint_id: str) -> bool:
    """A run of this endpoint is scheduled for later: until then nothing can be sent (the oldest delivery waits)."""
    scheduled = await client.get(_next_key(endpoint_id))
    return scheduled is not None and float(scheduled) > time.time()


async def _next_drain(client: aioredis.Redis, endpoint_id: str, due: float | None) -> float | None:
    """Seconds until this run's retry should drain the endpoint again; ``None`` when nothing waits, or when another
    run is already scheduled for then (Celery may hold a countdown task twice: a message held past the broker's
    visibility timeout is handed out again). The next run's time is kept in Redis."""
    if due is None:
        return None
    key, at = _next_key(endpoint_id), time.time() + due
    scheduled = await client.get(key)
    if scheduled is not None and time.time() < float(scheduled) <= at + 1.0:
        return None
    await client.set(key, f"{at:.3f}", ex=int(due) + 120)
    return due


def register_tasks(app: Celery, runtime: WorkerRuntime) -> None:
    @app.task(name=LOOKUP_CALLER, bind=True, acks_late=True, autoretry_for=RETRYABLE, max_retries=3,
              retry_backoff=True, retry_backoff_max=5)
    def lookup_caller(self: Any, number: str, call_id: str | None = None) -> dict[str, Any]:
        """Resolve and cache the card for ``number``; idempotent, safe to run twice for one call."""
        settings = runtime.settings
        try:
            parsed = phone.normalize(number, region=settings.default_region,
                                     default_area_code=settings.default_area_code)
        except phone.InvalidNumber as error:
            log.warning("call %s: cannot look up %r: %s", call_id, number, error)
            return {"error": str(error)}

        async def work(rt: WorkerRuntime) -> dict[str, Any]:
            card = await rt.lookup.resolve(parsed)
            return card.model_dump(mode="json")

        card = runtime.run(work)
        log.info("call %s: card for %s is %s (task %s)", call_id, parsed.key, card["kind"], self.request.id)
        return card

    # Retried every 10 s at most, so the log catches up within about that long after the store returns.
    @app.task(name=RECORD_CALL, bind=True, acks_late=True, autoretry_for=RETRYABLE, max_retries=None,
              retry_backoff=True, retry_backoff_max=10)
    def record_call(self: Any, record: dict[str, Any]) -> str:
        """Store a finished call's log record; idempotent by call id, retried until the store takes it. Then the
        callback worklist follows: an answered call closes its number's missed calls, a missed one joins it."""

        try:
            runtime.run(lambda rt: _log_calls(rt, [record]))
        except Exception:
            metrics.CALL_LOG_WRITE_FAILURES.labels("store").inc()
            raise
        log.info("call %s: logged as %s (task %s)", record["call_id"], record["outcome"], self.request.id)
        return str(record["call_id"])

    @app.task(name=RECORD_CALLS, bind=True, acks_late=True, autoretry_for=RETRYABLE, max_retries=None,
              retry_backoff=True, retry_backoff_max=10)
    def record_calls(self: Any, records: list[dict[str, Any]]) -> list[str]:
        """``record_call`` for several records at once (the listener's outbox batches them: one broker message);
        a retry does them all again, which is harmless: each is idempotent by call id, as ``record_call``'s."""
        try:
            runtime.run(lambda rt: _log_calls(rt, records))
        except Exception:
            metrics.CALL_LOG_WRITE_FAILURES.labels("store").inc()
            raise
        for record in records:
            log.info("call %s: logged as %s (task %s)", record["call_id"], record["outcome"], self.request.id)
        return [str(record["call_id"]) for record in records]

    @app.task(name=DELIVER_WEBHOOKS, bind=True, acks_late=True, autoretry_for=RETRYABLE, max_retries=None,
              retry_backoff=True, retry_backoff_max=30)
    def deliver_webhooks(self: Any, endpoint_id: str, force: bool = False) -> str:
        """Send the endpoint's due deliveries in order; retried (Celery countdown) when the next one waits for
        its backoff. Idempotent: a delivered delivery is never sent again, whoever runs this. While the endpoint
        waits for a scheduled retry, a new event's hand-off ends at once (one Redis read, no store query) unless
        ``force`` (an admin's retry, the sweep)."""
        settings = runtime.settings
        policy = delivery.RetryPolicy(max_attempts=settings.webhook_max_attempts,
                                      base_seconds=settings.webhook_retry_base_seconds,
                                      max_seconds=settings.webhook_retry_max_seconds)

        async def work(rt: WorkerRuntime) -> float | None:
            if not force and await _scheduled_later(rt.redis, endpoint_id):
                return None
            lock = rt.redis.lock(f"callercard:webhooks:drain:{endpoint_id}", timeout=DRAIN_LOCK_SECONDS,
                                 blocking=False)
            if not await lock.acquire():
                return BUSY_RETRY_SECONDS  # another worker is sending to it; look again once it may be done
            try:
                due = await delivery.drain(db=rt.db, transport=rt.webhook_transport, endpoint_id=endpoint_id,
                                           policy=policy)
                return await _next_drain(rt.redis, endpoint_id, due)
            finally:
                try:
                    await lock.release()
                except LockError:
                    log.warning("webhooks of %s: the drain outlived its lock", endpoint_id)

        countdown = runtime.run(work)
        if countdown is not None:
            raise self.retry(countdown=countdown, max_retries=None)
        return endpoint_id


async def _log_calls(rt: WorkerRuntime, records: list[dict[str, Any]]) -> None:
    # All stored first, then the worklist follows each in order: a missed call and a later answered one of the same
    # number in one batch close the missed one either way (``after_calls_logged`` looks both ways in time).
    await calls_store.save_many(rt.db, records)
    closed_by = await callbacks.after_calls_logged(db=rt.db, cent=rt.cent, lookup=rt.lookup, records=records,
                                                   region=rt.settings.default_region)
    for record, closed in zip(records, closed_by, strict=True):
        if closed:
            now, answered = datetime.now(UTC), closed[0]["callback"].get("answered_call") or record["call_id"]
            data = callbacks.done_event(e164=record["caller"]["e164"], calls=closed, via="answered_call",
                                        by="answered_call", at=now, answered_call=str(answered))
            await rt.webhooks.emit(EventKind.CALLBACK_DONE, data, key=f"answered_call/{record['call_id']}",
                                   occurred_at=now)
    # The cards' call history changed: API processes forget what they remember of these numbers.
    numbers = sorted({e164 for record in records if (e164 := record["caller"].get("e164"))})
    await redis_state.announce_changed_numbers(rt.redis, numbers)
