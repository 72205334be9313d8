"""Lookup sources' pure parts: the settings' source list, CRM records to accounts, what a card says while the
sources answer, in order or merged."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError

from callercard import phone
from callercard.lookup.asking import SourceQuery
from callercard.lookup.cards import build_card
from callercard.lookup.sources import FoundAccount, SourceFailed, TrackedSource, account_from_record
from callercard.settings import Settings
from callercard.source_settings import HttpSourceSettings, SqlSourceSettings

SECRETS = dict.fromkeys(("centrifugo_api_key", "centrifugo_token_secret", "ami_secret", "pbx_api_key",
                         "admin_api_key"), "s" * 20)
E164 = "+74951234567"


def settings_from_env(monkeypatch: pytest.MonkeyPatch, sources: str) -> Settings:
    monkeypatch.setenv("CALLERCARD_LOOKUP_SOURCES", sources)
    return Settings(**SECRETS)  # type: ignore[arg-type]


def test_the_default_is_the_built_in_accounts_alone() -> None:
    settings = Settings(**SECRETS)  # type: ignore[arg-type]
    assert [(s.kind, s.name) for s in settings.lookup_sources] == [("accounts", "accounts")]
    assert settings.lookup_sources_mode == "first"


def test_the_ordered_source_list_is_parsed_from_json_once(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(monkeypatch, json.dumps([
        {"kind": "accounts"},
        {"kind": "http", "url": "https://crm.example/api/phones/{e164}", "headers": {"Authorization": "Bearer t"},
         "timeout_ms": 800, "records": "data.customers", "fields": {"holder": "join(' ', [first, last])"}},
        {"kind": "sql", "name": "billing", "url": "postgresql+asyncpg://r:p@db/crm",
         "query": "SELECT id, holder FROM c WHERE digits::text = :last10"}]))
    _, http, sql = settings.lookup_sources
    assert isinstance(http, HttpSourceSettings) and isinstance(sql, SqlSourceSettings)
    assert [s.name for s in settings.lookup_sources] == ["accounts", "crm", "billing"]
    assert (http.timeout_ms, http.records, http.fields.holder) == (800, "data.customers", "join(' ', [first, last])")
    assert http.headers["Authorization"].get_secret_value() == "Bearer t" and "Bearer" not in repr(settings)
    assert sql.url.get_secret_value() == "postgresql+asyncpg://r:p@db/crm" and "r:p" not in repr(settings)
    assert settings.greeting_lookup_budget_seconds == (2 * 2000 + 1500 + 800 + 1500) / 1000


@pytest.mark.parametrize(("sources", "where", "says"), [
    ("not json", ("lookup_sources",), "is not JSON"),
    ("[]", ("lookup_sources",), "at least one source"),
    ('[{"kind": "accounts"}, {"kind": "accounts"}]', ("lookup_sources",), "names must be unique"),
    ('[{"kind": "ldap"}]', ("lookup_sources", 0), "does not match any of the expected tags"),
    ('[{"kind": "http", "url": "ftp://crm/{e164}"}]', ("lookup_sources", 0, "http", "url"), "http:// or https://"),
    ('[{"kind": "http", "url": "https://crm/{phone}"}]', ("lookup_sources", 0, "http", "url"), "it uses ['phone']"),
    ('[{"kind": "http", "url": "https://crm/{e164}", "records": "a[["}]', ("lookup_sources", 0, "http", "records"),
     "not a JMESPath expression"),
    ('[{"kind": "sql", "url": "sqlite+aiosqlite://", "query": "SELECT id FROM c WHERE p = :phone"}]',
     ("lookup_sources", 0, "sql", "query"), "it uses ['phone']"),
    ('[{"kind": "accounts", "timeout_ms": 0}]', ("lookup_sources", 0, "accounts", "timeout_ms"), "greater than"),
])
def test_a_bad_source_list_is_refused_naming_where(monkeypatch: pytest.MonkeyPatch, sources: str,
                                                   where: tuple[object, ...], says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings_from_env(monkeypatch, sources)
    [error] = refused.value.errors()
    assert error["loc"] == where and says in error["msg"], error


def test_the_forms_a_source_may_search_by() -> None:
    assert phone.search_keys(E164) == {"e164": E164, "digits": "74951234567", "national": "4951234567",
                                       "last10": "4951234567", "last7": "1234567"}


@pytest.mark.parametrize(("phones", "found"), [
    (["8 (495) 123-45-67"], True), (["+7 916 000-00-01", "84951234567"], True), (["(495) 123-4567"], True),
    (["+1 (495) 123-4567"], False), (["8 (812) 123-45-67"], False), (["not a number", None, 7], False), ([], False),
    (None, True),  # the source matched exactly and gives no numbers: taken as is
])
def test_a_crm_record_is_the_callers_only_if_one_of_its_numbers_normalizes_to_the_callers(
        phones: list[object] | None, found: bool) -> None:
    record = {"id": "K-1", "holder": " Ivan Petrov ", "status": "Active", "crm_url": "https://crm.example/K-1"}
    account = account_from_record(record, e164=E164, phones=phones, region="RU", area_code=None)
    assert account == (FoundAccount(id="K-1", holder="Ivan Petrov", status="active",
                                    crm_url="https://crm.example/K-1") if found else None)


def test_a_record_without_an_id_or_holder_is_skipped_and_a_missing_status_is_active() -> None:
    common = {"e164": E164, "phones": None, "region": "RU", "area_code": None}
    assert account_from_record({"holder": "X"}, **common) is None
    assert account_from_record({"id": "K-1", "holder": {"first": "X"}}, **common) is None
    assert account_from_record({"id": 42, "holder": "Anna"}, **common) == FoundAccount(id="42", holder="Anna")


def test_the_same_account_from_two_sources_is_shown_once_as_the_first_gave_it() -> None:
    card = build_card(phone.normalize(E164), [FoundAccount("K-2", "Maria"), FoundAccount("K-1", "Ivan"),
                                              FoundAccount("K-2", "Maria Renamed")])
    assert [(a.id, a.holder) for a in card.accounts] == [("K-1", "Ivan"), ("K-2", "Maria")]
    assert card.display_name == "Ivan + Maria"


class Source:
    """A source answering from memory after ``delay`` s (or failing): only the query's logic is under test."""

    kind = "memory"

    def __init__(self, name: str, accounts: list[FoundAccount], *, delay: float = 0.0, fail: bool = False) -> None:
        self.name, self.accounts, self.delay, self.fail, self.asked = name, accounts, delay, fail, 0

    async def find(self, *, e164: str) -> list[FoundAccount]:
        self.asked += 1
        await asyncio.sleep(self.delay)
        if self.fail:
            raise SourceFailed("HTTP 500")
        return self.accounts

    async def probe(self) -> str:
        return "ok"

    async def close(self) -> None:
        pass


