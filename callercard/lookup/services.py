"""Resolving a number to its card: the card cache (MongoDB) in front of the ordered lookup sources.

``CardLookup`` is built once per process by its composition root. A lookup reads the number's cache entry, its
``rev``, its call history, its do-not-call flag and the names heard on it (``number_reads.py``: ``_id`` reads,
together with the other lookups waiting where the store's ``$in`` uses the index); a usable cached card is
answered at once (``lookup/store.py`` says when one is usable). Otherwise the sources are asked (``asking.py``):
a lookup with a budget answers when it is up with what has come in, ``degraded`` naming the sources that had
not, while the question runs on and caches the full card for the next lookup. Resolving is idempotent: again,
it returns the same card and at most rewrites the same cache entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError

from callercard import phone
from callercard.calls.store import recent_calls_of
from callercard.dnc import services as dnc_services
from callercard.dnc import store as dnc_store
from callercard.health import Health
from callercard.heard_names import ranking
from callercard.heard_names import store as heard_store
from callercard.heard_names.ranking import merge_into_card
from callercard.lookup import store as card_store
from callercard.lookup.asking import SourceQuery
from callercard.lookup.cards import Card, CardKind, SourceProblem, build_card
from callercard.lookup.local_cache import LocalCardCache
from callercard.lookup.number_reads import NumberReads
from callercard.lookup.sources import TrackedSource
from callercard.mongo import Database
from callercard.phone import Number, NumberKind

log = logging.getLogger(__name__)
REFRESHES_AT_ONCE = 4  # cards rebuilt side by side after a ``:changed`` with ``rebuild``


@dataclass(frozen=True, slots=True)
class CacheLife:
    known_seconds: float  # a card with accounts
    unknown_seconds: float  # a card of a number no source has (0: not cached)


class CardLookup:
    """Cards for numbers, from the card cache or the sources; one per process, shared by its lookups."""

    def __init__(self, *, db: Database, sources: Sequence[TrackedSource], mode: str, cache_life: CacheLife,
                 local: LocalCardCache | None = None, reads: NumberReads | None = None) -> None:
        self._db = db
        self._reads = reads or NumberReads(db)
        self._writes = card_store.CardWrites(db)
        self._sources = list(sources)
        self._mode = mode
        self._life = cache_life
        self._local = local
        # What a cached card was built from: a card of another source list is not used.
        self.signature = f"{mode}:{','.join(source.name for source in self._sources)}"
        self._queries: dict[str, SourceQuery] = {}  # E.164 -> the question being asked: lookups share it
        self._background: set[asyncio.Task[Any]] = set()
        self._refreshing = asyncio.Semaphore(REFRESHES_AT_ONCE)

    def hurry(self) -> None:
        """Someone waits for a card now: the store reads lingering for company go at once."""
        self._reads.hurry()

    async def resolve(self, number: Number) -> Card:
        """The card once every source it needs has answered (or timed out): the worker's warm-up. Raises
        ``PyMongoError`` when the store fails, so the task is retried."""
        card, _ = await self._resolve(number, budget_seconds=None)
        return card

    async def within_budget(self, number: Number, *, budget_seconds: float) -> Card:
        """The card within ``budget_seconds``; never raises for the store or a source. What was not there in time
        is named in ``degraded_sources`` (the store: a card of the number alone). A card this process answered
        before and nobody changed since comes from its memory (``local``)."""
        e164 = number.e164  # set exactly for real numbers; withheld and internal ones are never remembered
        local = self._local if e164 is not None else None
        if local is not None and e164 is not None:
            remembered = local.get(e164)
            if remembered is not None:
                # The card says the number as this request gave it (the same caller arrives in many formats).
                return remembered if remembered.number == number.raw else remembered.model_copy(
                    update={"number": number.raw})
            ticket = local.ticket()
        try:
            card, until = await self._resolve(number, budget_seconds=budget_seconds)
        except TimeoutError:
            log.warning("lookup of %s: the store did not answer within the %.0f ms budget; answering degraded",
                        number.key, budget_seconds * 1000)
            return build_card(number, [], degraded_by=[SourceProblem(source="store", reason="slow")])
        except PyMongoError as error:
            log.warning("lookup of %s failed (%s); answering degraded", number.key, type(error).__name__)
            return build_card(number, [], degraded_by=[SourceProblem(source="store", reason="failed",
                                                                     detail=type(error).__name__)])
        if local is not None and e164 is not None:
            local.put(e164, card, ticket=ticket, until=until)
        return card

    async def _resolve(self, number: Number, *, budget_seconds: float | None) -> tuple[Card, datetime | None]:
        if number.kind is not NumberKind.E164 or number.e164 is None:
            return build_card(number, []), None
        e164 = number.e164
        loop = asyncio.get_running_loop()
        deadline = None if budget_seconds is None else loop.time() + budget_seconds
        reads = asyncio.ensure_future(self._reads.read(e164))
        # Python 3.11's gather, cancelled (the budget, or the call ended), keeps a CancelledError nobody reads, and
        # asyncio then logs it with a traceback: thousands a minute, most of an overloaded listener's log and CPU.
        reads.add_done_callback(_read_outcome)
        docs = await asyncio.wait_for(reads, budget_seconds)
        now = datetime.now(UTC)
        cached = card_store.Cached(docs.card_cache, int((docs.phone_entry or {}).get("rev", 0)))
        history = recent_calls_of(docs.number_calls)
        flagged = dnc_services.active_of(dnc_store.entry_of(docs.dnc), now)
        heard = ranking.rank(heard_store.state_of(docs.heard_names), now=now)
        found = card_store.usable(cached, sources=self.signature, now=now)
        until: datetime | None
        if found is not None:
            card, until = found[0].model_copy(update={"number": number.raw}), found[1]
        else:
            query = self._query(e164, rev=cached.rev, replace=cached.document is not None)
            assert query.task is not None
            # Waiting never cancels the question: it runs on and caches the card for the next lookup.
            await asyncio.wait({query.task}, timeout=None if deadline is None else max(0.0, deadline - loop.time()))
            accounts, problems = query.so_far()
            card, until = build_card(number, accounts, degraded_by=problems), query.expires_at
        # What changes on its own is merged on read, never cached with the card: one line per field.
        card = card.model_copy(update={"recent_calls": history, "do_not_call": dnc_services.card_field(flagged)})
        return merge_into_card(card, heard), until  # names heard: callercard/heard_names

    def _query(self, e164: str, *, rev: int, replace: bool) -> SourceQuery:
        """The question being asked about ``e164`` since its ``rev``, or a new one."""
        asking = self._queries.get(e164)
        if asking is not None and asking.rev == rev and not asking.finished:
            return asking
        query = SourceQuery(e164=e164, sources=self._sources, mode=self._mode, rev=rev)
        query.task = asyncio.create_task(self._ask_and_keep(query, replace=replace))
        self._queries[e164] = query
        query.task.add_done_callback(lambda _: self._queries.pop(e164, None) if self._queries.get(e164) is query
                                     else None)
        return query

    async def _ask_and_keep(self, query: SourceQuery, *, replace: bool) -> None:
        await query.run()
        accounts, problems = query.so_far()
        if problems:  # a card lacking a source's answer is not kept: the next lookup asks again
            return
        card = build_card(phone.normalize(query.e164), accounts)
        life = self._life.known_seconds if card.kind is CardKind.KNOWN else self._life.unknown_seconds
        now = datetime.now(UTC)
        query.expires_at = expires_at = now + timedelta(seconds=life)  # a copy in memory lives no longer
        if life <= 0:
            return
        try:
            await self._writes.write(card_store.entry(e164=query.e164, card=card, rev=query.rev, sources=self.signature,
                                                      built_at=now, expires_at=expires_at), replace=replace)
        except PyMongoError as error:  # the card was answered; only the next lookup pays for this
            log.warning("card of %s not cached: %s", query.e164, type(error).__name__)

    def forget(self, numbers: Iterable[str]) -> None:
        """Lookups from now on ask afresh about these numbers (their data changed), not the questions in flight."""
        wanted = list(numbers)
        for e164 in wanted:
            self._queries.pop(e164, None)
        if self._local is not None:
            self._local.forget(wanted)

    def refresh_later(self, numbers: Iterable[str]) -> None:
        """Rebuild these numbers' cards in the background, a few at a time."""
        for e164 in numbers:
            task = asyncio.create_task(self._refresh(e164))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _refresh(self, e164: str) -> None:
        async with self._refreshing:
            try:
                await self.resolve(phone.normalize(e164))
            except PyMongoError as error:
                log.warning("card of %s not rebuilt: %s", e164, type(error).__name__)

    async def sources_health(self) -> list[Health]:
        return list(await asyncio.gather(*[source.health() for source in self._sources]))

    async def close(self) -> None:
        """Stop the questions and rebuilds in flight, and close the sources' clients."""
        tasks = [*self._background, *(q.task for q in self._queries.values() if q.task is not None)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*[source.source.close() for source in self._sources], return_exceptions=True)


def _read_outcome(reads: asyncio.Future[Any]) -> None:
    """Marks a finished gather's outcome as read (what it was is its awaiter's business)."""
    if not reads.cancelled():
        reads.exception()
