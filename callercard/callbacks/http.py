"""The callback worklist (one row per number), claims, the "call back" button, "mark all done", and click-to-dial."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from callercard.agents import store as agents
from callercard.agents.schemas import Agent, AgentId
from callercard.api.auth import AgentOrAdmin, Caller, Role, ensure_own_agent
from callercard.api.deps import ServicesDep
from callercard.api.params import AgentIdPath, NumberPath, dialable_number
from callercard.callbacks import claims, live, services
from callercard.callbacks.schemas import CallbackRow, Claim
from callercard.calls import store as calls
from callercard.errors import Conflict, InvalidInput, NotFound
from callercard.phone import dial_string, national
from callercard.webhooks.schemas import EventKind

router = APIRouter(tags=["callbacks"])
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]


class CallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: AgentId | None = Field(default=None, description="whose phone rings first; an agent's own by default")
    override_dnc: bool = Field(default=False, description="admins only: call a do-not-call number anyway")
    override_note: Note | None = Field(default=None, description="why; required with override_dnc")


class DialRequest(CallRequest):
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class DoneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    numbers: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(default=None, max_length=1000,
                                                                                 description="any format")
    all: bool = Field(default=False, description="every open callback the caller can see")


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: AgentId | None = Field(default=None, description="who claims it; an agent's own by default")


async def _agent_for(svc: ServicesDep, caller: Caller, agent_id: str | None) -> Agent:
    chosen = agent_id or caller.agent_id
    if chosen is None:
        raise InvalidInput("agent_id", "an admin must name the agent whose phone rings first")
    ensure_own_agent(caller, chosen)
    agent = await agents.get(svc.db, agent_id=chosen)
    if agent is None:
        raise NotFound(f"agent {chosen!r} does not exist", agent_id=chosen)
    return agent


def _override(body: CallRequest) -> services.Override | None:
    if not body.override_dnc:
        return None
    if not body.override_note:
        raise InvalidInput("override_note", "say why the do-not-call flag is overridden")
    return services.Override(note=body.override_note)


async def _visible(svc: ServicesDep, caller: Caller) -> dict[str, Any]:
    if caller.role is Role.AGENT:
        agent = await agents.get(svc.db, agent_id=caller.agent_id or "")
        return calls.callback_filter(agent_id=caller.agent_id, lines=agent.lines if agent else [])
    return calls.callback_filter(agent_id=None, lines=[])


async def _visible_number(svc: ServicesDep, caller: Caller, number: str) -> str:
    """The E.164 of ``number`` when it has an open callback the caller may see; ``NotFound`` otherwise."""
    e164 = dialable_number(number, svc)
    visible = await _visible(svc, caller)
    if await calls.open_callbacks(svc.db, query={**visible, "caller.e164": e164}, limit=1):
        return e164
    shown = national(e164, region=svc.settings.default_region)
    done = await calls.latest_done_callback(svc.db, query=visible, e164=e164)
    if done is None:
        raise NotFound(f"{shown} has no missed call on your callback list", number=e164)
    callback = done["callback"]
    how = ("the caller got through" if callback.get("via") == "answered_call"
           else f"{callback.get('done_by')} called back" if callback.get("via") == "callback"
           else f"{callback.get('done_by')} marked it done")
    raise Conflict(f"{shown} is off the callback list: {how} at {callback['done_at']:%H:%M:%S} UTC", number=e164,
                   callback=callback)


async def _publish(svc: ServicesDep, e164: str, *, touched: list[dict[str, Any]] | None = None) -> None:
    await live.publish_rows(db=svc.db, cent=svc.centrifugo, lookup=svc.lookup, e164=e164,
                            region=svc.settings.default_region,
                            touched=touched or [])


@router.get("/api/v1/callbacks", summary="The callback worklist: one row per number with open missed calls",
            response_model=list[CallbackRow])
async def list_callbacks(svc: ServicesDep, caller: AgentOrAdmin,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[CallbackRow]:
    """An agent's rows count the missed calls that rang them, came to one of their lines, or never reached a
    queue; the latest missed first. Live on ``callbacks:#<agent_id>``."""
    return await services.worklist(db=svc.db, lookup=svc.lookup, query=await _visible(svc, caller),
                                   region=svc.settings.default_region, limit=limit)


@router.post("/api/v1/callbacks/{number}/claim", response_model=Claim,
             summary="Claim a row before calling: nobody else may call the number back meanwhile")
