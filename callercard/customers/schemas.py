"""Customer accounts as the admin API and the importer accept them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

AccountId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                             pattern=r"^[A-Za-z0-9][A-Za-z0-9_./:-]*$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Status = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=32,
                                          pattern=r"^[a-z][a-z_-]*$")]


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
    extra: dict[str, Any] = Field(default_factory=dict)


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


class BulkResult(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict[str, str]] = Field(default_factory=list)