def query(mode: str, *sources: Source, timeout: float = 1.0) -> SourceQuery:
    return SourceQuery(e164=E164, sources=[TrackedSource(s, timeout_seconds=timeout) for s in sources], mode=mode,
                       rev=0)


async def answered(q: SourceQuery, wait: float | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    q.task = asyncio.create_task(q.run())
    await asyncio.wait({q.task}, timeout=wait)
    accounts, problems = q.so_far()
    return [a.id for a in accounts], [(p.source, p.reason) for p in problems]


async def test_in_order_the_first_source_that_has_the_number_wins_and_the_rest_are_not_asked() -> None:
    local, crm = Source("accounts", [FoundAccount("A-1", "Olga")]), Source("crm", [FoundAccount("K-1", "Ivan")])
    assert await answered(query("first", local, crm)) == (["A-1"], [])
    assert crm.asked == 0
    empty = Source("accounts", [])
    assert await answered(query("first", empty, crm)) == (["K-1"], [])


async def test_in_order_a_failed_or_slow_source_is_named_and_a_slow_one_stops_the_card_there() -> None:
    broken, crm = Source("billing", [], fail=True), Source("crm", [FoundAccount("K-1", "Ivan")])
    assert await answered(query("first", broken, crm)) == (["K-1"], [("billing", "failed")])
    slow, later = Source("crm", [FoundAccount("K-1", "Ivan")], delay=0.3), Source("billing", [])
    q = query("first", slow, later)
    assert await answered(q, wait=0.05) == ([], [("crm", "slow")])
    await asyncio.wait({q.task})
    assert q.so_far() == ([FoundAccount("K-1", "Ivan")], []) and later.asked == 0
    hanging = Source("crm", [], delay=1.0)
    assert await answered(query("first", hanging, timeout=0.05)) == ([], [("crm", "timed_out")])


async def test_merging_asks_every_source_at_once_and_keeps_what_came_in_time() -> None:
    fast, slow = Source("accounts", [FoundAccount("A-1", "Olga")]), Source("crm", [FoundAccount("K-1", "Ivan")],
                                                                           delay=0.3)
    q = query("merge", fast, slow)
    assert await answered(q, wait=0.1) == (["A-1"], [("crm", "slow")])
    await asyncio.wait({q.task})
    assert [a.id for a in q.so_far()[0]] == ["A-1", "K-1"]
