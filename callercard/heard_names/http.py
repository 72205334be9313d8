"""Who is speaking on a call (agents confirm or correct it), and the names heard on a number."""

from __future__ import annotations

from fastapi import APIRouter

from callercard.api.auth import AdminOnly, AgentOrAdmin, Caller, Role
from callercard.api.deps import ServicesDep
from callercard.api.params import CallIdPath, NumberPath, dialable_number
from callercard.heard_names import services, store
from callercard.heard_names.schemas import HeardChange, HeardName, SpeakerIn, SpeakerOut

router = APIRouter(tags=["names heard"])


async def _number_of(svc: ServicesDep, caller: Caller, call_id: str) -> str:
    return await services.number_of_call(db=svc.db, screens=svc.screens, call_id=call_id,
                                         agent_id=caller.agent_id if caller.role is Role.AGENT else None)


@router.put("/api/v1/calls/{call_id}/speaker", response_model=SpeakerOut,
            summary="Who is speaking: confirm an account holder or a name the caller gave (again: a correction)")
async def confirm_speaker(svc: ServicesDep, caller: AgentOrAdmin, call_id: CallIdPath, body: SpeakerIn) -> SpeakerOut:
    """For a call the agent answered (live or logged). The number's next card ranks this name; audited."""
    e164 = await _number_of(svc, caller, call_id)
    result = await services.confirm(svc.db, e164=e164, call_id=call_id, name=body.name, by=caller.name)
    await svc.cards_changed([e164])
    return result


@router.delete("/api/v1/calls/{call_id}/speaker", response_model=SpeakerOut,
               summary="Withdraw the name confirmed on a call (it was nobody's)")
async def withdraw_speaker(svc: ServicesDep, caller: AgentOrAdmin, call_id: CallIdPath) -> SpeakerOut:
    e164 = await _number_of(svc, caller, call_id)
    result = await services.confirm(svc.db, e164=e164, call_id=call_id, name=None, by=caller.name)
    await svc.cards_changed([e164])
    return result


@router.get("/api/v1/numbers/{number}/names", response_model=list[HeardName],
            summary="The names heard on a number, most likely first")
async def names_heard(svc: ServicesDep, _caller: AgentOrAdmin, number: NumberPath) -> list[HeardName]:
    return await services.heard_on(svc.db, dialable_number(number, svc))


@router.get("/api/v1/numbers/{number}/names/history", response_model=list[HeardChange],
            summary="Every confirmation, correction and withdrawal of a name on a number, oldest first")
async def names_history(svc: ServicesDep, _caller: AdminOnly, number: NumberPath) -> list[HeardChange]:
    return await store.history(svc.db, dialable_number(number, svc))
