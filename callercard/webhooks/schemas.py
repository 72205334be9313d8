"""Webhooks: admin-registered HTTPS endpoints per event kind, and the log of every delivery to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints


class EventKind(StrEnum):
    CALL_RINGING = "call.ringing"  # an agent's phone rings (one per agent rung)
    CALL_ANSWERED = "call.answered"  # an agent answered
    CALL_MISSED = "call.missed"  # a call ended unanswered (its log record; ``callback.needed`` says if it is listed)
    CALL_ENDED = "call.ended"  # every call, with its log record
    CALLBACK_DONE = "callback.done"  # a number's missed calls left the worklist (called back, marked, got through)
    DNC_CHANGED = "dnc.changed"  # a number was flagged, edited or unflagged on the do-not-call list


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not tried yet
    RETRYING = "retrying"  # failed; tried again at ``next_attempt_at``
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # every attempt failed; later deliveries went on
    CANCELLED = "cancelled"  # the endpoint was deleted before it was delivered


Secret = Annotated[str, StringConstraints(min_length=16, max_length=200)]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl = Field(description="https://… (http only with CALLERCARD_WEBHOOK_ALLOW_HTTP, for tests and dev)")
    events: list[EventKind] = Field(min_length=1, max_length=len(EventKind))
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    enabled: bool = True
    secret: Secret | None = Field(default=None, description="HMAC key for the signature; generated when absent")


class Endpoint(BaseModel):
    id: str
    url: str
    events: list[EventKind]
    description: str
    enabled: bool
    created_at: datetime
    created_by: str
    secret_hint: str = Field(description="the secret's last four characters")


class EndpointCreated(Endpoint):
    secret: str = Field(description="shown once: receivers verify X-Callercard-Signature with it")


class Delivery(BaseModel):
    delivery_id: str = Field(description="X-Callercard-Delivery: the same on every attempt; receivers dedupe on it")
    endpoint_id: str
    event_id: str
    event: EventKind
    sequence: int = Field(description="the event's place in the order events happened; sent in this order")
    status: DeliveryStatus
    attempts: int
    last_status: int | None = Field(description="the endpoint's last HTTP status")
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
