"""What a lookup source is configured with (``CALLERCARD_LOOKUP_SOURCES``, a JSON list of these models).

Part of the settings: ``callercard.settings.Settings`` reads the list; the models and their checks live here.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator

# --- lookup sources: where cards come from (CALLERCARD_LOOKUP_SOURCES, a JSON list) ---------------------------

# What a source may search its records by: phone.search_keys fills them in.
SEARCH_KEYS = ("e164", "digits", "national", "last10", "last7")
SourceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="shown in cards and /status")]
SourcesMode = Literal["first", "merge"]
# SQLAlchemy's own pattern for :name bind parameters in text() (it skips PostgreSQL's ::casts).
_BIND_PARAMETER = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)", re.UNICODE)


def _jmespath(expression: str | None) -> str | None:
    if expression is not None:
        try:
            jmespath.compile(expression)
        except JMESPathError as error:
            raise ValueError(f"{expression!r} is not a JMESPath expression: {error}") from None
    return expression


JmesPath = Annotated[str, Field(min_length=1, max_length=500)]


class _SourceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Asked at most this long; a source that takes longer is reported (the card says which) and skipped.
    timeout_ms: int = Field(default=1500, ge=10, le=60000)


class AccountsSourceSettings(_SourceSettings):
    """The accounts callercard holds itself (imported, or written through the API)."""

    kind: Literal["accounts"]
    name: SourceName = "accounts"


class HttpFields(BaseModel):
    """JMESPath expressions picking an account's fields out of one of the CRM's records."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: JmesPath = "id"
    holder: JmesPath = "holder"
    status: JmesPath | None = "status"
    crm_url: JmesPath | None = "crm_url"
    # The record's phone numbers as the CRM stores them; when set, records whose numbers are not the caller's
    # (after normalizing them) are dropped, so a CRM search by the last digits stays exact.
    phones: JmesPath | None = None

    _compile = field_validator("id", "holder", "status", "crm_url", "phones")(_jmespath)


class HttpSourceSettings(_SourceSettings):
    """A CRM's HTTP API: ``GET url`` with the number filled in; 404 or no records means "not there"."""

    kind: Literal["http"]
    name: SourceName = "crm"
    url: str = Field(max_length=2000, description="e.g. https://crm.example/api/phones/{e164}")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="sent with every request (auth)")
    records: JmesPath = Field(default="@", description="where the list of records is in the answer")
    fields: HttpFields = HttpFields()
    health_url: AnyHttpUrl | None = None

    _compile = field_validator("records")(_jmespath)

    @field_validator("url")
    @classmethod
    def _template(cls, url: str) -> str:
        if not re.match(r"^https?://[^/{}]+", url):
            raise ValueError("must be an http:// or https:// URL with a fixed host")
        try:
            used = {name for _, name, _, _ in string.Formatter().parse(url) if name is not None}
        except ValueError as error:
            raise ValueError(f"is not a URL template: {error}") from None
        if not used or not used <= set(SEARCH_KEYS):
            raise ValueError(f"must use one or more of {{{'}, {'.join(SEARCH_KEYS)}}}; it uses {sorted(used)}")
        return url


class SqlSourceSettings(_SourceSettings):
    """A database the CRM keeps its customers in, read with one parameterised query (SQLAlchemy, async driver)."""

    kind: Literal["sql"]
    name: SourceName = "sql"
    url: SecretStr = Field(description="e.g. postgresql+asyncpg://reader:…@db/crm (a read-only account)")
    query: str = Field(min_length=10, max_length=10000,
                       description="returns id, holder[, status, crm_url, phone or *_phone columns]")
    pool_size: int = Field(default=4, ge=1, le=50)

    @field_validator("query")
    @classmethod
    def _parameters(cls, query: str) -> str:
        used = set(_BIND_PARAMETER.findall(query))
        if not used or not used <= set(SEARCH_KEYS):
            raise ValueError(f"must use one or more of :{', :'.join(SEARCH_KEYS)}; it uses {sorted(used)}")
        return query


SourceSettings = Annotated[AccountsSourceSettings | HttpSourceSettings | SqlSourceSettings, Field(discriminator="kind")]


BUILT_IN_SOURCE: SourceSettings = AccountsSourceSettings(kind="accounts")


def check_sources(sources: list[SourceSettings]) -> list[SourceSettings]:
    if not sources:
        raise ValueError("needs at least one source (the built-in one is {\"kind\": \"accounts\"})")
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be unique; give each a \"name\" ({names})")
    return sources
