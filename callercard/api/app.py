"""The API process's composition root: settings, clients and adapters (the PBX's AMI actions, the worker's
Celery queue, the lookup sources) built once and handed to the routers as ``Services``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from asterisk.actions import AmiActions, AmiAddress
from callercard import centrifugo, mongo, redis_state
from callercard.agents import http as agents_http
from callercard.api import errors, metrics_http, status
from callercard.api.deps import Services
from callercard.callbacks import http as callbacks_http
from callercard.calls import desk_http, pbx_http
from callercard.calls import http as calls_http
from callercard.calls.flow_service import CallFlowService
from callercard.calls.notifier import CardNotifier
from callercard.calls.redis_feed import SharedHttpFeed
from callercard.calls.redis_screens import Screens
from callercard.calls.state import CallTracker
from callercard.customers import http as customers_http
from callercard.dnc import http as dnc_http
from callercard.heard_names import http as heard_names_http
from callercard.lines import http as lines_http
from callercard.lookup import http as lookup_http
from callercard.lookup import numbers_http
from callercard.lookup.fast_path import LookupFastPath
from callercard.lookup.local_cache import LocalCardCache, keep_fresh
from callercard.pbxs import ami_endpoint
from callercard.pbxs import known_pbxs as pbxs_of
from callercard.settings import Settings
from callercard.wallboard import http as wallboard_http
from callercard.webhooks import http as webhooks_http
from callercard.webhooks.events import WebhookEmitter, sweep_forever
from callercard.widget import http as widget_http
from crm.card_lookup import card_lookup
from worker.app import create_celery
from worker.queue import CeleryQueue


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mongo_client = mongo.connect(settings)
        redis_client = redis_state.connect(settings)
        cent_client = centrifugo.connect(settings)
        db = mongo.database(mongo_client, settings)
        indexes = mongo.IndexUpkeep(db)
        tracker = CallTracker()
        screens = Screens(redis_client)
        local_cards = LocalCardCache(max_entries=settings.lookup_local_cache_entries,
                                     ttl_seconds=settings.lookup_local_cache_seconds)
        lookup = card_lookup(settings, db=db, local=local_cards)
        queue = CeleryQueue(create_celery(settings))
        webhooks = WebhookEmitter(db=db, queue=queue)
        call_service = CallFlowService(settings=settings, tracker=tracker, lookup=lookup,
                                       notifier=CardNotifier(cent_client), queue=queue, screens=screens,
                                       webhooks=webhooks)
        pbxs = {pbx: AmiActions(AmiAddress(host=endpoint.host, port=endpoint.port, username=endpoint.username,
                                           secret=endpoint.secret.get_secret_value(),
                                           timeout=settings.ami_action_timeout_ms / 1000))
                for pbx in pbxs_of(settings) if (endpoint := ami_endpoint(settings, pbx)) is not None}
        pbx_calls = SharedHttpFeed(redis_client, local=tracker, call_idle_seconds=settings.pbx_events_call_idle_seconds,
                                   ring_idle_seconds=settings.pbx_events_ring_idle_seconds)
        app.state.services = Services(settings=settings, db=db, redis=redis_client, centrifugo=cent_client,
                                      pbx_calls=pbx_calls, call_service=call_service, pbxs=pbxs,
                                      screens=screens, local_cards=local_cards, lookup=lookup, indexes=indexes,
                                      queue=queue, webhooks=webhooks)
        index_upkeep = asyncio.create_task(indexes.run())  # in the background: lookups never wait on it
        consumer = asyncio.create_task(call_service.run())
        expiry = asyncio.create_task(pbx_calls.expire_forever(call_service.submit))
        card_changes = asyncio.create_task(keep_fresh(local_cards, redis_client))
        events = asyncio.create_task(webhooks.run())
        endpoints = asyncio.create_task(webhooks.keep_endpoints_fresh())  # another replica may have changed one
        sweep = asyncio.create_task(sweep_forever(db=db, queue=queue))
        try:
            yield
        finally:
            await call_service.shutdown(timeout=5)  # a restart loses no queued card event or call record
            await webhooks.flush(timeout=3)
            for task in (consumer, expiry, events, endpoints, sweep):
                task.cancel()
            card_changes.cancel()
            index_upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await card_changes
            await lookup.close()
            await cent_client.close()
            await redis_client.aclose()
            await mongo_client.close()

    app = FastAPI(title="callercard", version="1", lifespan=lifespan)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    errors.install(app)
    app.include_router(status.router)
    app.include_router(metrics_http.router)
    app.include_router(lookup_http.router)
    app.include_router(numbers_http.router)
    app.include_router(customers_http.router)
    app.include_router(agents_http.router)
    app.include_router(calls_http.router)
    app.include_router(pbx_http.router)
    app.include_router(dnc_http.router)
    app.include_router(desk_http.router)
    app.include_router(lines_http.router)
    app.include_router(callbacks_http.router)
    app.include_router(heard_names_http.router)
    app.include_router(webhooks_http.router)
    app.include_router(wallboard_http.router)
    app.include_router(widget_http.router)
    if settings.demo_enabled:  # a login-free token endpoint: never mounted otherwise
        app.include_router(widget_http.demo_router)

    def fast_path_parts() -> tuple[Settings, LocalCardCache] | None:
        services = getattr(app.state, "services", None)
        return None if services is None else (services.settings, services.local_cards)

    # Outermost: the PBX's repeated lookups are answered from memory before routing (see its docstring).
    app.add_middleware(LookupFastPath, parts=fast_path_parts)
    return app
