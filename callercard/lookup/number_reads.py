"""What every lookup reads about its number: five documents, each by ``_id``, from five collections.

Its card cache entry, its ``rev`` in the phone index, its call history summary, its do-not-call entry and the
names heard on it. Lookups that pile up (a busy moment of a listener, a worklist page) are read together: one
``{"_id": {"$in": [...]}}`` query per collection for all of them (``callercard/together.py``: a lone lookup still
goes at once). At 100 calls/s a listener otherwise sends five queries per call, which cost its store and its own
socket work far more than the documents do. Only where ``$in`` uses the ``_id`` index (``mongo.InQueries``): on
FerretDB v1 each lookup reads its five documents by ``_id`` alone, as before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from callercard.calls.store import RECENT_CALLS_PROJECTION
from callercard.mongo import CARD_CACHE, DNC, HEARD_NAMES, NUMBER_CALLS, PHONE_INDEX, Database, InQueries, find_in
from callercard.together import Linger, Together

Document = dict[str, Any]
# Each collection a lookup reads, and what of its document.
_READS: tuple[tuple[str, dict[str, int] | None], ...] = (
    (CARD_CACHE, None), (PHONE_INDEX, {"rev": 1}), (NUMBER_CALLS, RECENT_CALLS_PROJECTION), (DNC, None),
    (HEARD_NAMES, None))


@dataclass(frozen=True, slots=True)
class NumberDocuments:
    """A number's documents as read together (None: the number has none there)."""

    card_cache: Document | None
    phone_entry: Document | None  # its ``rev`` only
    number_calls: Document | None
    dnc: Document | None
    heard_names: Document | None


class _Ask:
    __slots__ = ("e164", "found")

    def __init__(self, e164: str) -> None:
        self.e164 = e164
        self.found: NumberDocuments | None = None


class NumberReads:
    """One per process's ``CardLookup``. ``read`` raises the store's ``PyMongoError`` as a lone read would."""

    def __init__(self, db: Database, *, in_queries: InQueries | None = None, linger: Linger | None = None) -> None:
        self._db = db
        self._in_queries = in_queries or InQueries(db)
        self._linger = linger
        self._together: Together[_Ask] = Together("lookup_reads", self._read_together, linger=linger)

    def hurry(self) -> None:
        """Someone waits for a card now: reads lingering for company go at once."""
        if self._linger is not None:
            self._linger.hurry()

    async def read(self, e164: str) -> NumberDocuments:
        if not await self._in_queries.indexed():
            return await self._read_alone(e164)
        ask = _Ask(e164)
        await self._together(ask)
        assert ask.found is not None  # filled by the round trip that reported it done
        return ask.found

    async def _read_alone(self, e164: str) -> NumberDocuments:
        found = await asyncio.gather(*(self._db[name].find_one({"_id": e164}, projection)
                                       for name, projection in _READS))
        return NumberDocuments(*found)

    async def _read_together(self, asks: list[_Ask]) -> list[BaseException | None]:
        if len(asks) == 1:
            asks[0].found = await self._read_alone(asks[0].e164)
            return [None]
        wanted = list(dict.fromkeys(ask.e164 for ask in asks))
        per_collection = await asyncio.gather(*(find_in(self._db[name], wanted, projection=projection)
                                                for name, projection in _READS))
        for ask in asks:
            ask.found = NumberDocuments(*(documents.get(ask.e164) for documents in per_collection))
        return [None] * len(asks)
