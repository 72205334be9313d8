"""``POST /api/v1/pbx/events``: call events from PBXs that have no AMI."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel

from callercard.api.auth import PbxOrAdmin
from callercard.api.deps import ServicesDep
from callercard.calls.pbx_events import PbxEvent

router = APIRouter(prefix="/api/v1/pbx", tags=["pbx"])


class Accepted(BaseModel):
    accepted: bool = True
    card_events: int


@router.post("/events", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted,
             summary="One call event: newCall, ringing, answer or hangup")
async def pbx_event(services: ServicesDep, _role: PbxOrAdmin, body: PbxEvent) -> Accepted:
    """Card events are queued in arrival order; send a call's events in the order they happened.

    The call state lives in Redis: any API process may take any event of any call. ``pbx`` names the PBX
    where several send events (call ids are per PBX); Redis down is a 503, and the PBX should send it again.
    """
    effects = await services.pbx_calls.handle(body)
    services.call_service.submit(effects)
    return Accepted(card_events=len(effects.notices))
