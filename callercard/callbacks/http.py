"""Missed calls to call back, the "call back" button, bulk "mark all done", and click-to-dial."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from callercard.agents import store as agents
from callercard.agents.schemas import Agent, AgentId
from callercard.api.auth import AgentOrAdmin, Caller, Role, ensure_own_agent
from callercard.api.deps import ServicesDep
from callercard.api.params import AgentIdPath, dialable_number
from callercard.callbacks import services
from callercard.calls import store as calls
from callercard.errors import Conflict, InvalidInput, NotFound
from callercard.phone import dial_string

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
    call_ids: list[Annotated[str, StringConstraints(max_length=128)]] | None = Field(default=None, max_length=1000)
    all: bool = Field(default=False, description="every open callback the caller can see")


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


@router.get("/api/v1/callbacks", summary="Missed calls waiting for a callback, newest first")
async def list_callbacks(svc: ServicesDep, caller: AgentOrAdmin,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """An agent sees the missed calls that rang them, came to one of their lines, or never reached a queue."""
    return await calls.open_callbacks(svc.db, query=await _visible(svc, caller), limit=limit)


@router.post("/api/v1/callbacks/{call_id}/call", summary="Call the customer back: the agent's phone rings first")
async def call_back(svc: ServicesDep, caller: AgentOrAdmin, call_id: Annotated[str, Path(max_length=128)],
                    body: CallRequest) -> dict[str, Any]:
    record = await calls.get(svc.db, call_id)
    if record is None:
        raise NotFound(f"call {call_id!r} is not in the log", call_id=call_id)
    if not record["caller"].get("e164"):
        raise Conflict("the caller's number was withheld: this call cannot be called back", call_id=call_id)
    if not record["callback"].get("needed"):
        raise Conflict(f"call {call_id!r} was not missed: there is nothing to call back", call_id=call_id)
    if record["callback"].get("done"):
        raise Conflict(f"call {call_id!r} was already called back or marked done", call_id=call_id)
    if not await calls.matches(svc.db, call_id=call_id, query=await _visible(svc, caller)):
        raise NotFound(f"call {call_id!r} is not on your callback list", call_id=call_id)
    agent = await _agent_for(svc, caller, body.agent_id)
    e164 = record["caller"]["e164"]
    placed = await services.place_call(db=svc.db, pbx=svc.pbx, context=svc.settings.originate_context, agent=agent,
                                       e164=e164, dial=dial_string(e164, region=svc.settings.default_region),
                                       by=caller.name, may_override=caller.role is Role.ADMIN,
                                       override=_override(body), purpose="Callback",
                                       variables={"CALLERCARD_CALLBACK_OF": call_id})
    # The PBX accepted the Originate: the callback is under way, and off everyone's list.
    await calls.mark_callbacks_done(svc.db, query={"_id": call_id}, by=caller.name, at=datetime.now(UTC),
                                    via="callback", attempt=placed.reference)
    return {"call_id": call_id, "reference": placed.reference, "agent_id": placed.agent_id, "dialed": placed.dialed}


@router.post("/api/v1/callbacks:done", summary="Mark callbacks done without calling (some, or all)")
async def mark_done(svc: ServicesDep, caller: AgentOrAdmin, body: DoneRequest) -> dict[str, int]:
    if not body.all and not body.call_ids:
        raise InvalidInput("call_ids", "name the calls, or send all: true")
    query = await _visible(svc, caller)
    if not body.all:
        query["_id"] = {"$in": body.call_ids}
    done = await calls.mark_callbacks_done(svc.db, query=query, by=caller.name, at=datetime.now(UTC), via="marked")
    return {"done": done}


@router.post("/api/v1/agents/{agent_id}/dial", summary="Click-to-dial: ring the agent's phone, then the number")
async def dial(svc: ServicesDep, caller: AgentOrAdmin, agent_id: AgentIdPath, body: DialRequest) -> dict[str, Any]:
    settings = svc.settings
    e164 = dialable_number(body.number, svc)
    agent = await _agent_for(svc, caller, agent_id)
    placed = await services.place_call(db=svc.db, pbx=svc.pbx, context=settings.originate_context, agent=agent,
                                       e164=e164, dial=dial_string(e164, region=settings.default_region),
                                       by=caller.name, may_override=caller.role is Role.ADMIN,
                                       override=_override(body), purpose="Call")
    return {"reference": placed.reference, "agent_id": placed.agent_id, "number": e164, "dialed": placed.dialed}
