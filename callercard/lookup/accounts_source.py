"""The built-in lookup source: the accounts callercard holds in MongoDB (imported, or written through the API)."""

from __future__ import annotations

from pymongo.errors import PyMongoError

from callercard.customers import store as customers_store
from callercard.lookup.sources import FoundAccount, SourceFailed
from callercard.mongo import Database


class AccountsSource:
    """Implements ``LookupSource`` with ``_id`` reads only: the number's phone index entry, then its accounts."""

    kind = "accounts"

    def __init__(self, *, db: Database, name: str = "accounts") -> None:
        self.name = name
        self._db = db

    async def find(self, *, e164: str) -> list[FoundAccount]:
        try:
            entry = await customers_store.find_phone_entry(self._db, e164)
            accounts = await customers_store.find_accounts(self._db, entry.get("accounts", []) if entry else [])
        except PyMongoError as error:
            raise SourceFailed(f"MongoDB: {type(error).__name__}") from error
        return [FoundAccount(id=doc["_id"], holder=doc["holder"], status=doc["status"], crm_url=doc.get("crm_url"))
                for doc in accounts.values()]

    async def probe(self) -> str:
        try:
            await self._db.command("ping")
        except PyMongoError as error:
            raise SourceFailed(f"MongoDB: {type(error).__name__}") from error
        return "MongoDB answers"

    async def close(self) -> None:
        """The client belongs to the process's root, which closes it."""
