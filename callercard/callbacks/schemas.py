"""The callback worklist: one row per number with open missed calls, and the claim an agent holds on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Claim(BaseModel):
    """Who is calling a number back: nobody else may call it until ``until`` (or the claim is released)."""

    agent_id: str
    agent_name: str = Field(description="the agent's name in the directory")
    by: str = Field(description="who claimed it, as the audit trail names callers")
    at: datetime
    until: datetime


class AccountBrief(BaseModel):
    id: str
    holder: str
    status: str


class CallbackRow(BaseModel):
    number: str = Field(description="E.164")
    display_number: str = Field(description="as agents read it: national format for the default region")
    name: str | None = Field(description="the most likely caller (names heard, or the account holders)")
    accounts: list[AccountBrief]
    missed: int = Field(description="open missed calls from this number")
    first_missed_at: datetime
    last_missed_at: datetime
    longest_wait_seconds: float | None
    queues: list[str]
    call_ids: list[str] = Field(description="the open missed calls, newest first")
    do_not_call: dict[str, Any] | None = None
    claim: Claim | None = Field(description="an unexpired claim, if someone is calling back")
