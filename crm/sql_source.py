"""A CRM's SQL database as a lookup source: one parameterised query, through SQLAlchemy's asyncio engine.

The query binds any of ``phone.search_keys``' forms (``:e164``, ``:digits``, ``:national``, ``:last10``,
``:last7``) and returns ``id`` and ``holder`` (and optionally ``status``, ``crm_url``) per account. Columns named
``phone`` or ending in ``_phone`` are the numbers as the CRM stores them: a row none of whose numbers normalizes
to the caller's is dropped, so a query on the last digits stays exact. On PostgreSQL every query runs in a
read-only transaction; the account it uses should be able to read only what the query needs (README).
"""

from __future__ import annotations

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callercard import phone
from callercard.lookup.sources import FoundAccount, SourceFailed, account_from_record
from callercard.source_settings import SqlSourceSettings

MAX_ROWS = 100  # a query that matches more is a query that matches too much, not one caller


class SqlSource:
    """Implements ``LookupSource``; the engine's pool holds ``pool_size`` connections, opened on first use."""

    kind = "sql"

    def __init__(self, config: SqlSourceSettings, *, region: str, area_code: str | None) -> None:
        self.name = config.name
        self._region, self._area_code = region, area_code
        self._query = text(config.query)
        self._parameters = set(self._query.compile().params)
        timeout = config.timeout_ms / 1000
        self._engine: AsyncEngine = create_async_engine(
            config.url.get_secret_value(), pool_size=config.pool_size, max_overflow=0, pool_timeout=timeout,
            pool_pre_ping=True, hide_parameters=True)
        if self._engine.dialect.name == "postgresql":
            # Even an account that may write cannot, through this source.
            self._engine = self._engine.execution_options(postgresql_readonly=True)

    async def find(self, *, e164: str) -> list[FoundAccount]:
        keys = phone.search_keys(e164)
        try:
            async with self._engine.connect() as connection:
                result = await connection.execute(self._query, {name: keys[name] for name in self._parameters})
                rows = result.mappings().fetchmany(MAX_ROWS)
        except (SQLAlchemyError, OSError) as error:  # OSError: a refused connection is not wrapped
            raise SourceFailed(_describe(error)) from error
        return [account for row in rows if (account := self._account(row, e164)) is not None]

    def _account(self, row: RowMapping, e164: str) -> FoundAccount | None:
        record = {str(column): value for column, value in row.items()}
        stored = [column for column in record if column == "phone" or column.endswith("_phone")]
        phones = [record[column] for column in stored if record[column] is not None] if stored else None
        return account_from_record(record, e164=e164, phones=phones, region=self._region, area_code=self._area_code)

    async def probe(self) -> str:
        try:
            async with self._engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except (SQLAlchemyError, OSError) as error:  # OSError: a refused connection is not wrapped
            raise SourceFailed(_describe(error)) from error
        return f"{self._engine.dialect.name} answers"

    async def close(self) -> None:
        await self._engine.dispose()


def _describe(error: SQLAlchemyError | OSError) -> str:
    """The database's own words (first line), never the statement or the URL."""
    cause = getattr(error, "orig", None) or error.__cause__ or error
    cause = cause.__cause__ or cause  # SQLAlchemy's adapter wraps the driver's own error (asyncpg's names it)
    first_line = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first_line}"[:200]
