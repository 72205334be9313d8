"""MongoDB: the client, collection names, the indexes the queries need, and health.

Production runs MongoDB; tests run FerretDB v1.24.2 on SQLite (the default store) and FerretDB v2.5 on
PostgreSQL with DocumentDB (the ferretdb2 store). Only features FerretDB v1 supports are used: plain CRUD,
``_id`` lookups on the hot path (FerretDB v1 never uses an index, not even ``_id``'s, so the hot path stays
on ``_id`` where the other two stores do), plain single-field and compound indexes (no partial, TTL or text
ones), no transactions (FerretDB v2 has none either).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from callercard.health import Health
from callercard.settings import Settings

ACCOUNTS = "accounts"
ACCOUNT_WRITES = "account_writes"  # writes of accounts not finished yet (customers.store.begin_write)
PHONE_INDEX = "phone_index"
CARD_CACHE = "card_cache"
CALLS = "calls"
NUMBER_CALLS = "number_calls"
AGENTS = "agents"
DNC = "dnc"
DNC_HISTORY = "dnc_history"
API_KEYS = "api_keys"
HEARD_NAMES = "heard_names"
CALLBACK_CLAIMS = "callback_claims"
WEBHOOK_ENDPOINTS = "webhook_endpoints"
WEBHOOK_DELIVERIES = "webhook_deliveries"
COUNTERS = "counters"
HEARD_NAMES_HISTORY = "heard_names_history"

Document = dict[str, Any]
Database = AsyncDatabase[Document]  # what every store takes
MongoClient = AsyncMongoClient[Document]

log = logging.getLogger(__name__)


def connect(settings: Settings) -> MongoClient:
    """A client whose every operation gives up after ``mongo_timeout_ms``, so no caller hangs."""
    timeout = settings.mongo_timeout_ms
    return AsyncMongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=timeout,
        timeoutMS=timeout,
        appname="callercard",
        tz_aware=True,
    )


def database(client: MongoClient, settings: Settings) -> Database:
    return client[settings.mongo_database]


SEPARATE_READS_UP_TO = 16


class InQueries:
    """Whether this store answers ``{"_id": {"$in": [...]}}`` from its ``_id`` index: MongoDB and FerretDB v2 do
    (16 numbers in one query cost about what two do alone, measured on FerretDB v2), FerretDB v1 scans the
    collection (it names itself in ``buildInfo``'s ``ferretdbVersion``). Asked once, on first use."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._indexed: bool | None = None
        self._asking = asyncio.Lock()  # the lookups of a busy start ask once, not each

    async def indexed(self) -> bool:
        if self._indexed is None:
            async with self._asking:
                if self._indexed is None:
                    try:
                        info = await self._db.client.admin.command("buildInfo")
                    except PyMongoError:
                        return False  # not known yet: this one reads its ids one by one, the next asks again
                    self._indexed = "ferretdbVersion" not in info
        return self._indexed


async def find_in(collection: AsyncCollection[Document], ids: list[str], *,
                  projection: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Documents by ``_id``, in one ``$in`` query (a scan on FerretDB v1: see ``find_by_ids``, ``InQueries``)."""
    return {doc["_id"]: doc async for doc in collection.find({"_id": {"$in": ids}}, projection)} if ids else {}


async def find_by_ids(collection: AsyncCollection[Document], ids: Iterable[str], *,
                      projection: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Documents by ``_id``.

    FerretDB v1 (SQLite) uses its index only for ``_id`` equality; ``{"_id": {"$in": [...]}}``
    scans the collection. A few ids (a lookup's accounts) are therefore read one by one, so the
    hot path never scans; a bulk batch (an import's 500 rows) is one ``$in`` query, which is
    still cheaper there than hundreds of separate reads.
    """
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    if len(wanted) > SEPARATE_READS_UP_TO:
        return await find_in(collection, wanted, projection=projection)
    found = await asyncio.gather(*[collection.find_one({"_id": key}, projection) for key in wanted])
    return {doc["_id"]: doc for doc in found if doc is not None}


async def health(db: Database) -> Health:
    try:
        await db.command("ping")
    except PyMongoError as error:
        return Health("mongo", False, f"{type(error).__name__}: {error}"[:300])
    return Health("mongo", True)


@dataclass(frozen=True, slots=True)
class Index:
    collection: str
    name: str
    keys: tuple[tuple[str, int], ...]
    serves: str  # the query it is for, named in logs when it cannot be created
    unique: bool = False

    def model(self) -> IndexModel:
        return IndexModel(list(self.keys), name=self.name, unique=self.unique)


# Every query that filters or sorts on something other than ``_id`` alone, and its index. A query that combines
# filters (number and outcome) is served by one of them; the rest of its filter is checked on the few documents
# that index finds.
INDEXES = (
    Index(CALLS, "calls_by_time", (("entered_at", DESCENDING),), "calls/store.py::find, newest first"),
    Index(CALLS, "calls_by_number", (("caller.e164", ASCENDING), ("entered_at", DESCENDING)),
          "calls/store.py::find by number"),
    Index(CALLS, "calls_by_outcome", (("outcome", ASCENDING), ("entered_at", DESCENDING)),
          "calls/store.py::find by outcome"),
    Index(CALLS, "calls_by_agent", (("agents.agent_id", ASCENDING), ("entered_at", DESCENDING)),
          "calls/store.py::find by agent"),
    Index(CALLS, "calls_open_callbacks",
          (("callback.needed", ASCENDING), ("callback.done", ASCENDING), ("entered_at", DESCENDING)),
          "calls/store.py::open_callbacks and mark_callbacks_done (callback_filter)"),
    Index(DNC_HISTORY, "dnc_history_by_number", (("number", ASCENDING), ("at", ASCENDING)),
          "dnc/store.py::history"),
    Index(DNC, "dnc_by_reason", (("reason", ASCENDING), ("_id", ASCENDING)), "dnc/store.py::find by reason"),
    Index(DNC, "dnc_by_flagger", (("flagged_by", ASCENDING), ("_id", ASCENDING)), "dnc/store.py::find by flagged_by"),
    Index(DNC, "dnc_by_expiry", (("expires_at", ASCENDING),), "dnc/store.py::find, active only"),
    # Unique: a key is revoked by its id, which must name one key.
    Index(API_KEYS, "api_keys_by_key_id", (("key_id", ASCENDING),), "keys/store.py::revoke", unique=True),
    Index(API_KEYS, "api_keys_by_creation", (("created_at", ASCENDING),), "keys/store.py::all_keys"),
    Index(HEARD_NAMES_HISTORY, "heard_names_history_by_number", (("number", ASCENDING), ("at", ASCENDING)),
          "heard_names/store.py::history"),
    Index(WEBHOOK_DELIVERIES, "webhook_deliveries_next",
          (("endpoint_id", ASCENDING), ("status", ASCENDING), ("sequence", ASCENDING)),
          "webhooks/store.py::head, the endpoint's oldest undelivered delivery"),
    Index(WEBHOOK_DELIVERIES, "webhook_deliveries_log", (("endpoint_id", ASCENDING), ("sequence", DESCENDING)),
          "webhooks/store.py::deliveries, the endpoint's log"),
    Index(WEBHOOK_DELIVERIES, "webhook_deliveries_due", (("status", ASCENDING), ("next_attempt_at", ASCENDING)),
          "webhooks/store.py::endpoints_due, the sweep"),
)

INDEX_OPTIONS_CONFLICT = 85  # these keys are indexed already, under another name: the query is served
INDEX_BUILD_TIMEOUT_SECONDS = 600  # building one over a large existing collection takes longer than a lookup may


async def ensure_indexes(db: Database) -> Health:
    """Create the indexes in ``INDEXES`` that are missing. Idempotent: an existing one is left as it is.

    Never raises a store error: each index that cannot be created is logged with the query it serves, and the
    returned ``Health`` ("indexes") names them; the queries still work without them, only slower. An index of
    ours whose definition differs from ``INDEXES`` (an older version's) is reported, not replaced: dropping it
    is an operator's decision (``db.<collection>.dropIndex("<name>")``; the next check creates it anew).
    """
    try:
        # Under the client's own timeout: the long one below would also wait that long for an unreachable store.
        await db.command("ping")
    except PyMongoError as error:
        problems = [f"store unreachable: {type(error).__name__}: {error}"]
    else:
        problems = []
        for index in INDEXES:
            try:
                if problem := await _create(db, index):
                    problems.append(problem)
            except PyMongoError as error:  # the store went away: the others would wait for it and fail alike
                problems.append(f"store unreachable at {index.collection}.{index.name}: {type(error).__name__}: "
                                f"{error}")
                break
    if problems:
        log.error("MongoDB indexes missing, those queries run without them (slower): %s", "; ".join(problems))
        return Health("indexes", False, "; ".join(problems)[:600])
    return Health("indexes", True, f"{len(INDEXES)} indexes in place")


async def _create(db: Database, index: Index) -> str | None:
    """Create one index; what the store refused, if it did (its other errors are raised)."""
    try:
        with pymongo.timeout(INDEX_BUILD_TIMEOUT_SECONDS):
            await db[index.collection].create_indexes([index.model()])
    except OperationFailure as error:
        if error.code == INDEX_OPTIONS_CONFLICT:
            return None
        reason = (error.details or {}).get("errmsg", str(error))
        return f"{index.collection}.{index.name} (for {index.serves}): {reason} (code {error.code})"
    return None


class IndexUpkeep:
    """The API's indexes: created at start in the background (serving never waits on them), retried until
    they all exist, then checked again every ``recheck_seconds`` (a restored dump or a dropped collection gets
    them back). ``health()`` is what ``/status`` reports; it never makes the API unhealthy."""

    def __init__(self, db: Database, *, retry_seconds: tuple[float, ...] = (1, 2, 5, 10, 30, 60),
                 recheck_seconds: float = 600) -> None:
        self._db = db
        self._retry_seconds = retry_seconds
        self._recheck_seconds = recheck_seconds
        self._health = Health("indexes", False, "being created")

    def health(self) -> Health:
        return self._health

    async def run(self) -> None:
        failures = 0
        while True:
            self._health = await ensure_indexes(self._db)
            if self._health.ok:
                if failures:
                    log.info("MongoDB indexes in place after %d failed attempts", failures)
                failures = 0
                await asyncio.sleep(self._recheck_seconds)
            else:
                await asyncio.sleep(self._retry_seconds[min(failures, len(self._retry_seconds) - 1)])
                failures += 1
