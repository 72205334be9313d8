"""The built-in lookup source: the accounts callercard holds in MongoDB (imported, or written through the API)."""

from __future__ import annotations

from typing import Any

from pymongo.errors import PyMongoError

from callercard.customers import store as customers_store
from callercard.lookup.sources import FoundAccount, SourceFailed
from callercard.mongo import ACCOUNTS, PHONE_INDEX, Database, InQueries, find_in
from callercard.together import Together


class _Ask:
    __slots__ = ("e164", "found")

    def __init__(self, e164: str) -> None:
        self.e164 = e164
        self.found: list[dict[str, Any]] = []


class AccountsSource:
    """Implements ``LookupSource`` with ``_id`` reads only: the number's phone index entry, then its accounts.

    Numbers asked about while others are being read go together (``callercard/together.py``): their phone
    entries in one ``$in`` query, then all their accounts in one, where ``$in`` uses the index
    (``mongo.InQueries``); else each number is read alone."""

    kind = "accounts"

    def __init__(self, *, db: Database, name: str = "accounts", in_queries: InQueries | None = None) -> None:
        self.name = name
        self._db = db
        self._in_queries = in_queries or InQueries(db)
        self._together: Together[_Ask] = Together("account_reads", self._read_together)

    async def find(self, *, e164: str) -> list[FoundAccount]:
        try:
            if await self._in_queries.indexed():
                ask = _Ask(e164)
                await self._together(ask)
                accounts = ask.found
            else:
                accounts = await self._read_alone(e164)
        except PyMongoError as error:
            raise SourceFailed(f"MongoDB: {type(error).__name__}") from error
        return [FoundAccount(id=doc["_id"], holder=doc["holder"], status=doc["status"], crm_url=doc.get("crm_url"))
                for doc in accounts]

    async def _read_alone(self, e164: str) -> list[dict[str, Any]]:
        entry = await customers_store.find_phone_entry(self._db, e164)
        accounts = await customers_store.find_accounts(self._db, entry.get("accounts", []) if entry else [])
        return list(accounts.values())

    async def _read_together(self, asks: list[_Ask]) -> list[BaseException | None]:
        if len(asks) == 1:
            asks[0].found = await self._read_alone(asks[0].e164)
            return [None]
        wanted = list(dict.fromkeys(ask.e164 for ask in asks))
        entries = await find_in(self._db[PHONE_INDEX], wanted, projection={"accounts": 1})
        of_number = {e164: entry.get("accounts", []) for e164, entry in entries.items()}
        accounts = await find_in(self._db[ACCOUNTS], list(dict.fromkeys(a for ids in of_number.values() for a in ids)))
        for ask in asks:
            ask.found = [accounts[account] for account in of_number.get(ask.e164, []) if account in accounts]
        return [None] * len(asks)

    async def probe(self) -> str:
        try:
            await self._db.command("ping")
        except PyMongoError as error:
            raise SourceFailed(f"MongoDB: {type(error).__name__}") from error
        return "MongoDB answers"

    async def close(self) -> None:
        """The client belongs to the process's root, which closes it."""
