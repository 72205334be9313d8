"""The caller card: what an agent sees and what the PBX's lookup returns (schema version ``v``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

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
    degraded: bool = Field(default=False, description="true when the store did not answer within the budget")


_PLACEHOLDER_NAMES = {
    CardKind.UNKNOWN: "Unknown caller",
    CardKind.WITHHELD: "Number withheld",
    CardKind.INTERNAL: "Internal call",
}


def build_card(number: Number, accounts: list[dict[str, Any]], *, degraded: bool = False) -> Card:
    """A card from the accounts carrying the number, every distinct holder name kept, in a stable order."""
    ordered = sorted(accounts, key=lambda doc: str(doc["_id"]))
    refs = [AccountRef(id=doc["_id"], holder=doc["holder"], status=doc["status"], crm_url=doc.get("crm_url"))
            for doc in ordered]
    names = list(dict.fromkeys(ref.holder for ref in refs))
    if number.kind is NumberKind.WITHHELD:
        kind = CardKind.WITHHELD
    elif number.kind is NumberKind.INTERNAL:
        kind = CardKind.INTERNAL
    else:
        kind = CardKind.KNOWN if refs else CardKind.UNKNOWN
    display_name = NAME_SEPARATOR.join(names) if names else _PLACEHOLDER_NAMES[kind]
    return Card(number=number.raw, e164=number.e164, kind=kind, display_name=display_name, names=names,
                accounts=refs, degraded=degraded)


def internal_card(*, number: str, name: str | None) -> Card:
    """A colleague calling from their own phone: their extension and, when the directory knows them, their name."""
    return Card(number=number, e164=None, kind=CardKind.INTERNAL, display_name=name or f"Extension {number}",
                names=[name] if name else [], accounts=[])
