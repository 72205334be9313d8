"""Names heard on a number: what agents confirmed was the person speaking, ranked for the next card."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SpokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class HeardName(BaseModel):
    """One name heard on a number, as the next card ranks it."""

    name: str = Field(description="as it was last confirmed")
    count: int = Field(description="calls on which it was confirmed")
    last_heard_at: datetime
    hint: str | None = Field(default=None, description="'usually' or 'last time', for the most likely name only")


class SpeakerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: SpokenName = Field(description="who is speaking: an account holder's name or one the caller gave")


class SpeakerOut(BaseModel):
    call_id: str
    number: str = Field(description="E.164")
    name: str | None = Field(description="who was confirmed on this call now (null: withdrawn)")
    previous: str | None = Field(description="who had been confirmed on this call before")
    heard: list[HeardName] = Field(description="the number's names as its next card ranks them")


class HeardChange(BaseModel):
    """One entry of a number's audit trail; appended, never rewritten."""

    number: str
    call_id: str
    action: str = Field(description="confirm, correct or withdraw")
    name: str | None
    previous: str | None
    by: str
    at: datetime
