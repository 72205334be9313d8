"""The API's in-memory cards: served only while changes are heard, never kept across a change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callercard import phone
from callercard.lookup.cards import Card, build_card
from callercard.lookup.local_cache import LocalCardCache
from callercard.lookup.sources import FoundAccount

E164 = "+74951234567"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def card(holder: str = "Ivan Petrov", **update: object) -> Card:
    built = build_card(phone.normalize(E164), [FoundAccount(id="C-1", holder=holder, status="active")])
    return built.model_copy(update=update)


def listening_cache(clock: Clock | None = None, *, max_entries: int = 10, ttl: float = 10.0) -> LocalCardCache:
    cache = LocalCardCache(max_entries=max_entries, ttl_seconds=ttl, clock=clock or Clock())
    cache.start_listening()
    return cache


def test_nothing_is_served_or_kept_before_the_changes_are_heard() -> None:
    cache = LocalCardCache(max_entries=10, ttl_seconds=10)
    cache.put(E164, card(), ticket=cache.ticket())
    assert len(cache) == 0
    cache.start_listening()
    assert cache.get(E164) is None


def test_a_card_put_is_served_until_its_number_changes() -> None:
    cache = listening_cache()
    cache.put(E164, card(), ticket=cache.ticket())
    assert cache.get(E164) == card()
    cache.forget(["+74957654321"])
    assert cache.get(E164) == card()
    cache.forget([E164])
    assert cache.get(E164) is None


def test_a_card_read_while_a_change_was_announced_is_not_kept() -> None:
    cache = listening_cache()
    ticket = cache.ticket()  # the lookup starts reading the store...
    cache.forget(["+79161234567"])  # ...a change is announced meanwhile (any number: the read may be older)
    cache.put(E164, card("Old Name"), ticket=ticket)
    assert cache.get(E164) is None
    cache.put(E164, card("New Name"), ticket=cache.ticket())
    assert cache.get(E164).display_name == "New Name"


def test_losing_the_channel_empties_the_cache_and_stops_serving() -> None:
    cache = listening_cache()
    cache.put(E164, card(), ticket=cache.ticket())
    ticket = cache.ticket()
    cache.stop_listening()
    assert cache.get(E164) is None
    cache.put(E164, card(), ticket=ticket)
    cache.start_listening()  # announcements in between were missed: start empty
    assert cache.get(E164) is None
    assert len(cache) == 0


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = listening_cache(clock, ttl=10)
    cache.put(E164, card(), ticket=cache.ticket())
    clock.now += 9.9
    assert cache.get(E164) is not None
    clock.now += 0.2
    assert cache.get(E164) is None


def test_a_do_not_call_flag_that_lapses_expires_the_card_with_it() -> None:
    clock = Clock()
    cache = listening_cache(clock, ttl=3600)
    lapses = datetime.now(UTC) + timedelta(seconds=5)
    cache.put(E164, card(do_not_call={"flagged": True, "expires_at": lapses}), ticket=cache.ticket())
    clock.now += 4
    assert cache.get(E164) is not None
    clock.now += 2
    assert cache.get(E164) is None


def test_degraded_cards_are_never_kept() -> None:
    cache = listening_cache()
    cache.put(E164, card(degraded=True), ticket=cache.ticket())
    assert cache.get(E164) is None


def test_the_least_recently_used_card_goes_first() -> None:
    cache = listening_cache(max_entries=2)
    for number in ("+71", "+72"):
        cache.put(number, card(), ticket=cache.ticket())
    assert cache.get("+71") is not None  # +72 is now the least recently used
    cache.put("+73", card(), ticket=cache.ticket())
    assert [cache.get(n) is not None for n in ("+71", "+72", "+73")] == [True, False, True]


def test_a_zero_ttl_or_size_turns_it_off() -> None:
    for cache in (listening_cache(ttl=0), listening_cache(max_entries=0)):
        assert not cache.enabled
        cache.put(E164, card(), ticket=cache.ticket())
        assert cache.get(E164) is None


def test_a_card_is_not_kept_past_its_card_cache_entry() -> None:
    clock = Clock()
    cache = listening_cache(clock, ttl=3600)
    cache.put(E164, card(), ticket=cache.ticket(), until=datetime.now(UTC) + timedelta(seconds=5))
    clock.now += 4
    assert cache.get(E164) is not None
    clock.now += 2
    assert cache.get(E164) is None
