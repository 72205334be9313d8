"""The listener process's composition root: ``callercard listener``.

One listener serves one PBX (``CALLERCARD_PBX_ID``); any number may run for it. Each waits as a standby until it
holds the PBX's lease (``callercard.lease``), then builds a fresh call flow, takes over the live calls its
predecessor kept in Redis (``asterisk.live_calls``), logs in to the PBX and serves it until the lease is lost
(then it drops what it held and is a standby again) or it is cancelled (SIGTERM, in ``callercard.cli``: it
finishes its queued work, saves the live calls, and releases the lease so a standby takes over at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass

import redis.asyncio as aioredis
from celery import Celery
from cent import AsyncClient

from asterisk.ami import AmiLink, LinkConfig
from asterisk.event_filter import LISTENER_EVENTS, filter_action
from asterisk.events import AmiCallFlow
from asterisk.listener import AmiEvents, refresh_devices_forever
from asterisk.live_calls import LiveCalls
from callercard import centrifugo, gc_pauses, metrics, mongo, redis_state
from callercard.agents.store import DeviceMap
from callercard.calls.flow_service import CallFlowService
from callercard.calls.notifier import CardNotifier
from callercard.calls.redis_screens import Screens
from callercard.calls.state import CallTracker
from callercard.lease import FencedQueue, Lease
from callercard.lines.board_publisher import BoardPublisher
from callercard.lookup.services import CardLookup
from callercard.mongo import Database
from callercard.pbxs import ami_endpoint
from callercard.settings import Settings
from callercard.wallboard.publisher import WallboardPublisher
from callercard.webhooks.events import WebhookEmitter
from crm.card_lookup import card_lookup
from worker.app import create_celery
from worker.queue import CeleryQueue

log = logging.getLogger(__name__)
REPORT_EVERY = 3.0  # seconds; redis_state.LISTENER_STATE_TTL_SECONDS says when a silent listener counts as gone


@dataclass
class Listener:
    """What lives as long as the process: its clients, its lease, its AMI link's last state."""

    settings: Settings
    name: str
    redis: aioredis.Redis
    cent: AsyncClient
    db: Database
    celery: Celery
    devices: DeviceMap
    lease: Lease
    lookup: CardLookup
    logged_in: bool = False
    detail: str = "standby"

    @property
    def pbx(self) -> str:
        return self.settings.pbx_id

    async def report(self) -> None:
        active = self.lease.holds()
        metrics.LISTENER_ACTIVE.labels(self.pbx, self.name).set(1 if active else 0)
        metrics.AMI_LINK_UP.labels(self.pbx).set(1 if active and self.logged_in else 0)
        try:
            await redis_state.report_listener_state(self.redis, pbx=self.pbx, listener=self.name, active=active,
                                                    logged_in=active and self.logged_in,
                                                    detail=self.detail if active else "standby")
        except Exception as error:  # noqa: BLE001  # a report is retried in 3 s; nothing else may stop for it
            log.warning("listener state not reported (%s: %s)", type(error).__name__, error)

    async def report_forever(self) -> None:
        while True:
            await self.report()
            await asyncio.sleep(REPORT_EVERY)


async def run(settings: Settings) -> None:
    """Standby, then active, until cancelled (SIGTERM, in ``callercard.cli``)."""
    mongo_client = mongo.connect(settings)
    db = mongo.database(mongo_client, settings)
    # A blocking pool: past its connections a write waits its turn (up to 2 s) instead of failing at once with
    # "Too many connections", which under load lost screens and the live-call saves popups wait for.
    redis_client = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=100, timeout=2, socket_timeout=2, decode_responses=True))
    name = settings.listener_id or f"{socket.gethostname()}-{os.getpid()}"
    lease = Lease(redis_client, pbx=settings.pbx_id, holder=name, seconds=settings.listener_lease_seconds,
                  redis_url=settings.redis_url)
    cent_client = centrifugo.connect(settings, may_send=lease.holds)
    me = Listener(settings=settings, name=name, redis=redis_client, cent=cent_client, db=db,
                  celery=create_celery(settings), devices=DeviceMap(db, pbx=settings.pbx_id), lease=lease,
                  lookup=card_lookup(settings, db=db, linger=settings.listener_lookup_linger_ms / 1000))
    if settings.listener_metrics_port:
        metrics.serve(settings.listener_metrics_port)
    await me.devices.refresh(force=True)
    gc_pauses.settle()  # its clients and imports, built: no collection walks them again
    background = [asyncio.create_task(me.report_forever()), asyncio.create_task(refresh_devices_forever(me.devices))]
    try:
        while True:
            log.info("listener %s: standby for PBX %s until its lease is free", name, settings.pbx_id)
            await me.lease.wait_acquired()
            metrics.TAKEOVERS.labels(settings.pbx_id).inc()
            await serve_while_active(me)
            log.error("listener %s: back to standby for PBX %s; what it held is its successor's", name,
                      settings.pbx_id)
    finally:
        for task in background:
            task.cancel()
        me.lease.token = None
        await me.report()
        await me.lookup.close()
        with contextlib.suppress(Exception):
            await cent_client.close()
        await redis_client.aclose()
        await mongo_client.close()


