"""What the active listener keeps in Redis for its successor (``asterisk.live_calls``), read back as a snapshot."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from asterisk.events import AmiCallFlow
from asterisk.live_calls import LiveCalls, load_live_calls
from callercard import redis_state
from callercard.calls.outbox import TaskOutbox
from callercard.calls.state import Call, CallTracker, call_to_json
from callercard.lease import Lease
from callercard.ports import RECORD_CALL
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


class Handing:
    """What ``LiveCalls`` reads of the call flow service: its outbox (a real one) and its finishing calls."""

    def __init__(self) -> None:
        self.taking = False
        self.outbox = TaskOutbox(self._send, retry_initial=0.01, retry_max=0.01)
        self.finishing_calls: list[Call] = []

    async def _send(self, items: list[Any]) -> int:
        return len(items) if self.taking else 0  # the broker is down until the test says otherwise

    def finishing(self) -> list[Call]:
        return list(self.finishing_calls)


async def test_waiting_records_and_finishing_calls_are_kept_once_each_and_deleted_when_gone(
        settings: Settings) -> None:
    """Under overload thousands of records wait for the broker: each is written to Redis once, not again with
    every save before every popup, and its field goes when the broker took it."""
    pbx = f"kept-{uuid.uuid4().hex[:6]}"
    key = redis_state.live_calls_key(pbx)
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    lease = Lease(client, pbx=pbx, holder="kept-a", seconds=5, redis_url=settings.redis_url)
    service = Handing()
    flow = ringing_flow()
    live = LiveCalls(client=client, lease=lease, flow=flow, service=service)  # type: ignore[arg-type]
    finished = Call(call_id="1.7", number="84957654321", direction="inbound",
                    entered_at=datetime(2026, 12, 2, 9, tzinfo=UTC), ended_at=datetime(2026, 12, 2, 9, 1, tzinfo=UTC))
    try:
        assert await lease.try_acquire()
        for n in range(3):
            service.outbox.put(RECORD_CALL, [{"call_id": f"0.{n}"}], {})
        service.finishing_calls.append(finished)
        await live.save()
        fields = await client.hgetall(key)
        assert sorted(fields) == ["call:1.1", "caller_channels", "fin:1.7", "meta", "rec:1", "rec:2", "rec:3"]
        assert json.loads(fields["meta"]) == {"v": 3, "token": lease.token, "saved_at": json.loads(fields["meta"])[
            "saved_at"]}
        snapshot = await load_live_calls(client, pbx)
        assert snapshot is not None
        assert snapshot["records"] == [{"call_id": "0.0"}, {"call_id": "0.1"}, {"call_id": "0.2"}]
        assert snapshot["finishing"] == [call_to_json(finished)]

        # A later save writes only what is new: a field already kept is not written again.
        await client.hset(key, "rec:1", json.dumps({"call_id": "0.0", "kept": "once"}))
        service.outbox.put(RECORD_CALL, [{"call_id": "0.3"}], {})
        await live.save()
        assert json.loads(await client.hget(key, "rec:1") or "{}") == {"call_id": "0.0", "kept": "once"}
        assert json.loads(await client.hget(key, "rec:4") or "{}") == {"call_id": "0.3"}

        # The broker takes them and the call's record left the service: their fields go in the next save.
        service.taking = True
        sending = asyncio.create_task(service.outbox.run())
        try:
            for _ in range(200):
                if not service.outbox.pending:
                    break
                await asyncio.sleep(0.01)
        finally:
            sending.cancel()
        assert service.outbox.pending == 0
        service.finishing_calls.clear()
        await live.save()
        assert sorted(await client.hgetall(key)) == ["call:1.1", "caller_channels", "meta"]
        snapshot = await load_live_calls(client, pbx)
        assert snapshot is not None and (snapshot["records"], snapshot["finishing"]) == ([], [])
    finally:
        await client.delete(key)
        await lease.release()
        await client.aclose()


async def test_records_a_listener_kept_in_its_meta_field_are_still_taken_over(settings: Settings) -> None:
    """A rolling upgrade from the hash whose ``meta`` field held every waiting record and finishing call."""
    pbx = f"v2-{uuid.uuid4().hex[:6]}"
    key = redis_state.live_calls_key(pbx)
    finished = Call(call_id="1.8", number="84957654321", direction="inbound",
                    entered_at=datetime(2026, 12, 2, 9, tzinfo=UTC), ended_at=datetime(2026, 12, 2, 9, 1, tzinfo=UTC))
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        await client.hset(key, mapping={"caller_channels": "[]", "meta": json.dumps(
            {"v": 2, "records": [{"call_id": "0.5"}], "finishing": [call_to_json(finished)], "token": "4:old",
             "saved_at": 1764633600.0})})
        snapshot = await load_live_calls(client, pbx)
        assert snapshot is not None
        assert (snapshot["records"], snapshot["finishing"], snapshot["token"]) == \
            ([{"call_id": "0.5"}], [call_to_json(finished)], "4:old")
    finally:
        await client.delete(key)
        await client.aclose()