async def claim(svc: ServicesDep, caller: AgentOrAdmin, number: NumberPath, body: ClaimRequest) -> Claim:
    """Lapses after ``CALLERCARD_CALLBACK_CLAIM_SECONDS``; claiming again renews the agent's own claim. Another
    agent's claim is a 409 naming who has it and until when."""
    e164 = await _visible_number(svc, caller, number)
    agent = await _agent_for(svc, caller, body.agent_id)
    held = await claims.take(svc.db, e164=e164, agent=agent, by=caller.name, now=datetime.now(UTC),
                             seconds=svc.settings.callback_claim_seconds,
                             shown_as=national(e164, region=svc.settings.default_region))
    await _publish(svc, e164)
    return held


@router.delete("/api/v1/callbacks/{number}/claim", status_code=status.HTTP_204_NO_CONTENT,
               summary="Release a claim (an agent their own, an admin anyone's)")
async def release(svc: ServicesDep, caller: AgentOrAdmin, number: NumberPath) -> Response:
    e164 = dialable_number(number, svc)
    if not await claims.release(svc.db, e164=e164, agent_id=caller.agent_id if caller.role is Role.AGENT else None):
        raise NotFound(f"you hold no claim on {national(e164, region=svc.settings.default_region)}", number=e164)
    await _publish(svc, e164)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/v1/callbacks/{number}/call", summary="Call the number back: the agent's phone rings first")
async def call_back(svc: ServicesDep, caller: AgentOrAdmin, number: NumberPath, body: CallRequest) -> dict[str, Any]:
    """Claims the row (a 409 naming who has it if another agent does), asks the PBX to ring the agent and dial
    the number, and marks every open missed call of the number done; a refusal (do-not-call, the PBX) releases
    the claim."""
    e164 = await _visible_number(svc, caller, number)
    agent = await _agent_for(svc, caller, body.agent_id)
    settings = svc.settings
    try:
        placed, done = await services.call_back(
            db=svc.db, pbx=svc.pbx_of(agent), context=settings.originate_context, region=settings.default_region,
            claim_seconds=settings.callback_claim_seconds, agent=agent, e164=e164, by=caller.name,
            may_override=caller.role is Role.ADMIN, override=_override(body))
    except claims.AlreadyClaimed:
        raise
    except Exception:
        await _publish(svc, e164)  # the claim was released: the row is free again for everyone
        raise
    await _publish(svc, e164, touched=done)
    if done:
        now = datetime.now(UTC)
        svc.webhooks.submit(EventKind.CALLBACK_DONE, services.done_event(
            e164=e164, calls=done, via="callback", by=caller.name, at=now, attempt=placed.reference),
            key=f"callback/{placed.reference}", occurred_at=now)
    return {"number": e164, "reference": placed.reference, "agent_id": placed.agent_id, "dialed": placed.dialed,
            "calls_done": [r["call_id"] for r in done]}


@router.post("/api/v1/callbacks:done", summary="Mark callbacks done without calling (some numbers, or all)")
async def mark_done(svc: ServicesDep, caller: AgentOrAdmin, body: DoneRequest) -> dict[str, int]:
    if not body.all and not body.numbers:
        raise InvalidInput("numbers", "name the numbers, or send all: true")
    query = await _visible(svc, caller)
    numbers = [dialable_number(n, svc, field="numbers") for n in body.numbers or []]
    if not body.all:
        query["caller.e164"] = {"$in": numbers}
    touched = await calls.open_callbacks(svc.db, query=query, limit=5000)
    now = datetime.now(UTC)
    done = await calls.mark_callbacks_done(svc.db, query=query, by=caller.name, at=now, via="marked")
    for e164 in sorted({r["caller"]["e164"] for r in touched if r["caller"].get("e164")}):
        mine = [r for r in touched if r["caller"].get("e164") == e164]
        await _publish(svc, e164, touched=mine)
        svc.webhooks.submit(EventKind.CALLBACK_DONE, services.done_event(e164=e164, calls=mine, via="marked",
                                                                         by=caller.name, at=now),
                            key=f"marked/{e164}/{now.isoformat()}", occurred_at=now)
    return {"done": done}


@router.post("/api/v1/agents/{agent_id}/dial", summary="Click-to-dial: ring the agent's phone, then the number")
async def dial(svc: ServicesDep, caller: AgentOrAdmin, agent_id: AgentIdPath, body: DialRequest) -> dict[str, Any]:
    settings = svc.settings
    e164 = dialable_number(body.number, svc)
    agent = await _agent_for(svc, caller, agent_id)
    placed = await services.place_call(db=svc.db, pbx=svc.pbx_of(agent), context=settings.originate_context,
                                       agent=agent,
                                       e164=e164, dial=dial_string(e164, region=settings.default_region),
                                       by=caller.name, may_override=caller.role is Role.ADMIN,
                                       override=_override(body), purpose="Call")
    return {"reference": placed.reference, "agent_id": placed.agent_id, "number": e164, "dialed": placed.dialed}
