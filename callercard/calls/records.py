"""The call log record: exactly one per call, written idempotently by call id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callercard import phone
from callercard.calls.state import Call, CallTracker, Outcome
from callercard.pbxs import DEFAULT_PBX

MISSED = {o.value for o in Outcome if o is not Outcome.ANSWERED}


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def callback_of(*, outcome: str, kind: str, wait_seconds: float | None, min_wait: float) -> dict[str, Any]:
    """Whether a call goes on the callback worklist: missed, from a callable number, and (the policy) the caller
    waited at least ``min_wait`` seconds. A missed call the policy leaves off says why."""
    if outcome not in MISSED or kind != "e164":
        return {"needed": False, "done": False}
    if (wait_seconds or 0.0) < min_wait:
        return {"needed": False, "done": False,
                "why_not": f"waited {wait_seconds or 0:g} s; a callback needs {min_wait:g} s (callback policy)"}
    return {"needed": True, "done": False}


def call_record(call: Call, *, tracker: CallTracker, region: str, area_code: str | None = None,
                callback_min_wait: float = 0.0, call_id: str | None = None, pbx: str = DEFAULT_PBX) -> dict[str, Any]:
    """A JSON-ready record (datetimes as ISO-8601): what the worker stores under ``_id = call_id`` (the call's
    own id unless given: the PBX-namespaced one, ``pbxs.call_id``), with the PBX it was on."""
    try:
        number = phone.normalize(call.number, region=region, default_area_code=area_code)
        e164, kind = number.e164, number.kind.value
    except phone.InvalidNumber:
        e164, kind = None, "invalid"
    outcome = tracker.outcome(call)
    answered = call.answered_legs
    first_answer = answered[0].answered_at if answered else None
    talk_end = call.ended_at
    legs = [call.legs[key] for key in call.leg_order]
    wait_seconds = _seconds(call.entered_at, first_answer or call.ended_at)
    return {
        "call_id": call_id or call.call_id,
        "pbx": pbx,
        "caller": {"number": call.number, "e164": e164, "kind": kind},
        "direction": call.direction,
        "queues": call.queues,
        "agents": [{"agent_id": leg.agent_id, "queue": leg.queue, "result": leg.result,
                    "rung_at": leg.rung_at.isoformat(),
                    "answered_at": leg.answered_at.isoformat() if leg.answered_at else None,
                    "ended_at": leg.ended_at.isoformat() if leg.ended_at else None} for leg in legs],
        "answered_by": [leg.agent_id for leg in answered],
        "transfers": sum(1 for leg in legs if leg.result == "transferred"),
        "entered_at": call.entered_at.isoformat(),
        "first_ring_at": call.first_ring_at.isoformat() if call.first_ring_at else None,
        "answered_at": first_answer.isoformat() if first_answer else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "wait_seconds": wait_seconds,
        "talk_seconds": _seconds(first_answer, talk_end) if first_answer else 0.0,
        "outcome": outcome.value,
        # Missed calls from a callable number (that waited long enough) form the callback list.
        "callback": callback_of(outcome=outcome.value, kind=kind, wait_seconds=wait_seconds,
                                min_wait=callback_min_wait),
    }
