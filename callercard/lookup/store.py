"""The card cache in MongoDB: ``card_cache`` documents keyed by E.164, in front of the lookup sources.

``{_id: <E.164>, v, rev, sources, card, built_at, expires_at}``. A cached card is used only when all of these
hold, so a card can never stay stale for good, whatever interrupted whoever wrote it:

- ``v`` is the card schema's version, ``sources`` the configured sources and their mode (a changed source list
  takes effect at once);
- ``rev`` equals the number's ``rev`` in ``phone_index``, read together with the card (``number_reads.py``). Every
  change that can alter the card bumps that ``rev`` first (an account write, ``POST /api/v1/numbers/…:changed``),
  so a card built from what was read before a change is refused after it, even when it was written after it;
- ``expires_at`` has not passed: the bound on what a source that cannot announce its changes leaves stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from callercard.lookup.cards import CARD_VERSION, Card
from callercard.mongo import CARD_CACHE, PHONE_INDEX, Database, find_by_ids
from callercard.together import Together

DUPLICATE_KEY = 11000  # another lookup of the number wrote it meanwhile: fine (see ``write``)


class Cached(NamedTuple):
    document: dict[str, Any] | None  # the number's card cache entry, if any
    rev: int  # the number's rev in the phone index, read with it (0: never indexed)


def usable(cached: Cached, *, sources: str, now: datetime) -> tuple[Card, datetime] | None:
    """The cached card and when it expires, if it may be used now (see the module's contract)."""
    doc = cached.document
    if doc is None or doc.get("v") != CARD_VERSION or doc.get("sources") != sources or doc.get("rev") != cached.rev:
        return None
    expires_at = doc.get("expires_at")
    if not isinstance(expires_at, datetime) or expires_at <= now:
        return None
    return Card.model_validate(doc["card"]), expires_at


def entry(*, e164: str, card: Card, rev: int, sources: str, built_at: datetime,
          expires_at: datetime) -> dict[str, Any]:
    """The cache entry of ``card``, built from what was read at ``rev``."""
    return {"_id": e164, "v": CARD_VERSION, "rev": rev, "sources": sources, "card": card.model_dump(mode="json"),
            "built_at": built_at, "expires_at": expires_at}


async def write(db: Database, document: dict[str, Any], *, replace: bool) -> None:
    """Keep a cache entry. ``replace``: an unusable entry is there (else insert, much cheaper than an upsert on
    FerretDB). Losing a race to another writer is fine: either card is checked again on every read."""
    try:
        if replace:
            await db[CARD_CACHE].replace_one({"_id": document["_id"]}, document, upsert=True)
        else:
            await db[CARD_CACHE].insert_one(document)
    except DuplicateKeyError:
        pass  # another lookup of the number (another process's, or a refresh) wrote it meanwhile


class CardWrites:
    """Cache entries written by lookups that finish while others are being written go in one bulk write
    (``callercard/together.py``); a lone one goes at once, as ``write``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._together: Together[tuple[dict[str, Any], bool]] = Together("card_writes", self._write_together)

    async def write(self, document: dict[str, Any], *, replace: bool) -> None:
        """Raises the store's ``PyMongoError`` for this entry alone."""
        await self._together((document, replace))

    async def _write_together(self, writes: list[tuple[dict[str, Any], bool]]) -> list[BaseException | None]:
        if len(writes) == 1:
            await write(self._db, writes[0][0], replace=writes[0][1])
            return [None]
        requests = [ReplaceOne({"_id": document["_id"]}, document, upsert=True) if replace else InsertOne(document)
                    for document, replace in writes]
        try:
            await self._db[CARD_CACHE].bulk_write(requests, ordered=False)
        except BulkWriteError as error:
            refused = {e["index"]: e for e in error.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY}
            return [OperationFailure(refused[n].get("errmsg", "write refused"), refused[n].get("code"))
                    if n in refused else None for n in range(len(writes))]
        return [None] * len(writes)


async def numbers_changed(db: Database, numbers: Iterable[str]) -> None:
    """A source says these numbers' data changed: bump their ``rev`` (so a card being built from the old data
    is refused once written), then drop their cards."""
    wanted = sorted(set(numbers))
    if not wanted:
        return
    await db[PHONE_INDEX].bulk_write([UpdateOne({"_id": n}, {"$inc": {"rev": 1}, "$setOnInsert": {"accounts": []}},
                                                upsert=True) for n in wanted], ordered=False)
    cached = await find_by_ids(db[CARD_CACHE], wanted, projection={"_id": 1})
    if cached:
        await db[CARD_CACHE].bulk_write([DeleteOne({"_id": n}) for n in cached], ordered=False)
