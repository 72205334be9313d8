"""The ``sql`` lookup source on a real PostgreSQL (Debian's postgresql-15, this checkout's own cluster), read by
the lookup as a process would (``crm.card_lookup``), with the card cache on the real store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from callercard import phone
from callercard.lookup.services import CardLookup
from callercard.settings import Settings
from crm.card_lookup import card_lookup
from tests.support import crm_database
from tests.support.crm_database import QUERY_LAST_DIGITS, QUERY_NORMALIZED
from tests.support.processes import settings_kwargs

NUMBER = phone.normalize("+74951234567")
# The CRM's customers as people typed their numbers; the lookup must find exactly the first four.
ROWS = [
    ("K-1", "Ivan Petrov", "Active", "8 (495) 123-45-67", None),
    ("K-2", "Maria Petrova", "active", "+7 916 000-00-02", "+7 495 123 45 67"),  # by the SMS phone
    ("K-3", "Alexey Smirnov", "DISCONNECTED", "84951234567", "8-916-000-00-03"),
    ("K-4", "Olga Ivanova", "active", "(495) 123-4567", None),  # no trunk prefix: still the national number
    ("K-5", "John Smith", "active", "+1 (495) 123-4567", None),  # the same last 10 digits, another country
    ("K-6", "Pavel Orlov", "active", "8 (812) 123-45-67", None),  # the same last 7 digits, another city
    ("K-7", "Anna Sokolova", "active", None, "not a number"),
]
EXPECTED = [("K-1", "Ivan Petrov", "active"), ("K-2", "Maria Petrova", "active"),
            ("K-3", "Alexey Smirnov", "disconnected"), ("K-4", "Olga Ivanova", "active")]


@pytest.fixture(scope="module")
async def postgres() -> str:
    url = crm_database.superuser_url("test")
    await crm_database.create_crm_database(url)
    return url


def sql_settings(service_env: dict[str, str], **source: object) -> Settings:
    return Settings(**settings_kwargs(service_env),  # type: ignore[arg-type]
                    lookup_sources=[{"kind": "sql", "name": "billing", "timeout_ms": 2000, **source}])


@pytest.fixture
async def make_lookup(settings: Settings, db: AsyncDatabase, service_env: dict[str, str]) -> AsyncIterator:
    made: list[CardLookup] = []

    def make(**source: object) -> CardLookup:
        made.append(card_lookup(sql_settings(service_env, **source), db=db))
        return made[-1]

    yield make
    for lookup in made:
        await lookup.close()


@pytest.mark.parametrize("query", [QUERY_NORMALIZED, QUERY_LAST_DIGITS], ids=["normalized-column", "last-digits"])
async def test_accounts_are_found_by_their_contact_or_sms_phone_in_any_stored_format(
        postgres: str, make_lookup, db: AsyncDatabase, query: str) -> None:
    await crm_database.replace_customers(postgres, ROWS)
    lookup = make_lookup(url=crm_database.reader_url(postgres), query=query)
    card = await lookup.resolve(NUMBER)
    assert [(a.id, a.holder, a.status) for a in card.accounts] == EXPECTED
    assert {a.crm_url for a in card.accounts} == {f"https://crm.example/c/{i}" for i, _, _ in EXPECTED}
    assert (card.kind, card.degraded, card.degraded_sources) == ("known", False, [])
    cached = await db["card_cache"].find_one({"_id": NUMBER.e164})
    assert [a["id"] for a in cached["card"]["accounts"]] == [i for i, _, _ in EXPECTED]
    assert cached["sources"] == "first:billing"

    nobody = await lookup.resolve(phone.normalize("+74957777777"))
    assert (nobody.kind, nobody.accounts, nobody.degraded) == ("unknown", [], False)
    started = time.perf_counter()
    warm = await lookup.within_budget(phone.normalize("8 (495) 765-43-21"), budget_seconds=0.3)
    assert (warm.kind, warm.degraded) == ("unknown", False) and time.perf_counter() - started < 0.3


async def test_the_source_cannot_write_even_with_a_query_that_tries(postgres: str, make_lookup) -> None:
    await crm_database.replace_customers(postgres, ROWS)
    writing = ("UPDATE customers SET full_name = 'Overwritten' WHERE contact_digits = :last10 "
               "RETURNING contract_no AS id, full_name AS holder")
    # Through the source every query is a read-only transaction, even on the superuser's URL.
    for url in (crm_database.reader_url(postgres), postgres.rsplit("/", 1)[0] + "/crm"):
        card = await make_lookup(url=url, query=writing).resolve(NUMBER)
        assert (card.kind, card.degraded) == ("unknown", True)
        [problem] = card.degraded_sources
        assert (problem.source, problem.reason) == ("billing", "failed")
        assert problem.detail == "ReadOnlySQLTransactionError: cannot execute UPDATE in a read-only transaction"
    assert set((await crm_database.fetch_names(postgres)).values()) == {row[1] for row in ROWS}
    # And the README's read-only account may not write at all, whoever uses it.
    assert await crm_database.reader_may_write(postgres) == "permission denied for table customers"


async def test_an_unreachable_database_does_not_fail_the_lookup(make_lookup, postgres: str) -> None:
    lookup = make_lookup(url="postgresql+asyncpg://crm_reader:x@127.0.0.1:9/crm", query=QUERY_NORMALIZED)
    card = await lookup.within_budget(NUMBER, budget_seconds=0.3)
    assert (card.kind, card.degraded) == ("unknown", True)
    [problem] = card.degraded_sources
    assert (problem.source, problem.reason) == ("billing", "failed") and "Connect" in problem.detail, problem
    [health] = await lookup.sources_health()
    assert (health.name, health.ok) == ("source:billing", False)

    ok = make_lookup(url=crm_database.reader_url(postgres), query=QUERY_NORMALIZED)
    [health] = await ok.sources_health()
    assert health.ok and health.detail.startswith("sql: postgresql answers; not asked yet"), health
