"""Ranking the names heard on a number (pure): how often and how recently, corrections, folding, the card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callercard.heard_names.ranking import KEPT_CALLS, HeardState, confirm, merge_into_card, rank
from callercard.lookup.cards import build_card
from callercard.lookup.sources import FoundAccount
from callercard.phone import normalize

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def heard(*confirmations: tuple[str, str, timedelta]) -> HeardState:
    state = HeardState()
    for call_id, name, ago in confirmations:
        state = confirm(state, call_id=call_id, name=name, by="agent:anna", at=NOW - ago)
    return state


def test_the_name_heard_most_and_lately_comes_first() -> None:
    state = heard(("c1", "Nadezhda Petrovna", timedelta(days=3)), ("c2", "Alexey", timedelta(days=2)),
                  ("c3", "Alexey", timedelta(days=1)))
    assert [(h.name, h.count) for h in rank(state, now=NOW)] == [("Alexey", 2), ("Nadezhda Petrovna", 1)]


def test_recency_outweighs_an_old_habit_but_not_a_recent_one() -> None:
    old_habit = heard(*[(f"n{i}", "Nadezhda Petrovna", timedelta(days=365 + i)) for i in range(5)],
                      ("a1", "Alexey", timedelta(days=1)))
    assert rank(old_habit, now=NOW)[0].name == "Alexey"
    recent_habit = heard(*[(f"n{i}", "Nadezhda Petrovna", timedelta(days=20 + i)) for i in range(5)],
                         ("a1", "Alexey", timedelta(days=1)))
    assert rank(recent_habit, now=NOW)[0].name == "Nadezhda Petrovna"


def test_a_correction_replaces_the_calls_name_and_spellings_are_one_name() -> None:
    state = heard(("c1", "Nadezhda Petrovna", timedelta(hours=2)), ("c1", "alexey  ", timedelta(hours=1)),
                  ("c2", "Alexey", timedelta(minutes=5)))
    assert [(h.name, h.count) for h in rank(state, now=NOW)] == [("Alexey", 2)]
    withdrawn = confirm(state, call_id="c2", name=None, by="admin", at=NOW)
    assert [(h.name, h.count) for h in rank(withdrawn, now=NOW)] == [("alexey  ", 1)]


def test_old_calls_are_folded_into_totals_that_keep_counting() -> None:
    state = heard(*[(f"c{i}", "Alexey" if i % 3 else "Nadezhda", timedelta(hours=500 - i)) for i in range(250)])
    assert len(state.calls) == KEPT_CALLS
    counts = {h.name: h.count for h in rank(state, now=NOW)}
    alexey = sum(1 for i in range(250) if i % 3)
    assert counts == {"Alexey": alexey, "Nadezhda": 250 - alexey}


def test_the_card_puts_the_heard_names_first_and_keeps_holders_never_heard() -> None:
    number = normalize("89031112233")
    card = build_card(number, [FoundAccount(id="C-1", holder="Nadezhda Petrovna"),
                               FoundAccount(id="C-2", holder="Alexey Smirnov")])
    assert card.display_name == "Nadezhda Petrovna + Alexey Smirnov"
    state = heard(("c1", "Alexey Smirnov", timedelta(days=1)))
    merged = merge_into_card(card, rank(state, now=NOW))
    assert (merged.display_name, merged.names) == ("Alexey Smirnov", ["Alexey Smirnov", "Nadezhda Petrovna"])
    assert [(h.name, h.count, h.hint) for h in merged.heard] == [("Alexey Smirnov", 1, "last time")]
    usual = merge_into_card(card, rank(heard(("c1", "Alexey Smirnov", timedelta(days=3)),
                                             ("c2", "Alexey Smirnov", timedelta(days=2)),
                                             ("c3", "Nadezhda Petrovna", timedelta(days=1))), now=NOW))
    assert [(h.name, h.hint) for h in usual.heard] == [("Alexey Smirnov", "usually"), ("Nadezhda Petrovna", None)]
    assert merge_into_card(card, []) == card


def test_an_unknown_number_becomes_a_known_voice() -> None:
    card = build_card(normalize("+79990001122"), [])
    merged = merge_into_card(card, rank(heard(("c1", "Oleg", timedelta(minutes=1))), now=NOW))
    assert (merged.kind.value, merged.display_name, merged.names, merged.heard[0].hint) == (
        "unknown", "Oleg", ["Oleg"], None)
