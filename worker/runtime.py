"""One event loop and one set of async clients per worker process.

Tasks are thin sync wrappers around the same async domain code the API uses. A
prefork child builds its loop and clients on first use, after the fork.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from cent import AsyncClient as CentClient

from callercard import centrifugo, mongo, redis_state
from callercard.lookup.services import CardLookup
from callercard.mongo import Database
from callercard.ports import WorkerQueue
from callercard.settings import Settings
from callercard.webhooks.events import WebhookEmitter
from crm.card_lookup import card_lookup
from worker.webhook_http import HttpTransport

T = TypeVar("T")


class WorkerRuntime:
    def __init__(self, settings: Settings, *, queue: WorkerQueue) -> None:
        self.settings = settings
        self.queue = queue  # tasks handing work on (a webhook endpoint to drain)
        self._webhooks: WebhookEmitter | None = None
        self._transport: HttpTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mongo: mongo.MongoClient | None = None
        self._redis: aioredis.Redis | None = None
        self._lookup: CardLookup | None = None
        self._cent: CentClient | None = None

    @property
    def db(self) -> Database:
        if self._mongo is None:
            self._mongo = mongo.connect(self.settings)
        return mongo.database(self._mongo, self.settings)

    @property
    def lookup(self) -> CardLookup:
        """Built inside the child's loop on first use (the sources' clients belong to that loop)."""
        if self._lookup is None:
            self._lookup = card_lookup(self.settings, db=self.db)
        return self._lookup

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = redis_state.connect(self.settings)
        return self._redis

    @property
    def cent(self) -> CentClient:
        if self._cent is None:
            self._cent = centrifugo.connect(self.settings)
        return self._cent

    @property
    def webhooks(self) -> WebhookEmitter:
        if self._webhooks is None:
            self._webhooks = WebhookEmitter(db=self.db, queue=self.queue)
        return self._webhooks

    @property
    def webhook_transport(self) -> HttpTransport:
        if self._transport is None:
            self._transport = HttpTransport(self.settings)
        return self._transport

    def run(self, work: Callable[[WorkerRuntime], Awaitable[T]]) -> T:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(work(self))
