"""The callback worklist's rows from missed-call records, and who may see which call. Pure.

A row is a number with open missed calls: how many, the first and the last, the longest wait, the
queues they came to. An agent's rows are built from the calls that agent may see only (the same rule
as ``calls.store.callback_filter``): calls that rang them, came to one of their lines, or met no queue.
So a count never tells an agent about a call meant for another team.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from callercard.callbacks.schemas import AccountBrief, CallbackRow, Claim
from callercard.lookup.cards import Card, CardKind
from callercard.phone import national


def may_see(record: Mapping[str, Any], *, agent_id: str, lines: Iterable[str]) -> bool:
    """``calls.store.callback_filter``'s rule for one record (which is open: the filter checks that too)."""
    queues = record.get("queues") or []
    return (any(leg.get("agent_id") == agent_id for leg in record.get("agents", []))
            or bool(set(queues) & set(lines)) or not queues)


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def group_by_number(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """E.164 → its records, newest first; records without a number (withheld) have no row."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        e164 = record.get("caller", {}).get("e164")
        if e164:
            grouped.setdefault(e164, []).append(record)
    for calls in grouped.values():
        calls.sort(key=lambda r: _when(r["entered_at"]), reverse=True)
    return grouped


def live_claim(claim: Claim | None, *, now: datetime) -> Claim | None:
    """A claim counts until it lapses."""
    return claim if claim is not None and claim.until > now else None


def build_row(e164: str, calls: Sequence[Mapping[str, Any]], *, card: Card | None, claim: Claim | None,
              region: str, now: datetime) -> CallbackRow:
    """The row of ``calls`` (one number's open missed calls, newest first) with its card and claim."""
    waits = [float(r["wait_seconds"]) for r in calls if r.get("wait_seconds") is not None]
    queues = list(dict.fromkeys(q for r in reversed(calls) for q in r.get("queues", [])))
    named = card is not None and (card.kind is CardKind.KNOWN or bool(card.heard))
    return CallbackRow(
        number=e164, display_number=national(e164, region=region),
        name=card.display_name if card is not None and named else None,
        accounts=[AccountBrief(id=a.id, holder=a.holder, status=a.status) for a in card.accounts] if card else [],
        missed=len(calls), first_missed_at=_when(calls[-1]["entered_at"]), last_missed_at=_when(calls[0]["entered_at"]),
        longest_wait_seconds=max(waits) if waits else None, queues=queues,
        call_ids=[str(r["call_id"]) for r in calls], do_not_call=card.do_not_call if card else None,
        claim=live_claim(claim, now=now))


def newest_first(rows: Iterable[CallbackRow]) -> list[CallbackRow]:
    return sorted(rows, key=lambda row: row.last_missed_at, reverse=True)
