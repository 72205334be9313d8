"""Lookup sources: where the accounts on a card come from (the port), and what the lookup asks of each.

The lookup domain defines ``LookupSource``; the built-in one (``accounts_source.AccountsSource``, MongoDB) lives
here in the domain, the ones that talk to a CRM live in the ``crm`` adapters (its HTTP API, its SQL database).
Whatever a CRM stores a number as, its records are matched with ``callercard.phone``, the one place numbers are
normalized.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from callercard import phone
from callercard.health import Health

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FoundAccount:
    """An account a source has for a number: what a card shows of it."""

    id: str
    holder: str
    status: str = "active"
    crm_url: str | None = None


class SourceFailed(Exception):
    """A source could not answer (an HTTP error, a database error, an answer it cannot read): ``str()`` says why
    in a few words, for the card and ``/status`` (never a secret: no URL with credentials, no query)."""


class LookupSource(Protocol):
    """One place accounts live. ``find`` returns the accounts carrying ``e164`` ([] when the number is not there)
    or raises ``SourceFailed``; it may take long: the lookup bounds it with the source's own timeout."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    async def find(self, *, e164: str) -> list[FoundAccount]: ...

    async def probe(self) -> str:
        """Ask the source whether it answers at all (``/status``); returns a short detail or raises
        ``SourceFailed``."""
        ...

    async def close(self) -> None: ...


class Problem(StrEnum):
    SLOW = "slow"  # no answer within the lookup's budget; still being asked, the card follows once it answers
    TIMED_OUT = "timed_out"  # no answer within the source's own timeout
    FAILED = "failed"  # the source answered with an error


@dataclass(frozen=True, slots=True)
class Answer:
    """One source's answer to one lookup: its accounts, or why there are none."""

    source: str
    accounts: tuple[FoundAccount, ...] = ()
    problem: Problem | None = None
    detail: str = ""


def account_from_record(record: Mapping[str, Any], *, e164: str, phones: Iterable[object] | None, region: str,
                        area_code: str | None) -> FoundAccount | None:
    """A CRM record (``id``, ``holder``, optional ``status`` and ``crm_url``) as an account; ``None`` for a record
    that does not carry ``e164`` among ``phones`` (numbers as the CRM stores them, normalized here; ``None``: the
    source matched exactly and gives none) or lacks an id or a holder."""
    if phones is not None and not any(_is_number(raw, e164, region=region, area_code=area_code) for raw in phones):
        return None
    account_id, holder = _text(record.get("id")), _text(record.get("holder"))
    if not account_id or not holder:
        log.warning("a record for %s without an id or a holder was skipped: %.200r", e164, dict(record))
        return None
    status = _text(record.get("status")) or "active"
    return FoundAccount(id=account_id[:64], holder=holder[:200], status=status.lower()[:32],
                        crm_url=_text(record.get("crm_url")) or None)


def _text(value: object) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()


def _is_number(raw: object, e164: str, *, region: str, area_code: str | None) -> bool:
    if not isinstance(raw, str | int):
        return False
    try:
        return phone.normalize(str(raw), region=region, default_area_code=area_code).e164 == e164
    except phone.InvalidNumber:
        return False


RECENT = 20  # answers remembered per source for /status


class TrackedSource:
    """A source as the lookup asks it: within its own timeout, never raising, each answer remembered for
    ``/status`` (in this process)."""

    def __init__(self, source: LookupSource, *, timeout_seconds: float) -> None:
        self.source = source
        self.name = source.name
        self.timeout_seconds = timeout_seconds
        self._recent: deque[tuple[float, Answer, float]] = deque(maxlen=RECENT)  # (when, answer, seconds taken)

    async def ask(self, e164: str) -> Answer:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_seconds):
                found = await self.source.find(e164=e164)
            answer = Answer(self.name, accounts=tuple(found))
        except TimeoutError:
            answer = Answer(self.name, problem=Problem.TIMED_OUT,
                            detail=f"no answer within {self.timeout_seconds * 1000:.0f} ms")
        except SourceFailed as error:
            answer = Answer(self.name, problem=Problem.FAILED, detail=str(error)[:200])
        except Exception as error:  # an adapter's bug must not fail the lookup: report it
            log.exception("lookup source %s failed on %s", self.name, e164)
            answer = Answer(self.name, problem=Problem.FAILED, detail=type(error).__name__)
        if answer.problem is not None:
            log.warning("lookup source %s on %s: %s (%s)", self.name, e164, answer.problem.value, answer.detail)
        self._recent.append((time.time(), answer, time.monotonic() - started))
        return answer

    async def health(self) -> Health:
        """The source's probe and its latest answers here: ok when it answers now and its last answer was no
        error."""
        name = f"source:{self.name}"
        try:
            async with asyncio.timeout(self.timeout_seconds):
                probed = await self.source.probe()
        except TimeoutError:
            return Health(name, False, f"probe: no answer within {self.timeout_seconds * 1000:.0f} ms; "
                          + self._history())
        except SourceFailed as error:
            return Health(name, False, f"probe: {error}; " + self._history())
        last_ok = not self._recent or self._recent[-1][1].problem is None
        return Health(name, last_ok, f"{self.source.kind}: {probed}; {self._history()}")

    def _history(self) -> str:
        if not self._recent:
            return "not asked yet"
        at, answer, took = self._recent[-1]
        failed = sum(1 for _, a, _ in self._recent if a.problem is not None)
        last = "answered" if answer.problem is None else f"{answer.problem.value} ({answer.detail})"
        return (f"last asked {time.time() - at:.0f} s ago: {last} in {took * 1000:.0f} ms; "
                f"{failed} of the last {len(self._recent)} asks failed")
