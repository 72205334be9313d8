"""The PBX's lookup API: the card as JSON, or a plain-text name for ``CURL()`` in the dialplan."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from callercard import metrics
from callercard.api.auth import PbxOrAdmin
from callercard.api.deps import ServicesDep
from callercard.api.params import parse_number
from callercard.lookup import names
from callercard.lookup.cards import Card, phone_display_name

router = APIRouter(prefix="/api/v1/lookup", tags=["lookup"])

NumberParam = Annotated[str, Query(description="the caller's number as the PBX has it", max_length=64)]
UniqueIdParam = Annotated[str | None, Query(description="Asterisk's UNIQUEID, for logs", max_length=64)]


async def _card(raw: str, services: ServicesDep, *, endpoint: str) -> Card:
    number = parse_number(raw, services)
    started = time.monotonic()
    card = await services.lookup.within_budget(number, budget_seconds=services.settings.lookup_budget_seconds)
    metrics.LOOKUP_SECONDS.labels(endpoint).observe(time.monotonic() - started)
    if card.degraded:
        metrics.LOOKUP_BUDGET_MISSES.labels(endpoint).inc()
    return card


@router.get("", summary="The caller card for a number", response_model=Card)
async def lookup(services: ServicesDep, _caller: PbxOrAdmin, number: NumberParam,
                 uniqueid: UniqueIdParam = None) -> Card:
    """Answers within ``lookup_budget_ms``; what was not there in time (the store, a source) makes the card
    ``degraded``, naming it in ``degraded_sources``."""
    return await _card(number, services, endpoint="card")


@router.get("/name", summary="The caller's display name, as plain text", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}}}})
async def lookup_name(
    services: ServicesDep,
    _caller: PbxOrAdmin,
    number: NumberParam,
    uniqueid: UniqueIdParam = None,
    ascii: Annotated[bool, Query(description="transliterate to ASCII for phones without Unicode")] = False,
    max_length: Annotated[int | None, Query(ge=1, le=200, description="cut the name to this length")] = None,
) -> PlainTextResponse:
    """Empty for unknown and withheld numbers, so desk phones fall back to showing the number; an unknown number
    whose caller gave a name an agent confirmed shows that name."""
    card = await _card(number, services, endpoint="name")
    name = phone_display_name(card)
    headers = {"X-Callercard-Degraded": "1"} if card.degraded else None
    return PlainTextResponse(names.for_phone_display(name, ascii_only=ascii, max_length=max_length),
                             headers=headers)
