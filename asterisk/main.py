"""The listener process's composition root: ``callercard listener``.

Builds the settings' clients, the domain's services and the adapters (the AMI link, the worker's Celery queue),
then runs until cancelled, and on the way out hands the live calls to the next listener.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis

from asterisk.ami import AmiLink, LinkConfig
from asterisk.events import AmiCallFlow
from asterisk.listener import AmiEvents, hand_over_calls, refresh_devices_forever, take_over_calls
from callercard import centrifugo, mongo, redis_state
from callercard.agents.store import DeviceMap
from callercard.calls.flow_service import CallFlowService
from callercard.calls.notifier import CardNotifier
from callercard.calls.redis_screens import Screens
from callercard.calls.state import CallTracker
from callercard.lines.board_publisher import BoardPublisher
from callercard.settings import Settings
from callercard.wallboard.publisher import WallboardPublisher
from callercard.webhooks.events import WebhookEmitter
from crm.card_lookup import card_lookup
from worker.app import create_celery
from worker.queue import CeleryQueue


async def run(settings: Settings) -> None:
    """Listen until cancelled (SIGTERM, in ``callercard.cli``), then finish the queued work and hand over."""
    mongo_client = mongo.connect(settings)
    db = mongo.database(mongo_client, settings)
    redis_client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=2, decode_responses=True)
    cent_client = centrifugo.connect(settings)
    devices = DeviceMap(db)
    await devices.refresh(force=True)
    flow = AmiCallFlow(tracker=CallTracker(), agent_for_device=devices.agent_for, agent_name=devices.name_of,
                       inbound_contexts=settings.inbound_contexts)
    lookup = card_lookup(settings, db=db)
    queue = CeleryQueue(create_celery(settings))
    webhooks = WebhookEmitter(db=db, queue=queue)
    service = CallFlowService(settings=settings, tracker=flow.tracker, lookup=lookup,
                              notifier=CardNotifier(cent_client), queue=queue, screens=Screens(redis_client),
                              webhooks=webhooks)
    lines = BoardPublisher(redis=redis_client, cent=cent_client)
    wallboard = WallboardPublisher(redis=redis_client, cent=cent_client, members=lines.board,
                                   service_level_seconds=settings.service_level_seconds, timezone=settings.timezone)
    await wallboard.restore()
    ami_events = AmiEvents(flow=flow, service=service, lines=lines, wallboard=wallboard)
    await take_over_calls(flow, redis_client)

    async def report(logged_in: bool, detail: str) -> None:
        await redis_state.report_listener_state(redis_client, logged_in=logged_in, detail=detail)

    link = AmiLink(LinkConfig(host=settings.ami_host, port=settings.ami_port, username=settings.ami_username,
                              secret=settings.ami_secret.get_secret_value()),
                   on_event=ami_events.on_event, report_state=report, on_login=ami_events.resynchronize,
                   every=(settings.ami_reconcile_seconds, ami_events.reconcile) if settings.ami_reconcile_seconds
                   else None)
    tasks = [asyncio.create_task(service.run()), asyncio.create_task(lines.run()),
             asyncio.create_task(refresh_devices_forever(devices)), asyncio.create_task(webhooks.run()),
             asyncio.create_task(wallboard.run())]
    try:
        await link.run_forever()
    finally:
        await hand_over_calls(flow, service, redis_client)
        await webhooks.flush(timeout=3)
        for task in tasks:
            task.cancel()
        await lookup.close()
        with contextlib.suppress(Exception):
            await cent_client.close()
        await redis_client.aclose()
        await mongo_client.close()
