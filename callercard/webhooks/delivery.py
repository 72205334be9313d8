"""Sending an endpoint's deliveries: in the order the events happened, each retried with exponential backoff.

One endpoint is sent by one worker at a time (the worker's task holds a lock per endpoint). Its
oldest undelivered delivery goes first; while it is failing, later ones wait, so a receiver sees
events in order; after ``max_attempts`` it is marked failed and the next goes. Every attempt of a
delivery carries the same delivery id and body, so a receiver that answered too late for us (and
gets it again) can drop the repeat. The HTTP part is the ``WebhookTransport`` port.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from callercard.mongo import Database
from callercard.ports import DeliveryFailed, WebhookTransport
from callercard.webhooks import signing, store
from callercard.webhooks.schemas import DeliveryStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: base, 2 x base, 4 x base, ... at most ``max_seconds``."""
        return float(min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1)))


async def drain(*, db: Database, transport: WebhookTransport, endpoint_id: str, policy: RetryPolicy,
                budget_seconds: float = 30.0,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Send the endpoint's due deliveries in order for up to ``budget_seconds``. Returns the seconds until it should
    be drained again (a delivery waits for its retry, or the budget ran out), ``None`` when nothing is left."""
    started = time.monotonic()
    while True:
        endpoint = await store.get_endpoint(db, endpoint_id)
        delivery = await store.head(db, endpoint_id) if endpoint and endpoint["enabled"] else None
        if endpoint is None or delivery is None:
            return None
        now = clock()
        due = delivery.get("next_attempt_at")
        if due is not None and due > now:
            return float((due - now).total_seconds())
        if time.monotonic() - started > budget_seconds:
            return 0.0
        await _attempt(db=db, transport=transport, endpoint=endpoint, delivery=delivery, policy=policy, now=now)
        refreshed = await store.get_delivery(db, delivery["_id"])
        if refreshed is not None and refreshed["status"] == DeliveryStatus.RETRYING.value:
            return policy.backoff(refreshed["attempts"])


async def _attempt(*, db: Database, transport: WebhookTransport, endpoint: dict[str, object],
                   delivery: dict[str, object], policy: RetryPolicy, now: datetime) -> None:
    body = str(delivery["body"]).encode()
    headers = signing.headers(secret=str(endpoint["secret"]), timestamp=int(now.timestamp()), body=body,
                              delivery_id=str(delivery["_id"]), event=str(delivery["event"]))
    attempts = int(str(delivery["attempts"])) + 1
    status: int | None = None
    try:
        status = await transport.post(url=str(endpoint["url"]), body=body, headers=headers)
        error = None if 200 <= status < 300 else f"HTTP {status}"
    except DeliveryFailed as failure:
        error = str(failure)[:500]
    fields: dict[str, object] = {"attempts": attempts, "last_status": status, "last_attempt_at": now}
    if error is None:
        fields |= {"status": DeliveryStatus.DELIVERED.value, "delivered_at": now, "next_attempt_at": None}
        log.info("webhook %s (%s) delivered to %s in %d attempt(s)", delivery["_id"], delivery["event"],
                 endpoint["_id"], attempts)
    elif attempts >= policy.max_attempts:
        fields |= {"status": DeliveryStatus.FAILED.value, "last_error": error, "next_attempt_at": None}
        log.error("webhook %s (%s) to %s failed after %d attempts: %s", delivery["_id"], delivery["event"],
                  endpoint["_id"], attempts, error)
    else:
        fields |= {"status": DeliveryStatus.RETRYING.value, "last_error": error,
                   "next_attempt_at": now + timedelta(seconds=policy.backoff(attempts))}
        log.warning("webhook %s (%s) to %s: attempt %d failed (%s); retrying in %.0f s", delivery["_id"],
                    delivery["event"], endpoint["_id"], attempts, error, policy.backoff(attempts))
    await store.update_delivery(db, str(delivery["_id"]), fields)
