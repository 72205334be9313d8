"""The listener process: AMI events in, caller cards out to the ringing agent's channel.

Order matters and the AMI loop must never block: each event goes through the
synchronous state machine at once (``AmiCallFlow.handle``), and its effects are
queued for one consumer task that does the I/O in order: card lookups (started
on a worker during the greeting, and prefetched here), publishing card events,
and handing finished calls to the worker for the call log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from celery import Celery
from panoramisk import Manager
from panoramisk.message import Message
from pymongo.asynchronous.database import AsyncDatabase

from asterisk.ami import AmiLink, LinkConfig
from asterisk.events import AmiCallFlow, Effects
from callercard import centrifugo, mongo, phone
from callercard import redis as redis_state
from callercard.agents.store import DeviceMap
from callercard.calls.notifier import CardNotifier
from callercard.calls.records import call_record
from callercard.calls.state import CallTracker
from callercard.lookup.services import lookup_within_budget
from callercard.settings import Settings
from worker.app import create_celery
from worker.tasks import LOOKUP_CALLER, RECORD_CALL

log = logging.getLogger(__name__)
SendTask = Callable[[str, list[Any], dict[str, Any]], Awaitable[None]]


def celery_sender(celery: Celery) -> SendTask:
    async def send(name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        # kombu's publish blocks on Redis: keep it off the event loop.
        await asyncio.to_thread(celery.send_task, name, args=args, kwargs=kwargs)

    return send


class CallFlowService:
    """Carries out the state machine's effects, in order, without ever raising into the AMI loop."""

    def __init__(self, *, settings: Settings, flow: AmiCallFlow, db: AsyncDatabase, notifier: CardNotifier,
                 send_task: SendTask) -> None:
        self.settings = settings
        self.flow = flow
        self._db = db
        self._notifier = notifier
        self._send_task = send_task
        self._queue: asyncio.Queue[Effects] = asyncio.Queue()
        self._cards: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def on_event(self, event: Message) -> None:
        self._queue.put_nowait(self.flow.handle(event))

    async def resynchronize(self, manager: Manager) -> None:
        """After (re)login: end the calls Asterisk no longer has, so no popup stays open."""
        response = await asyncio.wait_for(manager.send_action({"Action": "CoreShowChannels"}, as_list=True), 10)
        messages = response if isinstance(response, list) else [response]
        live = {m.get("Uniqueid", "") for m in messages if m.get("Event") == "CoreShowChannel"}
        effects = self.flow.end_missing(live)
        log.info("resynchronized with CoreShowChannels: %d live channels, %d stale calls ended", len(live),
                 len(effects.finished))
        self._queue.put_nowait(effects)

    async def run(self) -> None:
        while True:
            effects = await self._queue.get()
            try:
                await self._carry_out(effects)
            except Exception:
                log.exception("carrying out call effects failed; continuing")

    async def _carry_out(self, effects: Effects) -> None:
        for number, call_id in effects.lookups:
            self._cards[call_id] = asyncio.create_task(self._resolve(number))
            self._spawn(self._send_task(LOOKUP_CALLER, [number], {"call_id": call_id}))
        for notice in effects.notices:
            call = self.flow.tracker.calls.get(notice.call_id)
            direction = call.direction if call else "inbound"
            card = await self._card(notice.call_id)
            await self._notifier.notify(notice, direction=direction, card=card)
        for call in effects.finished:
            record = call_record(call, tracker=self.flow.tracker, region=self.settings.default_region)
            self._spawn(self._send_task(RECORD_CALL, [record], {}))
            task = self._cards.pop(call.call_id, None)
            if task is not None and not task.done():
                task.cancel()

    async def _resolve(self, raw: str) -> dict[str, Any]:
        settings = self.settings
        try:
            number = phone.normalize(raw, region=settings.default_region, default_area_code=settings.default_area_code)
        except phone.InvalidNumber:
            number = phone.Number(raw=raw, kind=phone.NumberKind.WITHHELD, e164=None)
        card = await lookup_within_budget(db=self._db, number=number, budget_seconds=settings.lookup_budget_seconds)
        return card.model_dump(mode="json")

    async def _card(self, call_id: str) -> dict[str, Any] | None:
        task = self._cards.get(call_id)
        if task is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.settings.lookup_budget_seconds)
        except TimeoutError:
            return {"pending": True}

    def _spawn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("background hand-off failed")

        task = asyncio.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def refresh_devices_forever(devices: DeviceMap, interval: float = 5.0) -> None:
    while True:
        await devices.refresh(force=True)
        await asyncio.sleep(interval)


async def run(settings: Settings) -> None:
    """Composition root of ``callercard listener``."""
    mongo_client = mongo.connect(settings)
    db = mongo.database(mongo_client, settings)
    redis_client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=2, decode_responses=True)
    cent_client = centrifugo.connect(settings)
    devices = DeviceMap(db)
    await devices.refresh(force=True)
    flow = AmiCallFlow(tracker=CallTracker(), agent_for_device=devices.agent_for,
                       inbound_contexts=settings.inbound_contexts)
    service = CallFlowService(settings=settings, flow=flow, db=db, notifier=CardNotifier(cent_client),
                              send_task=celery_sender(create_celery(settings)))

    async def report(logged_in: bool, detail: str) -> None:
        await redis_state.report_listener_state(redis_client, logged_in=logged_in, detail=detail)

    link = AmiLink(LinkConfig(host=settings.ami_host, port=settings.ami_port, username=settings.ami_username,
                              secret=settings.ami_secret.get_secret_value()),
                   on_event=service.on_event, report_state=report, on_login=service.resynchronize)
    tasks = [asyncio.create_task(service.run()), asyncio.create_task(refresh_devices_forever(devices))]
    try:
        await link.run_forever()
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await cent_client.close()
        await redis_client.aclose()
        await mongo_client.close()
