"""The card cache never serves a card for good: only at the phone index's rev, read together, and within its life
(issue 17, point 2). Against the real store, through the real API process where the PBX would ask."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from callercard import phone
from callercard.settings import Settings
from crm.card_lookup import card_lookup
from tests.factories import account
from tests.integration.test_lookup import put

pytestmark = pytest.mark.both_stores  # store-sensitive: runs on ferretdb2 too (tests/support/stores.py)

NUMBER = "+74957654321"


async def test_a_card_written_after_a_change_it_predates_is_never_served(
        admin_api: httpx.AsyncClient, pbx_api: httpx.AsyncClient, db: AsyncDatabase) -> None:
    await put(admin_api, account("C-8", "Olga Ivanova", "84957654321"))
    assert (await pbx_api.get("/api/v1/lookup", params={"number": NUMBER})).json()["display_name"] == "Olga Ivanova"
    # What a lookup interrupted between building its card and checking it leaves behind: the card it built from
    # what it read before the rename, written after the rename dropped the cached one.
    built_before = await db["card_cache"].find_one({"_id": NUMBER})
    await put(admin_api, account("C-8", "Olga Petrova", "84957654321"))
    assert await db["card_cache"].find_one({"_id": NUMBER}) is None, "the rename dropped the card"
    await db["card_cache"].insert_one(built_before)

    card = (await pbx_api.get("/api/v1/lookup", params={"number": NUMBER})).json()
    assert (card["display_name"], card["degraded"]) == ("Olga Petrova", False)
    rebuilt = await db["card_cache"].find_one({"_id": NUMBER})
    index = await db["phone_index"].find_one({"_id": NUMBER})
    assert rebuilt["rev"] == index["rev"] == built_before["rev"] + 1
    assert rebuilt["card"]["display_name"] == "Olga Petrova"


async def test_a_cached_card_lives_no_longer_than_the_cache_life(
        admin_api: httpx.AsyncClient, db: AsyncDatabase, settings: Settings) -> None:
    await put(admin_api, account("C-9", "Pavel Orlov", "84957654321"))
    lookup = card_lookup(settings.model_copy(update={"lookup_cache_seconds": 1}), db=db)
    number = phone.normalize(NUMBER)
    try:
        assert (await lookup.resolve(number)).display_name == "Pavel Orlov"
        cached = await db["card_cache"].find_one({"_id": NUMBER})
        assert timedelta(seconds=0.5) < cached["expires_at"] - cached["built_at"] <= timedelta(seconds=1)
        # An edit nobody announces (made straight in MongoDB): only the card's life bounds how long it shows.
        await db["accounts"].update_one({"_id": "C-9"}, {"$set": {"holder": "Pavel Sokolov"}})
        assert (await lookup.resolve(number)).display_name == "Pavel Orlov"
        await asyncio.sleep(max(0.0, (cached["expires_at"] - datetime.now(UTC)).total_seconds()) + 0.05)
        assert (await lookup.resolve(number)).display_name == "Pavel Sokolov"
    finally:
        await lookup.close()


async def test_a_cached_card_of_another_source_list_is_not_used(
        admin_api: httpx.AsyncClient, db: AsyncDatabase, settings: Settings) -> None:
    await put(admin_api, account("C-10", "Irina Volkova", "84957654321"))
    other = card_lookup(settings.model_copy(update={"lookup_sources_mode": "merge"}), db=db)
    number = phone.normalize(NUMBER)
    try:
        assert (await other.resolve(number)).display_name == "Irina Volkova"
        await db["card_cache"].update_one({"_id": NUMBER}, {"$set": {"card.display_name": "From Another List"}})
        assert (await other.resolve(number)).display_name == "From Another List", "its own cached card"
    finally:
        await other.close()
    default = card_lookup(settings, db=db)
    try:
        assert (await default.resolve(number)).display_name == "Irina Volkova"
        assert (await db["card_cache"].find_one({"_id": NUMBER}))["sources"] == "first:accounts"
    finally:
        await default.close()
