"""Lookups that pile up read the store together and get exactly the cards they get alone, on every store.

Where the store's ``$in`` uses the ``_id`` index (FerretDB v2, MongoDB) 24 lookups at once take a few queries per
collection instead of 24 each; on FerretDB v1, whose ``$in`` scans, each reads alone (``mongo.InQueries``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import REGISTRY

from callercard import phone
from callercard.calls import store as calls_store
from callercard.heard_names import store as heard_store
from callercard.heard_names.ranking import Confirmation, HeardState
from callercard.settings import Settings
from crm.card_lookup import card_lookup
from tests.factories import account
from tests.support.stores import INDEXED_STORES

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)

NUMBERS = [f"+7495300{n:04d}" for n in range(24)]  # 0-19 have accounts (0 two), 20-23 none
AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def round_trips(what: str) -> tuple[float, float]:
    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"what": what}) or 0.0
    return value("callercard_round_trips_total"), value("callercard_round_trip_items_total")


async def seed(admin_api: httpx.AsyncClient, db) -> None:
    for n, number in enumerate(NUMBERS[:20]):
        body = account(f"T-{n}", f"Holder {n}", number)
        assert (await admin_api.put(f"/api/v1/customers/{body.pop('id')}", json=body)).status_code in (200, 201)
    body = account("T-0b", "Second Holder", NUMBERS[0])
    assert (await admin_api.put(f"/api/v1/customers/{body.pop('id')}", json=body)).status_code in (200, 201)
    for number in (NUMBERS[1], NUMBERS[21]):
        flagged = await admin_api.put(f"/api/v1/dnc/{number}", json={"reason": "asked_not_to_call"})
        assert flagged.status_code in (200, 201), flagged.text
    for number in (NUMBERS[2], NUMBERS[22]):
        await heard_store.change(db, number, lambda _: HeardState(calls=(Confirmation("h.1", "Alexey", AT, "anna"),)),
                                 at=AT)
    for n, number in ((3, NUMBERS[3]), (23, NUMBERS[23])):
        await calls_store.save(db, {
            "call_id": f"r.{n}", "caller": {"number": number, "e164": number, "kind": "e164"}, "direction": "inbound",
            "queues": ["support"], "agents": [], "answered_by": [], "transfers": 0, "entered_at": AT.isoformat(),
            "first_ring_at": None, "answered_at": None, "ended_at": AT.isoformat(), "wait_seconds": 3.0,
            "talk_seconds": 0.0, "outcome": "missed_abandoned_in_queue", "callback": {"needed": True, "done": False}})


async def test_lookups_at_once_read_together_and_get_the_cards_they_get_alone(
        admin_api: httpx.AsyncClient, db, settings: Settings, store: str) -> None:
    await seed(admin_api, db)
    numbers = [phone.normalize(number) for number in NUMBERS]
    alone = card_lookup(settings, db=db)
    expected = [(await alone.resolve(number)).model_dump() for number in numbers]
    await alone.close()
    # What each number's card must hold, so an empty read on both sides cannot pass.
    assert [len(card["accounts"]) for card in expected] == [2] + [1] * 19 + [0] * 4
    assert [n for n, card in enumerate(expected) if card["do_not_call"]] == [1, 21]
    assert [n for n, card in enumerate(expected) if card["heard"]] == [2, 22]
    assert [n for n, card in enumerate(expected) if card["recent_calls"]] == [3, 23]

    # Cold again, the accounts read too; one entry left but outdated, so it is replaced, the others inserted.
    await db["card_cache"].delete_many({"_id": {"$ne": NUMBERS[5]}})
    await db["card_cache"].update_one({"_id": NUMBERS[5]}, {"$set": {"rev": -1}})
    before = {what: round_trips(what) for what in ("lookup_reads", "account_reads", "card_writes")}
    together = card_lookup(settings, db=db)
    cards = await asyncio.gather(*(together.resolve(number) for number in numbers))
    await together.close()
    assert [card.model_dump() for card in cards] == expected
    (read_trips, read_items), (account_trips, account_items), (write_trips, write_items) = (
        (round_trips(what)[0] - trips, round_trips(what)[1] - items) for what, (trips, items) in before.items())
    assert write_items == 24
    if store in INDEXED_STORES:  # in step: the first lookup alone, the other 23 together (a second sender aside)
        assert read_items == 24 and read_trips <= 4, "24 lookups at once must not read the store 24 times"
        assert account_items == 24 and account_trips <= 4
        assert write_trips <= 4, "24 cards kept in a few writes"
    else:
        assert (read_trips, account_trips) == (0, 0), "FerretDB v1 scans for $in: each lookup reads alone"

    revs = {doc["_id"]: doc.get("rev", 0) async for doc in db["phone_index"].find({"_id": {"$in": NUMBERS}})}
    entries = {doc["_id"]: (doc["rev"], [a["id"] for a in doc["card"]["accounts"]])
               async for doc in db["card_cache"].find()}
    assert entries == {number: (revs.get(number, 0), [a["id"] for a in card["accounts"]])
                       for number, card in zip(NUMBERS, expected, strict=True)}, "each card kept, the outdated replaced"
    accounts_read = round_trips("account_reads")[1]
    cached = card_lookup(settings, db=db)  # a process of its own: only the store's cache entries can answer it
    assert [(await cached.resolve(number)).model_dump() for number in numbers] == expected
    await cached.close()
    assert round_trips("account_reads")[1] == accounts_read, "every card came from its cache entry"
