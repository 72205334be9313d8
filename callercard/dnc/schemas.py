"""Do-not-call entries, keyed by E.164 number, and their audit history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator


class DncReason(StrEnum):
    HUNG_UP_AFTER_INTRO = "hung_up_after_intro"
    ASKED_NOT_TO_CALL = "asked_not_to_call"
    INVALID_NUMBER = "invalid_number"
    ABROAD = "abroad"
    OTHER = "other"


Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class DncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: DncReason
    note: Note | None = None
    expires_at: datetime | None = None

    @model_validator(mode="after")
    def _other_needs_a_note(self) -> Self:
        if self.reason is DncReason.OTHER and not self.note:
            raise ValueError("note is required when reason is 'other'")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a time zone, e.g. 2026-12-31T00:00:00Z")
        return self


class DncEntry(BaseModel):
    number: str
    reason: DncReason
    note: str | None
    flagged_by: str
    flagged_at: datetime
    expires_at: datetime | None


class DncChange(BaseModel):
    number: str
    action: str  # flag, edit, unflag, override
    by: str
    at: datetime
    reason: DncReason | None = None
    note: str | None = None
    expires_at: datetime | None = None
