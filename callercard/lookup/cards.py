"""The caller card: what an agent sees and what the PBX's lookup returns (schema version ``v``)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from callercard.heard_names.schemas import HeardName
from callercard.lookup.sources import FoundAccount
from callercard.phone import Number, NumberKind

CARD_VERSION = 1
NAME_SEPARATOR = " + "


class CardKind(StrEnum):
    KNOWN = "known"
    UNKNOWN = "unknown"
    WITHHELD = "withheld"
    INTERNAL = "internal"


class AccountRef(BaseModel):
    id: str
    holder: str
    status: str
    crm_url: str | None = None


class SourceProblem(BaseModel):
    """Why a card may lack accounts: a source that did not answer in time or failed."""

    source: str = Field(description="a lookup source's name, or 'store' (MongoDB, where the card cache lives)")
    reason: str = Field(description="slow (not within the lookup's budget; its answer is cached once it comes), "
                                    "timed_out (not within the source's own timeout) or failed")
    detail: str = ""


class Card(BaseModel):
    v: int = CARD_VERSION
    number: str = Field(description="the number as the PBX gave it")
    e164: str | None
    kind: CardKind
    display_name: str
    names: list[str]
    accounts: list[AccountRef]
    do_not_call: dict[str, Any] | None = None
    recent_calls: dict[str, Any] | None = None
    heard: list[HeardName] = Field(default_factory=list,
                                   description="names agents confirmed on this number's calls, most likely first")
    degraded: bool = Field(default=False, description="true when the store or a lookup source did not answer in time "
                                                     "or failed: the card may lack accounts")
    degraded_sources: list[SourceProblem] = Field(default_factory=list, description="which, and why")


_PLACEHOLDER_NAMES = {
    CardKind.UNKNOWN: "Unknown caller",
    CardKind.WITHHELD: "Number withheld",
    CardKind.INTERNAL: "Internal call",
}


def build_card(number: Number, accounts: Sequence[FoundAccount], *,
               degraded_by: Sequence[SourceProblem] = ()) -> Card:
    """A card from the accounts carrying the number, every distinct holder name kept, in a stable order (by account
    id; the same id from two sources is shown once, as the first source gave it)."""
    unique = {account.id: account for account in reversed(accounts)}
    refs = [AccountRef(id=a.id, holder=a.holder, status=a.status, crm_url=a.crm_url)
            for a in sorted(unique.values(), key=lambda a: a.id)]
    names = list(dict.fromkeys(ref.holder for ref in refs))
    if number.kind is NumberKind.WITHHELD:
        kind = CardKind.WITHHELD
    elif number.kind is NumberKind.INTERNAL:
        kind = CardKind.INTERNAL
    else:
        kind = CardKind.KNOWN if refs else CardKind.UNKNOWN
    display_name = NAME_SEPARATOR.join(names) if names else _PLACEHOLDER_NAMES[kind]
    return Card(number=number.raw, e164=number.e164, kind=kind, display_name=display_name, names=names,
                accounts=refs, degraded=bool(degraded_by), degraded_sources=list(degraded_by))


def internal_card(*, number: str, name: str | None) -> Card:
    """A colleague calling from their own phone: their extension and, when the directory knows them, their name."""
    return Card(number=number, e164=None, kind=CardKind.INTERNAL, display_name=name or f"Extension {number}",
                names=[name] if name else [], accounts=[])


def phone_display_name(card: Card) -> str:
    """The name a desk phone shows for ``card`` (``/api/v1/lookup/name``): empty for unknown and withheld numbers,
    so phones fall back to the number, unless the caller gave a name an agent confirmed."""
    return card.display_name if card.kind is CardKind.KNOWN or card.heard else ""
