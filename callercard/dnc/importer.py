"""``callercard import dnc FILE``: the export's CSV (or JSON Lines), any number format, bad rows reported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tqdm import tqdm

from callercard import phone
from callercard.customers.importer import ImportSummary, read_rows
from callercard.dnc import services
from callercard.dnc.schemas import DncChange, DncIn
from callercard.errors import InvalidInput, describe_validation_error
from callercard.mongo import Database


def _csv_row(row: dict[str, str | None]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key and value}


async def import_dnc(db: Database, path: Path, *, region: str, area_code: str | None, by: str,
                     announce: Callable[[list[str]], Awaitable[None]],
                     changed: Callable[[DncChange], Awaitable[None]] | None = None,
                     progress: tqdm[Any] | None = None) -> ImportSummary:
    """Flag every valid row (``flagged_by`` from the file when present); an identical entry is left alone.

    ``announce`` is handed each flagged number once the store has it, ``changed`` each audited change.
    """
    summary = ImportSummary()
    for line_number, row in read_rows(path, csv_row=_csv_row):
        if progress is not None:
            progress.update(1)
        if isinstance(row, str):
            summary.rejected.append((line_number, row))
            continue
        try:
            e164 = phone.dialable(str(row.get("number", "")), field="number", region=region, area_code=area_code)
            incoming = DncIn.model_validate({"reason": row.get("reason"), "note": row.get("note") or None,
                                             "expires_at": row.get("expires_at") or None})
        except InvalidInput as error:
            summary.rejected.append((line_number, error.message))
            continue
        except ValidationError as error:
            summary.rejected.append((line_number, describe_validation_error(error)))
            continue
        existing = await services.active_entry(db, e164)
        if existing and (existing.reason, existing.note, existing.expires_at) == (
                incoming.reason, incoming.note, incoming.expires_at):
            summary.unchanged += 1
            continue
        change = await services.flag(db, e164=e164, incoming=incoming, by=str(row.get("flagged_by") or by))
        await announce([e164])
        if changed is not None:
            await changed(change)
        if change.action == "flag":
            summary.created += 1
        else:
            summary.updated += 1
    summary.finish(progress)
    return summary
