"""Webhooks' pure parts: the signature receivers check, the backoff, ids that make a repeated event one delivery."""

from __future__ import annotations

import hashlib
import hmac

from callercard.webhooks.delivery import RetryPolicy
from callercard.webhooks.events import delivery_id, event_id
from callercard.webhooks.signing import signature, verify


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"type":"call.ended"}'
    expected = hmac.new(b"whsec_0123456789abcdef", b"1767225600." + body, hashlib.sha256).hexdigest()
    assert signature(secret="whsec_0123456789abcdef", timestamp=1767225600, body=body) == f"sha256={expected}"
    assert verify(secret="whsec_0123456789abcdef", timestamp=1767225600, body=body, presented=f"sha256={expected}")
    assert not verify(secret="whsec_0123456789abcdef", timestamp=1767225601, body=body,
                      presented=f"sha256={expected}"), "a replay with another timestamp does not verify"


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_seconds=10, max_seconds=300)
    assert [policy.backoff(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]


def test_the_same_event_to_the_same_endpoint_is_the_same_delivery() -> None:
    assert event_id("call.ended/1712.1") == event_id("call.ended/1712.1") != event_id("call.ended/1712.2")
    assert delivery_id("evt_a", "wh_1") == delivery_id("evt_a", "wh_1") != delivery_id("evt_a", "wh_2")
