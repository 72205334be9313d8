"""``callercard import customers FILE``: CSV or JSON Lines, upsert by account id.

A bad row is reported with its line number and reason and never stops the file.
Reimporting the same file changes nothing, except to finish what an interrupted run left half-written
(``repaired``: see ``customers.services``).

CSV columns: ``id, holder, status, email, crm_url, tags`` (``;``-separated),
``phones`` (``;``-separated ``kind:number`` or bare numbers), ``contact_phone``,
``sms_phone``, ``other_phone``; any other column lands in ``extra``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tqdm import tqdm

from callercard.customers import services
from callercard.customers.schemas import Account, AccountWithId, UpsertResult
from callercard.errors import InvalidInput, describe_validation_error
from callercard.mongo import Database

BATCH_SIZE = 500
_KNOWN_COLUMNS = {"id", "holder", "status", "email", "crm_url", "tags", "phones",
                  "contact_phone", "sms_phone", "other_phone"}


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rows_per_second: float = 0.0

    def finish(self, progress: tqdm[Any] | None) -> None:
        """Close the progress bar, keeping its overall rate (the bar shows a recent one) for ``report``."""
        if progress is None:
            return
        elapsed = progress.format_dict["elapsed"]
        self.rows_per_second = progress.n / elapsed if elapsed > 0 else 0.0
        progress.close()

    def report(self) -> str:
        repaired = f"repaired {self.repaired}, " if self.repaired else ""
        lines = [(f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, {repaired}"
                  f"rejected {len(self.rejected)} ({self.rows_per_second:,.0f} rows/s)")]
        lines += [f"  line {line}: {reason}" for line, reason in self.rejected[:50]]
        if len(self.rejected) > 50:
            lines.append(f"  ... and {len(self.rejected) - 50} more")
        return "\n".join(lines)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def csv_row_to_account(row: dict[str, str | None]) -> dict[str, Any]:
    phones: list[dict[str, str]] = []
    for item in _split(row.get("phones")):
        kind, sep, number = item.partition(":")
        phones.append({"kind": kind.strip(), "number": number.strip()} if sep else {"number": item})
    for kind in ("contact", "sms", "other"):
        phones += [{"kind": kind, "number": n} for n in _split(row.get(f"{kind}_phone"))]
    extra = {key: value for key, value in row.items() if key not in _KNOWN_COLUMNS and key and value}
    doc: dict[str, Any] = {"id": row.get("id") or "", "holder": row.get("holder") or "", "phones": phones,
                           "tags": _split(row.get("tags")), "extra": extra}
    for optional in ("status", "email", "crm_url"):
        if row.get(optional):
            doc[optional] = row[optional]
    return doc


def read_rows(path: Path, *, csv_row: Callable[[dict[str, str | None]], dict[str, Any]] | None = None,
              ) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row dict) or (line number, reason) for rows that cannot even be parsed.

    ``csv_row`` turns a CSV row into the same shape as a JSON Lines row (customers by default).
    """
    to_row = csv_row or csv_row_to_account
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    parsed = json.loads(line)
                except json.JSONDecodeError as error:
                    yield line_number, f"not valid JSON: {error.msg}"
                    continue
                yield line_number, parsed if isinstance(parsed, dict) else "not a JSON object"
        else:
            reader = csv.DictReader(handle)
            for row in reader:
                if None in row:
                    yield reader.line_num, "more fields than the header has"
                    continue
                yield reader.line_num, to_row(row)


def count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return max(lines - (0 if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else 1), 0)


def _validate(row: dict[str, Any], *, region: str, area_code: str | None) -> Account:
    return services.to_account(AccountWithId.model_validate(row), region=region, area_code=area_code)


def _reason(error: ValidationError | InvalidInput) -> str:
    return describe_validation_error(error) if isinstance(error, ValidationError) else error.message


async def import_customers(db: Database, path: Path, *, region: str, area_code: str | None,
                           announce: Callable[[list[str]], Awaitable[None]],
                           progress: tqdm[Any] | None = None) -> ImportSummary:
    """``announce`` is handed each batch's changed numbers, once the store has them."""
    summary = ImportSummary()
    batch: list[Account] = []

    async def flush() -> None:
        results, changed_numbers = await services.upsert_accounts(db, accounts=batch)
        await announce(changed_numbers)
        summary.created += results.count(UpsertResult.CREATED)
        summary.updated += results.count(UpsertResult.UPDATED)
        summary.unchanged += results.count(UpsertResult.UNCHANGED)
        summary.repaired += results.count(UpsertResult.REPAIRED)
        if progress is not None:
            progress.update(len(batch))
        batch.clear()

    for line_number, row in read_rows(path):
        if isinstance(row, str):
            summary.rejected.append((line_number, row))
            if progress is not None:
                progress.update(1)
            continue
        try:
            batch.append(_validate(row, region=region, area_code=area_code))
        except (ValidationError, InvalidInput) as error:
            summary.rejected.append((line_number, _reason(error)))
            if progress is not None:
                progress.update(1)
        if len(batch) >= BATCH_SIZE:
            await flush()
    if batch:
        await flush()
    summary.finish(progress)
    return summary
