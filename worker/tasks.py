"""Celery tasks: thin, idempotent wrappers around the async domain services, under the names the domain hands
them off by (``callercard.ports``)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError

from callercard import phone, redis_state
from callercard.calls import store as calls_store
from callercard.ports import LOOKUP_CALLER, RECORD_CALL
from worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)
# Only errors that a later attempt can cure are retried.
RETRYABLE = (AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError)


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
        """Store a finished call's log record; idempotent by call id, retried until the store takes it."""

        async def work(rt: WorkerRuntime) -> None:
            await calls_store.save(rt.db, record)
            # The card's call history changed: API processes forget what they remember of this number.
            e164 = record["caller"].get("e164")
            await redis_state.announce_changed_numbers(rt.redis, [e164] if e164 else [])

        runtime.run(work)
        log.info("call %s: logged as %s (task %s)", record["call_id"], record["outcome"], self.request.id)
        return str(record["call_id"])
