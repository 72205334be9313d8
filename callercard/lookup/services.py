"""Resolving a number to its card: card cache first, then the phone index and accounts.

The hot path is ``_id`` lookups only (FerretDB uses no other index; MongoDB is
fastest on them too). ``resolve_card`` is idempotent: calling it again returns the
same card and at most rewrites the same cache entry.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError, PyMongoError

from callercard.calls.store import recent_calls
from callercard.customers import store as customers_store
from callercard.dnc import services as dnc_services
from callercard.lookup.cards import CARD_VERSION, Card, build_card
from callercard.lookup.local_cache import LocalCardCache
from callercard.mongo import CARD_CACHE, Database
from callercard.phone import Number, NumberKind

log = logging.getLogger(__name__)


async def resolve_card(*, db: Database, number: Number) -> Card:
    if number.kind is not NumberKind.E164 or number.e164 is None:
        return build_card(number, [])
    cached, history, flagged = await asyncio.gather(db[CARD_CACHE].find_one({"_id": number.e164}),
                                                    recent_calls(db, number.e164),
                                                    dnc_services.active_entry(db, number.e164))
    if cached is not None and cached.get("v") == CARD_VERSION:
        card = Card.model_validate({**cached["card"], "number": number.raw})
    else:
        card = await _build_and_cache(db, number, stale=cached is not None)
    # Call history and the do-not-call flag change on their own: merged on read, never cached with the card.
    return card.model_copy(update={"recent_calls": history, "do_not_call": dnc_services.card_field(flagged)})


async def _build_and_cache(db: Database, number: Number, *, stale: bool) -> Card:
    assert number.e164 is not None
    entry = await customers_store.find_phone_entry(db, number.e164)
    account_ids = entry.get("accounts", []) if entry else []
    accounts = await customers_store.find_accounts(db, account_ids)
    card = build_card(number, list(accounts.values()))
    rev = entry.get("rev", 0) if entry else 0
    document = {"_id": number.e164, "v": CARD_VERSION, "rev": rev, "card": card.model_dump(mode="json"),
                "built_at": datetime.now(UTC)}
    try:
        if stale:  # an entry of an older card schema: replace it
            await db[CARD_CACHE].replace_one({"_id": number.e164}, document, upsert=True)
        else:  # a miss: inserting is much cheaper than an upsert on FerretDB
            await db[CARD_CACHE].insert_one(document)
    except DuplicateKeyError:
        # Another lookup of the same number (the worker's warm-up, the listener's prefetch) filled the
        # cache at the same moment; concurrent upserts may collide. The card built here is just as good.
        return card
    # An account change between our read and our write would leave a stale card: re-check its rev.
    latest = await customers_store.find_phone_entry(db, number.e164)
    if (latest.get("rev", 0) if latest else 0) != rev:
        await db[CARD_CACHE].delete_one({"_id": number.e164, "rev": rev})
    return card


async def lookup_within_budget(*, db: Database, number: Number, budget_seconds: float,
                               local: LocalCardCache | None = None) -> Card:
    """The card, or within ``budget_seconds`` a degraded card from the number alone; never raises for the store.

    With ``local``, a card this process answered before and nobody changed since comes from memory.
    """
    e164 = number.e164  # set exactly for real numbers; withheld and internal ones are never remembered
    if local is not None and e164 is not None:
        remembered = local.get(e164)
        if remembered is not None:
            # The card says the number as this request gave it (the same caller arrives in many formats).
            if remembered.number == number.raw:
                return remembered
            return remembered.model_copy(update={"number": number.raw})
        ticket = local.ticket()
    try:
        card = await asyncio.wait_for(resolve_card(db=db, number=number), timeout=budget_seconds)
        if local is not None and e164 is not None:
            local.put(e164, card, ticket=ticket)
        return card
    except TimeoutError:
        log.warning("lookup of %s exceeded its %.0f ms budget; answering degraded", number.key,
                    budget_seconds * 1000)
    except PyMongoError as error:
        log.warning("lookup of %s failed (%s); answering degraded", number.key, type(error).__name__)
    return build_card(number, [], degraded=True)