async def serve_while_active(me: Listener) -> None:
    """Serve the PBX with a fresh call flow until the lease is lost; on cancellation hand over first."""
    settings, lease, pbx = me.settings, me.lease, me.pbx
    flow = AmiCallFlow(tracker=CallTracker(), agent_for_device=me.devices.agent_for, agent_name=me.devices.name_of,
                       inbound_contexts=settings.inbound_contexts)
    live: LiveCalls | None = None

    async def before_record_leaves() -> int:
        assert live is not None
        return await live.save()

    async def before_popup_opens(change: int) -> None:
        assert live is not None
        await live.saved_through(change)

    queue = FencedQueue(CeleryQueue(me.celery), lease)
    webhooks = WebhookEmitter(db=me.db, queue=queue, may_emit=lease.holds)
    service = CallFlowService(settings=settings, tracker=flow.tracker, lookup=me.lookup,
                              notifier=CardNotifier(me.cent, may_publish=lease.holds),
                              queue=queue,
                              screens=Screens(me.redis, lease=lease, pbx=pbx), pbx=pbx,
                              outbox_gate=before_record_leaves, shown_gate=before_popup_opens, webhooks=webhooks)
    live = LiveCalls(client=me.redis, lease=lease, flow=flow, service=service)
    lines = BoardPublisher(redis=me.redis, cent=me.cent, pbx=pbx, lease=lease)
    wallboard = WallboardPublisher(redis=me.redis, cent=me.cent, members=lines.board, pbx=pbx, lease=lease,
                                   service_level_seconds=settings.service_level_seconds, timezone=settings.timezone)
    await wallboard.restore()
    ami_events = AmiEvents(flow=flow, service=service, lines=lines, wallboard=wallboard, changed=live.changed,
                           pbx=pbx)
    await live.take_over()

    async def report(logged_in: bool, detail: str) -> None:
        me.logged_in, me.detail = logged_in, detail
        await me.report()

    endpoint = ami_endpoint(settings, pbx)
    if endpoint is None:
        raise RuntimeError(f"no AMI address for PBX {pbx!r}")  # pbxs.ami_endpoint always has its own PBX's
    link = AmiLink(LinkConfig(host=endpoint.host, port=endpoint.port, username=endpoint.username,
                              secret=endpoint.secret.get_secret_value(), event_filter=filter_action(),
                              wanted_events=LISTENER_EVENTS),
                   on_event=ami_events.on_event, report_state=report, on_login=ami_events.resynchronize,
                   every=(settings.ami_reconcile_seconds, ami_events.reconcile) if settings.ami_reconcile_seconds
                   else None)
    tasks = [asyncio.create_task(work) for work in (service.run(), lines.run(), live.run(), lease.keep_renewed(),
                                                    webhooks.run(), webhooks.keep_endpoints_fresh(), wallboard.run(),
                                                    report_backlog_forever(pbx, service, webhooks, wallboard))]
    linked = asyncio.create_task(link.run_forever())
    try:
        await asyncio.wait([linked, asyncio.create_task(lease.lost.wait())], return_when=asyncio.FIRST_COMPLETED)
    finally:
        linked.cancel()
        await asyncio.wait([linked], timeout=2)  # its session logged off before a successor session may start
        me.logged_in, me.detail = False, "standby"
        if lease.holds():  # cancelled (SIGTERM): finish, keep the calls for the successor, let it in at once
            await hand_over(service, live, lease, webhooks)
        for task in tasks:
            task.cancel()


async def report_backlog_forever(pbx: str, service: CallFlowService, webhooks: WebhookEmitter,
                                 wallboard: WallboardPublisher) -> None:
    """``callercard_listener_backlog``, from inside the event loop (the metrics thread must not walk its tasks)."""
    while True:
        sizes = {**service.backlog(), "webhook_events": webhooks.backlog, "wallboard_changes": wallboard.backlog,
                 "tasks": len(asyncio.all_tasks())}
        for what, size in sizes.items():
            metrics.LISTENER_BACKLOG.labels(pbx, what).set(size)
        await asyncio.sleep(REPORT_EVERY)


async def hand_over(service: CallFlowService, live: LiveCalls, lease: Lease, webhooks: WebhookEmitter,
                    timeout: float = 5.0) -> None:
    """On shutdown: finish the queued effects and hand-offs, store the webhook events, save the live calls,
    release the lease."""
    left = await service.shutdown(timeout=timeout)
    await webhooks.flush(timeout=3)
    try:
        await live.save()
    except Exception:
        log.exception("cannot hand over %d live call(s); they go unlogged", len(service.tracker.calls))
    else:
        log.info("handed over %d live call(s) to the next listener (%d hand-off(s) undelivered)",
                 len(service.tracker.calls), left)
    await lease.release()
