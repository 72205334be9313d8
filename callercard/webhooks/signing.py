"""The signature on every delivery. Pure.

``X-Callercard-Signature: sha256=<hex>`` is HMAC-SHA256 with the endpoint's secret over
``"<X-Callercard-Timestamp>.<body>"``: a receiver recomputes it over the raw body it got, compares in
constant time, and refuses timestamps older than a few minutes (a replayed delivery).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Callercard-Signature"
TIMESTAMP_HEADER = "X-Callercard-Timestamp"
DELIVERY_HEADER = "X-Callercard-Delivery"
EVENT_HEADER = "X-Callercard-Event"


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def headers(*, secret: str, timestamp: int, body: bytes, delivery_id: str, event: str) -> dict[str, str]:
    """Every header of one attempt."""
    return {"Content-Type": "application/json", "User-Agent": "callercard-webhooks/1",
            EVENT_HEADER: event, DELIVERY_HEADER: delivery_id, TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret=secret, timestamp=timestamp, body=body)}


def verify(*, secret: str, timestamp: int, body: bytes, presented: str) -> bool:
    """What a receiver does (and the tests' receiver checks independently)."""
    return hmac.compare_digest(signature(secret=secret, timestamp=timestamp, body=body), presented)
