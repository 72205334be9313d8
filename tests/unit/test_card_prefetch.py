"""The listener's card lookups during the greeting: at most ``LISTENER_LOOKUPS_AT_ONCE`` ask the store at once."""

from __future__ import annotations

import asyncio
from typing import Any

from callercard.calls.card_prefetch import prefetch_card
from callercard.lookup.cards import build_card
from callercard.phone import Number
from callercard.settings import Settings

SETTINGS = Settings(**dict.fromkeys(("centrifugo_api_key", "centrifugo_token_secret", "ami_secret"), "s" * 20),
                    pbx_api_key="p" * 24, admin_api_key="a" * 24, listener_lookups_at_once=3)  # type: ignore[arg-type]


class SlowStore:
    """Stands in for ``CardLookup``: answers after a while, counting how many ask at once."""

    def __init__(self) -> None:
        self.asking = 0
        self.most = 0
        self.order: list[str] = []

    async def within_budget(self, number: Number, *, budget_seconds: float) -> Any:
        self.asking += 1
        self.most = max(self.most, self.asking)
        self.order.append(number.raw)
        await asyncio.sleep(0.01)
        self.asking -= 1
        return build_card(number, [])


async def test_only_so_many_lookups_ask_at_once_and_the_rest_go_in_order() -> None:
    store = SlowStore()
    slots = asyncio.Semaphore(SETTINGS.listener_lookups_at_once)
    numbers = [f"8495000{n:04d}" for n in range(20)]
    cards = await asyncio.gather(*(prefetch_card(lookup=store, raw=raw, settings=SETTINGS,  # type: ignore[arg-type]
                                                 slots=slots) for raw in numbers))
    assert [card["number"] for card in cards] == numbers
    assert store.most == 3
    assert store.order == numbers


async def test_without_slots_every_lookup_asks_at_once() -> None:
    store = SlowStore()
    await asyncio.gather(*(prefetch_card(lookup=store, raw=f"8495000{n:04d}", settings=SETTINGS)  # type: ignore[arg-type]
                           for n in range(20)))
    assert store.most == 20
