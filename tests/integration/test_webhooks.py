"""Webhooks through the real stack, to a real HTTPS receiver started by the test (TLS from the session's own CA):
a replayed recorded call arrives signed and in order; a receiver that fails twice gets the third attempt, later
events waiting their turn; a receiver too slow to answer gets the same delivery again (idempotent by delivery id).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest
from celery import Celery
from pymongo.asynchronous.database import AsyncDatabase

from amisim import load_capture
from callercard.mongo import WEBHOOK_DELIVERIES
from callercard.ports import DELIVER_WEBHOOKS
from callercard.settings import Settings
from callercard.webhooks import store as webhook_store
from callercard.webhooks.events import WebhookEmitter
from callercard.webhooks.schemas import EventKind
from tests.support.captures import capture_path
from tests.support.pbx import listening, recorded_calls
from tests.support.processes import Process
from tests.support.scenarios import DEMO_AGENTS
from tests.support.webhooks import Answer, Received, Receiver, ReceiverCA

EVERY_KIND = ["call.ringing", "call.answered", "call.missed", "call.ended", "callback.done", "dnc.changed"]


@pytest.fixture
async def receiving(webhook_ca: ReceiverCA) -> AsyncIterator[Callable[..., object]]:
    started: list[Receiver] = []

    async def start(answers: Callable[[int], Answer] = lambda _: (200, 0.0)) -> Receiver:
        receiver = await Receiver(webhook_ca, answers=answers).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.stop()


async def register(admin_api: httpx.AsyncClient, receiver: Receiver, events: list[str]) -> dict:
    response = await admin_api.post("/api/v1/webhooks", json={"url": receiver.url, "events": events,
                                                              "description": "the test's receiver"})
    assert response.status_code == 201, response.text
    return response.json()


def signed(request: Received, secret: str) -> bool:
    """The receiver's own check, written from the documented contract (not with callercard's code)."""
    stamp = request.headers["X-Callercard-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers["X-Callercard-Signature"]) and \
        abs(time.time() - int(stamp)) < 60


def expected_call_events(capture: str) -> list[tuple[str, str | None]]:
    """What the recorded PBX did, in order: each agent rung (AgentCalled) and answering (AgentConnect), then the
    call's end, read from the capture itself."""
    agents = {device: agent for agent, body in DEMO_AGENTS.items() for device in body["devices"]}
    found: list[tuple[str, str | None]] = []
    for entry in load_capture(capture_path(f"{capture}.jsonl")).entries:
        kind = {"AgentCalled": "call.ringing", "AgentConnect": "call.answered"}.get(entry.headers.get("Event", ""))
        if entry.dir == "in" and kind:
            device = entry.headers["DestChannel"].rpartition(";")[0].rpartition("-")[0]
            found.append((kind, agents[device]))
    return [*found, ("call.ended", None)]


