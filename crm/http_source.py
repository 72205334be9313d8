"""A CRM's HTTP API as a lookup source: ``GET`` its URL with the number filled in, its JSON mapped to accounts."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from callercard import phone
from callercard.lookup.sources import FoundAccount, SourceFailed, account_from_record
from callercard.source_settings import HttpSourceSettings

MAX_RECORDS = 100  # a search that matches more is the CRM's fuzziness, not one caller


class HttpSource:
    """Implements ``LookupSource``. 404, ``[]``, ``{}`` or ``null`` is "not there"; any other non-200 answer, an
    answer that is not JSON, or records that are not a list are ``SourceFailed``."""

    kind = "http"

    def __init__(self, config: HttpSourceSettings, *, region: str, area_code: str | None) -> None:
        self.name = config.name
        self._url = config.url
        self._health_url = str(config.health_url) if config.health_url else None
        self._region, self._area_code = region, area_code
        self._records = jmespath.compile(config.records)
        fields = config.fields
        self._fields: dict[str, ParsedResult] = {
            name: jmespath.compile(expression) for name, expression in
            (("id", fields.id), ("holder", fields.holder), ("status", fields.status), ("crm_url", fields.crm_url))
            if expression is not None}
        self._phones = jmespath.compile(fields.phones) if fields.phones else None
        timeout = config.timeout_ms / 1000
        self._client = httpx.AsyncClient(
            headers={"Accept": "application/json", **{k: v.get_secret_value() for k, v in config.headers.items()}},
            timeout=httpx.Timeout(timeout, pool=timeout), follow_redirects=False,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))

    async def find(self, *, e164: str) -> list[FoundAccount]:
        # Every form URL-quoted: "+" in a query string would read as a space.
        url = self._url.format(**{key: quote(value, safe="") for key, value in phone.search_keys(e164).items()})
        body = await self._get(url)
        if body is None:
            return []
        try:
            records = self._records.search(body)
        except JMESPathError as error:
            raise SourceFailed(f"records: {error}") from error
        if records in (None, {}, []):
            return []
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            raise SourceFailed(f"records: the answer's records are a {type(records).__name__}, not a list")
        return [account for record in records[:MAX_RECORDS]
                if isinstance(record, dict) and (account := self._account(record, e164)) is not None]

    def _account(self, record: dict[str, Any], e164: str) -> FoundAccount | None:
        try:
            fields = {name: expression.search(record) for name, expression in self._fields.items()}
            phones = self._phones.search(record) if self._phones is not None else None
        except JMESPathError as error:
            raise SourceFailed(f"fields: {error}") from error
        if self._phones is not None:
            phones = [] if phones is None else phones if isinstance(phones, list) else [phones]
        return account_from_record(fields, e164=e164, phones=phones, region=self._region, area_code=self._area_code)

    async def _get(self, url: str) -> Any:
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as error:
            raise SourceFailed(f"HTTP: {type(error).__name__}") from error
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        if response.status_code != httpx.codes.OK:
            raise SourceFailed(f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as error:
            raise SourceFailed("the answer is not JSON") from error

    async def probe(self) -> str:
        if self._health_url is None:
            return "no health_url to probe"
        try:
            response = await self._client.get(self._health_url)
        except httpx.HTTPError as error:
            raise SourceFailed(f"HTTP: {type(error).__name__}") from error
        if response.status_code >= 300:
            raise SourceFailed(f"health_url answered HTTP {response.status_code}")
        return f"health_url answered HTTP {response.status_code}"

    async def close(self) -> None:
        await self._client.aclose()
