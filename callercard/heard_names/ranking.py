"""Ranking the names heard on a number, and merging them into its card. Pure.

A number's state is the confirmations of its latest ``KEPT_CALLS`` calls (one per call: an agent's
correction replaces it) and, folded together, those of older calls. A name's weight is the sum of
its confirmations, each halving every ``HALF_LIFE_DAYS``: how often *and* how recently it was heard.
Five calls from Nadezhda last year weigh less than two from Alexey this month; five last month more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from callercard.heard_names.schemas import HeardName
from callercard.lookup.cards import Card

HALF_LIFE_DAYS = 30.0
KEPT_CALLS = 100  # confirmations kept one by one (and correctable); older ones are folded into totals
_SPACES = re.compile(r"\s+")


def name_key(name: str) -> str:
    """Spellings that differ only in case or spacing are one name."""
    return _SPACES.sub(" ", name).strip().casefold()


def clean_name(name: str) -> str:
    return _SPACES.sub(" ", "".join(ch for ch in name if ch.isprintable())).strip()


@dataclass(frozen=True, slots=True)
class Confirmation:
    call_id: str
    name: str
    at: datetime
    by: str

    @property
    def key(self) -> str:
        return name_key(self.name)


@dataclass(frozen=True, slots=True)
class Folded:
    """Confirmations of calls no longer kept one by one: their count, and their weight as of ``weight_at``."""

    name: str
    count: int
    weight: float
    weight_at: datetime
    last_at: datetime

    @property
    def key(self) -> str:
        return name_key(self.name)


@dataclass(frozen=True, slots=True)
class HeardState:
    calls: tuple[Confirmation, ...] = ()
    earlier: tuple[Folded, ...] = field(default=())

    def confirmed_on(self, call_id: str) -> Confirmation | None:
        return next((c for c in self.calls if c.call_id == call_id), None)


def _decay(weight: float, since: datetime, now: datetime) -> float:
    age_days = max(0.0, (now - since).total_seconds() / 86400)
    return float(weight * 0.5 ** (age_days / HALF_LIFE_DAYS))


def confirm(state: HeardState, *, call_id: str, name: str | None, by: str, at: datetime) -> HeardState:
    """``name`` was heard on ``call_id`` (replacing what was confirmed on that call); ``None`` withdraws it."""
    calls = [c for c in state.calls if c.call_id != call_id]
    if name is not None:
        calls.append(Confirmation(call_id=call_id, name=name, at=at, by=by))
    calls.sort(key=lambda c: c.at)
    earlier = {f.key: f for f in state.earlier}
    while len(calls) > KEPT_CALLS:
        oldest = calls.pop(0)
        before = earlier.get(oldest.key)
        if before is None:
            earlier[oldest.key] = Folded(name=oldest.name, count=1, weight=1.0, weight_at=oldest.at,
                                         last_at=oldest.at)
        else:  # both weights brought to the later of the two moments, then added
            moment = max(before.weight_at, oldest.at)
            weight = _decay(before.weight, before.weight_at, moment) + _decay(1.0, oldest.at, moment)
            earlier[oldest.key] = replace(before, count=before.count + 1, weight=weight, weight_at=moment,
                                          last_at=max(before.last_at, oldest.at))
    return HeardState(calls=tuple(calls), earlier=tuple(earlier.values()))


def rank(state: HeardState, *, now: datetime) -> list[HeardName]:
    """Most likely first: by decayed weight, then count, then the latest heard."""
    totals: dict[str, tuple[float, int, datetime, str]] = {}  # key -> weight, count, last heard, spelling
    for folded in state.earlier:
        totals[folded.key] = (_decay(folded.weight, folded.weight_at, now), folded.count, folded.last_at,
                              folded.name)
    for call in state.calls:  # oldest first: the latest spelling of a name wins
        weight, count, last, _ = totals.get(call.key, (0.0, 0, call.at, call.name))
        totals[call.key] = (weight + _decay(1.0, call.at, now), count + 1, max(last, call.at), call.name)
    ordered = sorted(totals.values(), key=lambda t: (-t[0], -t[1], -t[2].timestamp(), t[3]))
    return [HeardName(name=spelling, count=count, last_heard_at=last) for _, count, last, spelling in ordered]


def _hint(heard: list[HeardName]) -> str | None:
    """How sure the first name is: heard on most calls ('usually'), or only the latest ('last time')."""
    top = heard[0]
    if top.count >= 2 and 2 * top.count > sum(h.count for h in heard):
        return "usually"
    return "last time" if top.last_heard_at == max(h.last_heard_at for h in heard) else None


def merge_into_card(card: Card, heard: list[HeardName]) -> Card:
    """The card with the names heard first, most likely first, then account holders never heard; the most
    likely name is its ``display_name`` (so the desk phone shows it too). No names heard: the card unchanged."""
    if not heard:
        return card
    keys = {name_key(h.name) for h in heard}
    others = [n for n in card.names if name_key(n) not in keys]
    if len(heard) + len(others) > 1:  # a hint only where there is a choice
        heard = [heard[0].model_copy(update={"hint": _hint(heard)}), *heard[1:]]
    return card.model_copy(update={"names": [h.name for h in heard] + others, "display_name": heard[0].name,
                                   "heard": heard})
