"""Asking the lookup sources for one number, in order or all at once, and what a card can say at any moment.

A ``SourceQuery`` runs as its own task, each source within its own timeout, so a lookup that stops waiting (its
budget is up) never cuts it short: its answers go into the card cache once they are all in, and the next lookup
gets the full card.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from callercard.lookup.cards import SourceProblem
from callercard.lookup.sources import Answer, FoundAccount, Problem, TrackedSource

FIRST = "first"  # the first source, in order, that has the number wins; the next is asked only if it has not
MERGE = "merge"  # every source at once; their accounts merged


class SourceQuery:
    """The sources' answers for one number, filled in as they come."""

    def __init__(self, *, e164: str, sources: Sequence[TrackedSource], mode: str, rev: int) -> None:
        self.e164 = e164
        self.rev = rev  # the number's rev when the question was asked: what its card is cached under
        self._sources = sources
        self._mode = mode
        self._answers: dict[str, Answer] = {}
        self.task: asyncio.Task[None] | None = None
        self.expires_at: datetime | None = None  # set when the full card was cached: a copy may live until then

    async def run(self) -> None:
        if self._mode == MERGE:
            await asyncio.gather(*[self._ask(source) for source in self._sources])
            return
        for source in self._sources:
            answer = await self._ask(source)
            if answer.accounts:
                return

    async def _ask(self, source: TrackedSource) -> Answer:
        answer = await source.ask(self.e164)
        self._answers[source.name] = answer
        return answer

    @property
    def finished(self) -> bool:
        return self.task is not None and self.task.done()

    def so_far(self) -> tuple[list[FoundAccount], list[SourceProblem]]:
        """The accounts the card shows now, and the sources it lacks (still being asked: ``slow``)."""
        accounts: list[FoundAccount] = []
        problems: list[SourceProblem] = []
        for source in self._sources:
            answer = self._answers.get(source.name)
            if answer is None:
                if self.finished:  # an earlier source had the number: this one was never needed
                    break
                problems.append(SourceProblem(source=source.name, reason=Problem.SLOW.value,
                                              detail="no answer within the lookup's budget yet"))
                if self._mode == FIRST:
                    break  # the sources after it have not been asked
                continue
            if answer.problem is not None:
                problems.append(SourceProblem(source=source.name, reason=answer.problem.value, detail=answer.detail))
                continue
            accounts += answer.accounts
            if answer.accounts and self._mode == FIRST:
                break
        return accounts, problems
