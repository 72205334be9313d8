"""Customer accounts as the admin API and the importer accept them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

AccountId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                             pattern=r"^[A-Za-z0-9][A-Za-z0-9_./:-]*$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Status = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=32,
                                          pattern=r"^[a-z][a-z_-]*$")]


_INT64 = range(-(2**63), 2**63)
_MAX_EXTRA_DEPTH = 20


def _storable(extra: dict[str, Any]) -> dict[str, Any]:
    """Free-form ``extra`` as MongoDB and FerretDB v1 can store it: keys without ``.``, NUL or a leading
    ``$``, 64-bit integers, no array directly inside an array, limited nesting. Checked here so a bad value is a
    422 naming it, never a failed write."""

    def check(value: Any, where: str, depth: int) -> None:
        if depth > _MAX_EXTRA_DEPTH:
            raise ValueError(f"{where}: nested deeper than {_MAX_EXTRA_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if key.startswith("$") or "." in key or "\x00" in key:
                    raise ValueError(f"{where}: key {key!r} may not contain '.' or NUL, nor start with '$'")
                check(item, f"{where}.{key}", depth + 1)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, list):  # FerretDB v1 stores no arrays directly inside arrays
                    raise ValueError(f"{where}[{index}]: an array directly inside an array cannot be stored")
                check(item, f"{where}[{index}]", depth + 1)
        elif isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            raise ValueError(f"{where}: integers must fit in 64 bits")

    check(extra, "extra", 0)
    return extra


class PhoneKind(StrEnum):
    CONTACT = "contact"
    SMS = "sms"
    OTHER = "other"


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    kind: PhoneKind = PhoneKind.CONTACT


class AccountIn(BaseModel):
    """An account as written by an admin; ``id`` comes from the URL on PUT."""

    model_config = ConfigDict(extra="forbid")
    holder: Name
    status: Status = "active"
    phones: list[PhoneIn] = Field(default_factory=list, max_length=20)
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                            pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    tags: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50)
    crm_url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://")] | None = None
    extra: Annotated[dict[str, Any], AfterValidator(_storable)] = Field(default_factory=dict)


class AccountWithId(AccountIn):
    id: AccountId


class Phone(BaseModel):
    raw: str
    e164: str
    kind: PhoneKind


class Account(BaseModel):
    """An account as stored: phones normalized to E.164."""

    id: AccountId
    holder: str
    status: str
    phones: list[Phone]
    email: str | None = None
    tags: list[str] = Field(default_factory=list)
    crm_url: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def numbers(self) -> set[str]:
        return {phone.e164 for phone in self.phones}


class UpsertResult(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REPAIRED = "repaired"  # unchanged, but an earlier write of it had not finished re-indexing: finished now


class BulkResult(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: int = Field(default=0, description="unchanged accounts whose earlier write had not finished indexing "
                                                 "their numbers (a crash): finished now")
    rejected: list[dict[str, str]] = Field(default_factory=list)
