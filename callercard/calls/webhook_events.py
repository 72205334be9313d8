"""A call's events for other systems (webhooks): ``call.ringing`` and ``call.answered`` per agent, ``call.ended`` with
the call's log record, and ``call.missed`` too when nobody answered. Queued on the emitter in the order the call
flow carried them out; the worker sends them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from callercard.calls.state import CallTracker, CardEvent, Notice
from callercard.webhooks.events import WebhookEmitter
from callercard.webhooks.schemas import EventKind

_KINDS = {CardEvent.RINGING: EventKind.CALL_RINGING, CardEvent.ANSWERED: EventKind.CALL_ANSWERED}


class CallEvents:
    def __init__(self, webhooks: WebhookEmitter | None, *, tracker: CallTracker,
                 public_id: Callable[[str], str] = lambda call_id: call_id) -> None:
        """``public_id``: the call id agents and records see (a listener's PBX-namespaced one)."""
        self._webhooks = webhooks
        self._tracker = tracker
        self._public_id = public_id

    def notice(self, notice: Notice, *, direction: str, card: dict[str, Any] | None) -> None:
        kind = _KINDS.get(notice.event)
        if self._webhooks is None or kind is None:
            return
        call = self._tracker.calls.get(notice.call_id)
        number = call.number if call else None
        call_id = self._public_id(notice.call_id)
        data = {"call_id": call_id, "agent_id": notice.agent_id, "queue": notice.queue, "direction": direction,
                "at": notice.at, "number": number, "card": card}
        self._webhooks.submit(kind, data, key=f"{call_id}/{notice.agent_id}/{notice.at.isoformat()}",
                              occurred_at=notice.at)

    def finished(self, record: dict[str, Any], *, ended_at: datetime | None) -> None:
        if self._webhooks is None:
            return
        at = ended_at or datetime.now(UTC)
        self._webhooks.submit(EventKind.CALL_ENDED, record, key=record["call_id"], occurred_at=at)
        if record["outcome"] != "answered":
            self._webhooks.submit(EventKind.CALL_MISSED, record, key=record["call_id"], occurred_at=at)
