"""The do-not-call API: agents flag, admins manage, the dialplan checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse

from callercard.api.auth import AdminOnly, AgentOrAdmin, AnyCaller
from callercard.api.deps import ServicesDep
from callercard.api.params import NumberPath, dialable_number
from callercard.dnc import services, store
from callercard.dnc.schemas import DncChange, DncEntry, DncIn, DncReason
from callercard.errors import NotFound
from callercard.webhooks.schemas import EventKind

router = APIRouter(prefix="/api/v1/dnc", tags=["do-not-call"])


def _changed(svc: ServicesDep, change: DncChange) -> None:
    data, key = services.changed_event(change)
    svc.webhooks.submit(EventKind.DNC_CHANGED, data, key=key, occurred_at=change.at)


@router.get("/check", summary="Is this number flagged? '1' or '0' for the dialplan; JSON on request",
            response_class=PlainTextResponse, responses={200: {"content": {"text/plain": {}, "application/json": {}}}})
async def check(svc: ServicesDep, _caller: AnyCaller,
                number: Annotated[str, Query(max_length=64, description="the number to dial")],
                accept: Annotated[str | None, Header()] = None) -> Response:
    """Answers within ``lookup_budget_ms``; when the store is down, ``CALLERCARD_DNC_FAIL_CLOSED`` decides."""
    e164 = dialable_number(number, svc)
    flagged, degraded = await services.check_within_budget(
        svc.db, e164=e164, budget_seconds=svc.settings.lookup_budget_seconds, fail_closed=svc.settings.dnc_fail_closed)
    if accept and "application/json" in accept:
        return JSONResponse({"number": e164, "flagged": flagged, "degraded": degraded})
    return PlainTextResponse("1" if flagged else "0", headers={"X-Callercard-Degraded": "1"} if degraded else None)


@router.get("/export", summary="The whole list as CSV (re-importable with `callercard import dnc`)",
            response_class=PlainTextResponse, responses={200: {"content": {"text/csv": {}}}})
async def export(svc: ServicesDep, _caller: AdminOnly) -> Response:
    entries = await store.find(svc.db, reason=None, flagged_by=None, active_at=None, limit=0, skip=0)
    return Response(services.export_csv(entries), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="do-not-call.csv"'})


@router.get("", summary="Flagged numbers, with filters and paging", response_model=list[DncEntry])
async def list_entries(svc: ServicesDep, _caller: AdminOnly, reason: DncReason | None = None,
                       flagged_by: Annotated[str | None, Query(max_length=200)] = None,
                       active: Annotated[bool, Query(description="only entries not expired")] = True,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[DncEntry]:
    return await store.find(svc.db, reason=reason.value if reason else None, flagged_by=flagged_by,
                            active_at=datetime.now(UTC) if active else None, limit=limit, skip=skip)


@router.put("/{number}", summary="Flag a number (or edit its entry)", response_model=DncEntry)
async def flag(svc: ServicesDep, caller: AgentOrAdmin, number: NumberPath, body: DncIn,
               response: Response) -> DncEntry:
    e164 = dialable_number(number, svc)
    change = await services.flag(svc.db, e164=e164, incoming=body, by=caller.name)
    await svc.cards_changed([e164])
    _changed(svc, change)
    response.status_code = status.HTTP_201_CREATED if change.action == "flag" else status.HTTP_200_OK
    entry = await store.get(svc.db, e164)
    assert entry is not None
    return entry


@router.get("/{number}", summary="One flagged number", response_model=DncEntry)
async def get_entry(svc: ServicesDep, _caller: AgentOrAdmin, number: NumberPath) -> DncEntry:
    e164 = dialable_number(number, svc)
    entry = await services.active_entry(svc.db, e164)
    if entry is None:
        raise NotFound(f"{e164} is not on the do-not-call list", number=e164)
    return entry


@router.delete("/{number}", status_code=status.HTTP_204_NO_CONTENT, summary="Unflag a number (history is kept)")
async def unflag(svc: ServicesDep, caller: AdminOnly, number: NumberPath) -> Response:
    e164 = dialable_number(number, svc)
    change = await services.unflag(svc.db, e164=e164, by=caller.name)
    await svc.cards_changed([e164])
    _changed(svc, change)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{number}/history", summary="Every change to a number's entry, oldest first",
            response_model=list[DncChange])
async def history(svc: ServicesDep, _caller: AdminOnly, number: NumberPath) -> list[DncChange]:
    return await store.history(svc.db, dialable_number(number, svc))