async def test_a_replayed_call_reaches_the_receiver_signed_and_in_order(
        settings: Settings, service_env: dict[str, str], worker_process: Process, admin_api: httpx.AsyncClient,
        receiving, seeded: dict[str, str]) -> None:
    # Three phones ring at once, then Vera answers: with a receiver taking 0.3 s per delivery, several wait at once.
    receiver = await receiving(lambda _: (200, 0.3))
    endpoint = await register(admin_api, receiver, EVERY_KIND)
    expected = expected_call_events("ringall_one_answers")
    async with recorded_calls(settings, [("ringall_one_answers", 0)], speed=2) as pbx, \
            listening(service_env, "webhooks"):
        await pbx.wait_finished(timeout=30)
        await receiver.wait_for(len(expected), timeout=20)
    await asyncio.sleep(1)  # nothing more comes
    got = receiver.requests
    assert [(r.event["type"], r.event["data"].get("agent_id")) for r in got] == expected
    assert all(signed(r, endpoint["secret"]) for r in got)
    assert [r.event["sequence"] for r in got] == sorted(r.event["sequence"] for r in got), "sent in order"
    assert len({r.headers["X-Callercard-Delivery"] for r in got}) == len(got)
    assert all(r.headers["X-Callercard-Event"] == r.event["type"] for r in got)
    ended = got[-1].event["data"]
    logged = (await admin_api.get(f"/api/v1/calls/{ended['call_id']}")).json()
    assert {k: ended[k] for k in ("call_id", "caller", "agents", "answered_by", "outcome", "wait_seconds")} == {
        k: logged[k] for k in ("call_id", "caller", "agents", "answered_by", "outcome", "wait_seconds")}
    assert all(r.event["data"]["call_id"] == ended["call_id"] for r in got)
    ringing = got[0].event["data"]
    assert (ringing["number"], ringing["card"]["display_name"]) == ("+74959876543", seeded["+74959876543"])
    log = (await admin_api.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries")).json()
    assert [(d["event"], d["status"], d["attempts"], d["last_status"], d["last_error"]) for d in reversed(log)] == [
        (kind, "delivered", 1, 200, None) for kind, _ in expected]
    assert [d["delivery_id"] for d in reversed(log)] == [r.headers["X-Callercard-Delivery"] for r in got]


async def test_a_receiver_that_fails_twice_gets_the_third_attempt_and_later_events_wait_their_turn(
        settings: Settings, api_process: Process, worker_process: Process, admin_api: httpx.AsyncClient,
        receiving, celery_app: Celery) -> None:
    receiver = await receiving(lambda index: (500, 0.0) if index < 2 else (200, 0.0))
    endpoint = await register(admin_api, receiver, ["dnc.changed"])
    assert (await admin_api.put("/api/v1/dnc/84951234567", json={"reason": "abroad"})).status_code == 201
    assert (await admin_api.delete("/api/v1/dnc/84951234567")).status_code == 204
    got = await receiver.wait_for(4, timeout=20)
    assert [(r.event["type"], r.event["data"]["action"]) for r in got] == [
        ("dnc.changed", "flag")] * 3 + [("dnc.changed", "unflag")], "the unflag waited for the flag to get through"
    first = got[:3]
    assert len({r.headers["X-Callercard-Delivery"] for r in first}) == 1 and len({r.body for r in first}) == 1, \
        "each attempt is the same delivery: same id, same bytes"
    assert all(signed(r, endpoint["secret"]) for r in got)
    gaps = [b.at - a.at for a, b in itertools.pairwise(first)]
    base = settings.webhook_retry_base_seconds
    assert base <= gaps[0] < gaps[1] and gaps[1] >= 2 * base, f"exponential backoff: {gaps}"
    async with asyncio.timeout(10):  # the receiver has the last delivery a moment before the worker logs its answer
        while True:
            log = (await admin_api.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries")).json()
            if all(d["status"] not in ("pending", "retrying") for d in log):
                break
            await asyncio.sleep(0.1)
    assert [(d["status"], d["attempts"], d["last_status"], d["last_error"]) for d in log] == [
        ("delivered", 1, 200, None), ("delivered", 3, 200, "HTTP 500")]
    celery_app.send_task(DELIVER_WEBHOOKS, args=[endpoint["id"]])  # an extra drain sends nothing again
    await asyncio.sleep(2)
    assert len(receiver.requests) == 4


async def test_a_receiver_too_slow_to_answer_gets_the_same_delivery_again(
        settings: Settings, api_process: Process, worker_process: Process, admin_api: httpx.AsyncClient,
        receiving) -> None:
    slow = settings.webhook_timeout_seconds + 1
    receiver = await receiving(lambda index: (200, slow) if index == 0 else (200, 0.0))
    endpoint = await register(admin_api, receiver, ["dnc.changed"])
    assert (await admin_api.put("/api/v1/dnc/84951234567", json={"reason": "abroad"})).status_code == 201
    first, again = await receiver.wait_for(2, timeout=20)
    assert first.headers["X-Callercard-Delivery"] == again.headers["X-Callercard-Delivery"]
    assert first.body == again.body, "the receiver can tell it is the same delivery and drop the repeat"
    async with asyncio.timeout(10):  # the receiver has the repeat a moment before the worker logs its answer
        while True:
            [delivery] = (await admin_api.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries")).json()
            if delivery["status"] != "retrying":
                break
            await asyncio.sleep(0.1)
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    assert delivery["last_error"].startswith(f"no answer within {settings.webhook_timeout_seconds:g} s")


async def test_endpoints_must_be_https_and_name_real_event_kinds(admin_api: httpx.AsyncClient, api_process: Process,
                                                                 settings: Settings) -> None:
    plain = await admin_api.post("/api/v1/webhooks", json={"url": "http://hooks.example/x", "events": ["call.ended"]})
    assert plain.status_code == 422 and plain.json()["message"].startswith("url: must be https://")
    unknown = await admin_api.post("/api/v1/webhooks", json={"url": "https://hooks.example/x", "events": ["call.x"]})
    assert unknown.status_code == 422 and unknown.json()["details"]["errors"][0]["field"] == "events.0"
    none = await admin_api.post("/api/v1/webhooks", json={"url": "https://hooks.example/x", "events": []})
    assert none.status_code == 422 and none.json()["details"]["errors"][0]["field"] == "events"


class RecordingQueue:
    """The worker's queue port, recording what the emitter hands over (the store here is the real one)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[object]]] = []

    async def send(self, task: str, args: list[object], kwargs: dict[str, object]) -> None:
        self.sent.append((task, args))


async def test_events_of_a_kind_no_endpoint_wants_do_not_wait_in_the_listeners_memory(
        db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    queue = RecordingQueue()
    emitter = WebhookEmitter(db=db, queue=queue)  # type: ignore[arg-type]
    running = asyncio.create_task(emitter.run())
    at = datetime.now(UTC)
    try:
        emitter.submit(EventKind.CALL_RINGING, {"n": 0}, key="r0", occurred_at=at)
        assert emitter.backlog == 1, "before the endpoints are known, an event waits"
        await _drained(emitter)
        for n in range(1, 1001):  # no endpoint at all: a whole burst costs no memory
            emitter.submit(EventKind.CALL_RINGING, {"n": n}, key=f"r{n}", occurred_at=at)
        assert emitter.backlog == 0
        await webhook_store.put_endpoint(db, {"_id": "wh_test", "url": "https://crm.example/hooks", "secret": "s",
                                              "events": ["call.ended"], "enabled": True, "created_at": at})
        emitter.forget_endpoints()
        emitter.submit(EventKind.CALL_ENDED, {"n": 1}, key="e1", occurred_at=at)
        await _drained(emitter)
        emitter.submit(EventKind.CALL_RINGING, {"n": 1002}, key="r1002", occurred_at=at)
        emitter.submit(EventKind.CALL_ENDED, {"n": 2}, key="e2", occurred_at=at)
        assert emitter.backlog == 1, "only the kind the endpoint wants waits"
        await _drained(emitter)
        assert queue.sent == [(DELIVER_WEBHOOKS, ["wh_test"])] * 2
        assert [d["event"] async for d in db[WEBHOOK_DELIVERIES].find({"endpoint_id": "wh_test"})] == \
            ["call.ended", "call.ended"]
    finally:
        running.cancel()


async def _drained(emitter: WebhookEmitter) -> None:
    async with asyncio.timeout(10):
        while emitter.backlog:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_an_endpoint_added_by_another_process_gets_events_once_the_list_is_read_again(
        db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    """The listener re-reads the endpoints on its own (an admin adds one through the API, another process): its
    events are kept and delivered from then on, while those of kinds nobody wants still are not kept."""
    queue = RecordingQueue()
    emitter = WebhookEmitter(db=db, queue=queue)  # type: ignore[arg-type]
    tasks = [asyncio.create_task(emitter.run()), asyncio.create_task(emitter.keep_endpoints_fresh(every=0.2))]
    at = datetime.now(UTC)
    try:
        emitter.submit(EventKind.CALL_MISSED, {"n": 0}, key="m0", occurred_at=at)
        await _drained(emitter)  # the list is known now: nobody wants anything
        emitter.submit(EventKind.CALL_MISSED, {"n": 1}, key="m1", occurred_at=at)
        assert emitter.backlog == 0
        await webhook_store.put_endpoint(db, {"_id": "wh_other", "url": "https://crm.example/missed", "secret": "s",
                                              "events": ["call.missed"], "enabled": True, "created_at": at})
        async with asyncio.timeout(5):
            while True:
                emitter.submit(EventKind.CALL_MISSED, {"n": 2}, key="m2", occurred_at=at)
                if emitter.backlog:
                    break
                await asyncio.sleep(0.05)
        emitter.submit(EventKind.CALL_RINGING, {"n": 3}, key="r3", occurred_at=at)
        assert emitter.backlog == 1, "only the kind the new endpoint wants waits"
        await _drained(emitter)
        assert queue.sent == [(DELIVER_WEBHOOKS, ["wh_other"])]
        assert [(d["event"], json.loads(d["body"])["data"]) async for d in
                db[WEBHOOK_DELIVERIES].find({"endpoint_id": "wh_other"})] == [("call.missed", {"n": 2})]
    finally:
        for task in tasks:
            task.cancel()
