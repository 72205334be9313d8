"""Freshness hooks for a CRM: ``POST /api/v1/numbers/{number}:changed`` and ``POST /api/v1/numbers:changed``.

The CRM (a ``crm`` key) or an admin says that what it holds about some numbers changed; their cards are dropped
at once, in the store and in every API process's memory, and rebuilt at the next lookup, or at once in the
background with ``rebuild``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from callercard.api.auth import CrmOrAdmin
from callercard.api.deps import ServicesDep
from callercard.api.params import dialable_number
from callercard.lookup import store as card_store

router = APIRouter(prefix="/api/v1", tags=["lookup"])
MAX_NUMBERS = 1000

RebuildParam = Annotated[bool, Query(description="rebuild the cards now, in the background (else at the next "
                                                 "lookup)")]


class ChangedNumbers(BaseModel):
    numbers: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_NUMBERS, description="in any format; normalized like every number")
    rebuild: bool = False


class Changed(BaseModel):
    numbers: list[str] = Field(description="the numbers whose cards were dropped, in E.164")
    rebuilding: bool


async def _changed(services: ServicesDep, numbers: list[str], *, rebuild: bool) -> Changed:
    await card_store.numbers_changed(services.db, numbers)
    services.lookup.forget(numbers)
    await services.cards_changed(numbers)  # the other API processes forget their copies
    if rebuild:
        services.lookup.refresh_later(numbers)
    return Changed(numbers=numbers, rebuilding=rebuild)


@router.post("/numbers/{number}:changed", status_code=status.HTTP_202_ACCEPTED, response_model=Changed,
             summary="A number's data changed in the CRM: drop its card")
async def number_changed(services: ServicesDep, _caller: CrmOrAdmin,
                         number: Annotated[str, Path(max_length=64, description="the number, in any format")],
                         rebuild: RebuildParam = False) -> Changed:
    return await _changed(services, [dialable_number(number, services)], rebuild=rebuild)


@router.post("/numbers:changed", status_code=status.HTTP_202_ACCEPTED, response_model=Changed,
             summary="Many numbers' data changed in the CRM: drop their cards")
async def numbers_changed(services: ServicesDep, _caller: CrmOrAdmin, body: ChangedNumbers) -> Changed:
    normalized = [dialable_number(raw, services, field=f"numbers.{index}") for index, raw in enumerate(body.numbers)]
    return await _changed(services, sorted(set(normalized)), rebuild=body.rebuild)
