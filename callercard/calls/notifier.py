"""The one publisher of card events: ``agent:#<agent_id>`` only, payload schema ``v`` 1.

Publishing fails fast (the cent client's timeout) and is retried briefly; a card
event is never raised into the caller, since the listener must keep going. Every
event (ringing, answered, ended, dismissed, card) has the same payload, so one
``notify`` serves them all rather than five identical methods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cent import AsyncClient
from cent.exceptions import CentError
from pydantic import BaseModel

from callercard import centrifugo
from callercard.calls.publish_batcher import PublishBatcher
from callercard.calls.state import CardEvent, Notice
from callercard.ports import StillWanted

log = logging.getLogger(__name__)
PAYLOAD_VERSION = 1


class CardEventPayload(BaseModel):
    v: int = PAYLOAD_VERSION
    event: CardEvent
    call_id: str
    agent_id: str
    direction: str
    queue: str | None
    at: datetime
    reason: str | None = None
    card: dict[str, Any] | None


def card_event(notice: Notice, *, direction: str, card: dict[str, Any] | None) -> dict[str, Any]:
    """The card event for ``notice``, JSON-ready, exactly as it is published (and kept for a reloaded page)."""
    return CardEventPayload(event=notice.event, call_id=notice.call_id, agent_id=notice.agent_id, direction=direction,
                            queue=notice.queue, at=notice.at, reason=notice.reason, card=card).model_dump(mode="json")


def idempotency_key(notice: Notice) -> str:
    """From the PBX's identifiers only (call, ringing leg, event), never from when a process saw them: a retry,
    a second listener or a successor replaying the same moment after a takeover is shown once (Centrifugo drops
    a publication whose key it saw on the channel in the last minutes)."""
    return f"{notice.call_id}:{notice.leg_id or notice.agent_id}:{notice.event.value}"


class CardNotifier:
    """Implements ``callercard.ports.CardPublisher``."""

    def __init__(self, client: AsyncClient, *, attempts: int = 3, retry_delay: float = 0.2,
                 may_publish: Callable[[], bool] | None = None) -> None:
        """``may_publish`` is asked (no I/O) right before every attempt: a listener without its lease sends nothing."""
        self._batcher = PublishBatcher(client)  # card events that pile up go to Centrifugo in one request
        self._may_publish = may_publish
        self._attempts = attempts
        self._retry_delay = retry_delay
        self.published = 0
        self.failed = 0
        self.dropped = 0

    async def notify(self, notice: Notice, *, direction: str, card: dict[str, Any] | None,
                     still_wanted: StillWanted | None = None) -> bool:
        """Publish ``notice``; ``still_wanted`` is asked before each retry, so an outdated event is not sent late."""
        payload = card_event(notice, direction=direction, card=card)
        publication = centrifugo.Publication(centrifugo.agent_channel(notice.agent_id), payload,
                                             idempotency_key(notice))
        for attempt in range(1, self._attempts + 1):
            if self._may_publish is not None and not self._may_publish():
                log.warning("call %s: %s to %s not published: this listener is not the active one", notice.call_id,
                            notice.event.value, notice.agent_id)
                self.dropped += 1
                return False
            if attempt > 1 and still_wanted is not None and not still_wanted():
                log.info("call %s: %s to %s no longer wanted; not retried", notice.call_id, notice.event.value,
                         notice.agent_id)
                self.dropped += 1
                return False
            try:
                await self._batcher.publish(publication)
            except CentError as error:
                log.warning("call %s: %s to %s failed (attempt %d/%d): %s", notice.call_id, notice.event.value,
                            notice.agent_id, attempt, self._attempts, error)
                await asyncio.sleep(self._retry_delay * attempt)
                continue
            self.published += 1
            return True
        self.failed += 1
        return False
