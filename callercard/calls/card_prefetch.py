"""The card a listener fetches for itself during the greeting, so the first ``ringing`` already carries it."""

from __future__ import annotations

import asyncio
from typing import Any

from callercard import phone
from callercard.lookup.services import CardLookup
from callercard.settings import Settings


async def prefetch_card(*, lookup: CardLookup, raw: str, settings: Settings,
                        slots: asyncio.Semaphore | None = None) -> dict[str, Any]:
    """The call's card; with ``slots``, only that many of the process's lookups ask the store at once, the rest
    wait their turn in order: an overloaded store then works through its queue instead of timing every lookup
    out at once (the pool's wait queue, then the budget), and what waits costs only a task."""
    if slots is not None:
        async with slots:
            return await prefetch_card(lookup=lookup, raw=raw, settings=settings)
    try:
        number = phone.normalize(raw, region=settings.default_region, default_area_code=settings.default_area_code)
    except phone.InvalidNumber:
        number = phone.Number(raw=raw, kind=phone.NumberKind.WITHHELD, e164=None)
    # The greeting leaves seconds before the first ring: wait for the store and the sources as long as they may
    # take (each source within its own timeout).
    card = await lookup.within_budget(number, budget_seconds=settings.greeting_lookup_budget_seconds)
    return card.model_dump(mode="json")


def found(lookup: asyncio.Task[dict[str, Any]]) -> bool:
    """The card lookup finished with a card (not cancelled by the call's end, not failed)."""
    return lookup.done() and not lookup.cancelled() and lookup.exception() is None


async def known(card: dict[str, Any]) -> dict[str, Any]:
    return card
