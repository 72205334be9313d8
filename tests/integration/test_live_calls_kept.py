"""What the active listener keeps in Redis for its successor (``asterisk.live_calls``), read back as a snapshot."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import redis.asyncio as aioredis

from asterisk.events import AmiCallFlow
from asterisk.live_calls import load_live_calls
from callercard import redis_state
from callercard.calls.state import CallTracker
from callercard.settings import Settings


def ringing_flow() -> AmiCallFlow:
    flow = AmiCallFlow(tracker=CallTracker(), agent_for_device={"PJSIP/201": "anna"}.get,
                       inbound_contexts=["incoming"], clock=lambda: datetime(2026, 12, 2, tzinfo=UTC))
    flow.handle({"Event": "Newchannel", "Linkedid": "1.1", "Uniqueid": "1.1", "Context": "incoming",
                 "Channel": "PJSIP/trunk-00000001", "CallerIDNum": "84951234567"})
    flow.handle({"Event": "DialBegin", "Linkedid": "1.1", "Uniqueid": "1.1", "Channel": "PJSIP/trunk-00000001",
                 "DestUniqueid": "1.2", "DestChannel": "PJSIP/201-00000002", "CallerIDNum": "84951234567"})
    return flow


async def test_what_a_listener_before_the_hash_kept_is_still_taken_over(settings: Settings) -> None:
    """A rolling upgrade: the predecessor wrote one JSON string; its successor reads it as before."""
    pbx = f"old-{uuid.uuid4().hex[:6]}"
    kept = {**ringing_flow().snapshot(), "records": [{"call_id": "0.9"}], "finishing": [], "token": "3:old",
            "saved_at": 1764633600.0}
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        await client.set(redis_state.live_calls_key(pbx), json.dumps(kept))
        snapshot = await load_live_calls(client, pbx)
        assert snapshot == kept
        successor = AmiCallFlow(tracker=CallTracker(), agent_for_device={"PJSIP/201": "anna"}.get,
                                inbound_contexts=["incoming"])
        assert successor.restore(snapshot) == 1
        [leg] = successor.tracker.calls["1.1"].legs.values()
        assert (leg.agent_id, leg.state.value, successor.tracker.calls["1.1"].number) == \
            ("anna", "ringing", "84951234567")
        await client.delete(redis_state.live_calls_key(pbx))
        assert await load_live_calls(client, pbx) is None
    finally:
        await client.aclose()
