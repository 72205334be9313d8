"""The API process's own memory of cards it answered: repeated lookups skip the store.

Kept only while the process hears every change. Whoever changes what a card shows (accounts, the
do-not-call list, the call log) announces the numbers on Redis (``redis_state.announce_changed_numbers``);
``keep_fresh`` forgets them here. Without that channel (Redis down, not yet subscribed) nothing is
served from memory, so a missed announcement can never leave a stale card behind it. A card read from
the store while a change was announced is not kept (the ``ticket`` check), and every entry expires
after ``ttl_seconds`` anyway, which bounds what a writer that could not reach Redis leaves stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import redis.asyncio as aioredis

from callercard import redis_state
from callercard.lookup.cards import Card

log = logging.getLogger(__name__)


class LocalCardCache:
    """E.164 → the complete card (accounts, call history, do-not-call), least recently used dropped first."""

    def __init__(self, *, max_entries: int, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, Card]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._epoch = 0
        self._listening = False

    @property
    def enabled(self) -> bool:
        return self._max_entries > 0 and self._ttl_seconds > 0

    @property
    def listening(self) -> bool:
        return self._listening

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, e164: str) -> Card | None:
        if not self._listening:
            return None
        found = self._entries.get(e164)
        if found is None:
            return None
        expires, card = found
        if self._clock() >= expires:
            del self._entries[e164]
            return None
        self._entries.move_to_end(e164)
        return card

    def ticket(self) -> int:
        """Taken before reading the store; ``put`` keeps the card only if nothing changed meanwhile."""
        return self._epoch

    def put(self, e164: str, card: Card, *, ticket: int, until: datetime | None = None) -> None:
        """Keep ``card`` for at most ``ttl_seconds``, and never past ``until`` (its card cache entry's expiry)."""
        if not (self.enabled and self._listening) or ticket != self._epoch or card.degraded:
            return
        ttl = self._ttl_seconds
        # The do-not-call flag lapses on its own, without an announcement; the cached card at its cache life.
        for expiry in (_do_not_call_expiry(card), until):
            if expiry is not None:
                ttl = min(ttl, max(0.0, (expiry - datetime.now(UTC)).total_seconds()))
        self._entries[e164] = (self._clock() + ttl, card)
        self._entries.move_to_end(e164)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def forget(self, numbers: Iterable[str]) -> None:
        self._epoch += 1
        for number in numbers:
            self._entries.pop(number, None)

    def forget_all(self) -> None:
        self._epoch += 1
        self._entries.clear()

    def start_listening(self) -> None:
        self.forget_all()  # changes announced while nobody listened are unknown: start empty
        self._listening = True

    def stop_listening(self) -> None:
        self._listening = False
        self.forget_all()


def _do_not_call_expiry(card: Card) -> datetime | None:
    expires_at = (card.do_not_call or {}).get("expires_at")
    if isinstance(expires_at, datetime):
        return expires_at
    if isinstance(expires_at, str):
        return datetime.fromisoformat(expires_at)
    return None


async def keep_fresh(cache: LocalCardCache, client: aioredis.Redis, *, retry_seconds: float = 1.0) -> None:
    """Follow announced changes for as long as the process runs; reconnect after Redis trouble."""
    if not cache.enabled:
        return
    while True:
        try:
            await redis_state.follow_changed_numbers(client, on_subscribed=cache.start_listening,
                                               on_changed=cache.forget, on_everything_changed=cache.forget_all)
        except asyncio.CancelledError:
            cache.stop_listening()
            raise
        except Exception as error:  # noqa: BLE001  # any trouble on the channel: serve from the store, retry
            if cache.listening:
                log.warning("lost the change announcements (%s: %s); lookups read the store until they are back",
                            type(error).__name__, error)
            cache.stop_listening()
        await asyncio.sleep(retry_seconds)
