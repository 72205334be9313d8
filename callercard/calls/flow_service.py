"""Carrying out the call state machine's effects: card lookups, card events, call-log hand-offs.

Shared by the AMI listener and the HTTP event API. Each call's effects are carried
out in the order they were submitted, so an agent never sees ``ended`` before
``answered``; different calls' effects run side by side, so a call whose card is
slow to resolve (a ringing event waits for it up to the lookup budget) never holds
up another call's popups. Each call's one lookup starts during the greeting, here (it fills the store's card
cache too: no worker task looks the number up again); finished calls go to the worker's
``record_call``. The worker and Centrifugo are reached through the ports ``WorkerQueue`` and ``CardPublisher``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from redis.exceptions import RedisError

from callercard import metrics, pbxs
from callercard.calls import card_prefetch
from callercard.calls.outbox import OutboxGate, TaskOutbox
from callercard.calls.records import call_record
from callercard.calls.redis_screens import Screens
from callercard.calls.state import Call, CallTracker, CardEvent, Effects, LegState, Notice
from callercard.calls.webhook_events import CallEvents
from callercard.lease import LeaseLost
from callercard.lookup.services import CardLookup
from callercard.pbxs import DEFAULT_PBX
from callercard.ports import RECORD_CALL, CardPublisher, WorkerQueue
from callercard.settings import Settings
from callercard.webhooks.events import WebhookEmitter

log = logging.getLogger(__name__)
ShownGate = Callable[[int], Awaitable[None]]
# A ringing this far behind the PBX (a slow or down Centrifugo delays the queue) is dropped once its ring is over.
LATE_RINGING_SECONDS = 1.0
# Call records wait this long for others to go with them to the worker: nobody waits on a record, and at 50 calls/s
# a hand-over then carries about five (one broker message instead of five).
RECORD_LINGER_SECONDS = 0.1
_SHOWING_A_CARD = (CardEvent.RINGING, CardEvent.ANSWERED)


class CallFlowService:
    """Carries out the state machine's effects, in order, without ever raising into the AMI loop."""

    def __init__(self, *, settings: Settings, tracker: CallTracker, lookup: CardLookup, notifier: CardPublisher,
                 queue: WorkerQueue, screens: Screens | None = None, pbx: str | None = None,
                 outbox_gate: OutboxGate | None = None, shown_gate: ShownGate | None = None,
                 webhooks: WebhookEmitter | None = None) -> None:
        """``pbx``: the one PBX whose calls these are (a listener's), so call ids leave as ``pbxs.call_id``; None:
        the tracker's call ids are already namespaced (the HTTP feed). ``outbox_gate`` runs before each record
        is handed to the worker (the listener saves its live calls first, so a successor can never lose one)."""
        self.settings = settings
        self.pbx = pbx
        self._shown_gate = shown_gate
        self._screens = screens
        self.tracker = tracker
        # For other systems (webhooks): queued, never awaited here.
        self._events = CallEvents(webhooks, tracker=tracker, public_id=self.public_id)
        self._lookup, self._lookup_slots = lookup, asyncio.Semaphore(settings.listener_lookups_at_once)
        self._notifier = notifier
        self.outbox = TaskOutbox(queue.send_many, gate=outbox_gate, linger=RECORD_LINGER_SECONDS)
        self._queue: asyncio.Queue[Effects] = asyncio.Queue()
        self._cards: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._chains: dict[str, asyncio.Task[None]] = {}  # call id -> its latest effects, carried out in order
        self._background: set[asyncio.Task[None]] = set()
        self._card_awaited: set[tuple[str, str]] = set()  # (call id, agent id) shown a pending card
        self._card_late: set[str] = set()  # calls whose card was not found within one wait: no popup waits again
        self._finishing: dict[str, Call] = {}  # finished calls whose record is not in the outbox yet

    def public_id(self, call_id: str) -> str:
        """The call id card events, screens and records carry (``pbxs.call_id``)."""
        return pbxs.call_id(self.pbx, call_id) if self.pbx else call_id

    def submit(self, effects: Effects) -> None:
        """Queue effects; never blocks, never raises."""
        if not (effects.notices or effects.lookups or effects.finished or effects.cards):
            return  # most PBX events neither show a card nor end a call: nothing to carry out, nothing to wake
        if effects.received_at is None:
            effects.received_at = time.monotonic()
        for call in effects.finished:
            self._finishing[call.call_id] = call
        self._queue.put_nowait(effects)

    def backlog(self) -> dict[str, int]:
        """What waits in memory now (``callercard_listener_backlog``): each must stay bounded under overload."""
        return {"effects": self._queue.qsize(), "calls_with_effects": len(self._chains), "cards": len(self._cards),
                "lookups": sum(not task.done() for task in self._cards.values()), "outbox": self.outbox.pending,
                "background": len(self._background), "finishing": len(self._finishing),
                "screens": self._screens.writing if self._screens is not None else 0}

    def finishing(self) -> list[Call]:
        """Calls that finished whose closing card events and record wait behind earlier events."""
        return list(self._finishing.values())

    def _record(self, call: Call) -> dict[str, Any]:
        return call_record(call, tracker=self.tracker, region=self.settings.default_region,
                           area_code=self.settings.default_area_code, call_id=self.public_id(call.call_id),
                           callback_min_wait=self.settings.callback_min_wait_seconds,
                           pbx=self.pbx or call.pbx or DEFAULT_PBX)

    async def run(self) -> None:
        outbox = asyncio.create_task(self.outbox.run())
        try:
            while True:
                effects = await self._queue.get()
                try:
                    self._dispatch(effects)
                except Exception:
                    log.exception("dispatching call effects failed; continuing")
                finally:
                    self._queue.task_done()
        finally:
            outbox.cancel()

    def _dispatch(self, effects: Effects) -> None:
        """Start the lookups at once, then chain each call's card events and hand-offs behind its earlier ones."""
        for number, call_id in effects.lookups:
            # The one lookup of the call: it also fills the store's card cache for the other processes.
            self._cards[call_id] = asyncio.create_task(card_prefetch.prefetch_card(
                lookup=self._lookup, raw=number, settings=self.settings, slots=self._lookup_slots))
        for call_id, card in effects.cards:  # known without a lookup (a colleague's call)
            self._cards[call_id] = asyncio.create_task(card_prefetch.known(card))
        per_call: dict[str, Effects] = {}
        for call_id, notice in [(n.call_id, n) for n in effects.notices] + [(c.call_id, c) for c in effects.finished]:
            part = per_call.setdefault(call_id, Effects(received_at=effects.received_at, state_seq=effects.state_seq))
            if isinstance(notice, Notice):
                part.notices.append(notice)
            else:
                part.finished.append(notice)
        for call_id, part in per_call.items():
            self._chain(call_id, part)

    def _chain(self, call_id: str, effects: Effects) -> None:
        task = asyncio.create_task(self._after(self._chains.get(call_id), call_id, effects))
        self._chains[call_id] = task
        task.add_done_callback(functools.partial(self._forget_chain, call_id))

    def _forget_chain(self, call_id: str, task: asyncio.Task[None]) -> None:
        if self._chains.get(call_id) is task:
            del self._chains[call_id]

    async def _after(self, previous: asyncio.Task[None] | None, call_id: str, effects: Effects) -> None:
        if previous is not None and not previous.done():  # (asyncio.wait would still cost a turn of the loop)
            if any(notice.event in _SHOWING_A_CARD for notice in effects.notices):  # its popups' save starts now
                self._spawn(self._kept(effects, ahead=True))
            await asyncio.wait({previous})  # its outcome is its own business: it logs its failures
        try:
            await self._carry_out(effects)
        except Exception:
            log.exception("call %s: carrying out call effects failed; continuing", call_id)

    async def _carry_out(self, effects: Effects) -> None:
        received = effects.received_at if effects.received_at is not None else time.monotonic()
        # In turn, also across agents: side by side was measured slower under load (bench/README.md, 3 Dec).
        for notice in effects.notices:
            shown = await self._show(notice, effects, received)
            if shown is not None:
                self._events.notice(notice, direction=notice.direction, card=shown[0])  # never waits
        for call in effects.finished:
            record = self._record(call)
            self.outbox.put(RECORD_CALL, [record], {})
            self._events.finished(record, ended_at=call.ended_at)
            self._finishing.pop(call.call_id, None)
            task = self._cards.pop(call.call_id, None)
            self._card_late.discard(call.call_id)
            if task is not None and not task.done():
                task.cancel()

    async def _show(self, notice: Notice, effects: Effects, received: float) -> tuple[dict[str, Any] | None] | None:
        """Publish one card event (the call kept first when it shows a card). ``(card,)`` once it went out, or
        was dropped as late (card None), for the webhook event; None when it was not for showing at all."""
        if self._stale_ringing(notice, received):
            log.warning("call %s: ringing for %s dropped: %.1f s late and the ring is over", notice.call_id,
                        notice.agent_id, time.monotonic() - received)
            return (None,)
        if notice.event is CardEvent.CARD and not self.tracker.on_screen(notice.call_id, notice.agent_id):
            return None  # the call left the agent's screen before its card was found
        direction = notice.direction
        if direction == "internal" and not self.settings.internal_call_popups:
            return None
        card = await self._card(notice.call_id)
        if notice.event in _SHOWING_A_CARD and not await self._kept(effects):
            return None
        public = replace(notice, call_id=self.public_id(notice.call_id)) if self.pbx else notice
        if await self._notifier.notify(public, direction=direction, card=card,
                                       still_wanted=lambda: not self._stale_ringing(notice, received)):
            metrics.POPUP_PUBLISH_SECONDS.labels(notice.event.value).observe(time.monotonic() - received)
        else:
            metrics.CARD_EVENTS_FAILED.labels(notice.event.value).inc()
        # Not when dropped while retrying: it is not on the agent's screen.
        if self._screens is not None and not self._stale_ringing(notice, received):
            self._screens.remember_soon(public, direction=direction, card=card)
        awaited = (notice.call_id, notice.agent_id)
        if card is not None and card.get("pending") and notice.event in _SHOWING_A_CARD \
                and awaited not in self._card_awaited:
            self._card_awaited.add(awaited)
            self._spawn(self._card_when_found(notice))
        return (card,)

    async def _kept(self, effects: Effects, *, ahead: bool = False) -> bool:
        """Before a popup opens the call is kept in Redis (``shown_gate``); False: lease lost. Redis down: shown.
        ``ahead``: started early; the popup's own wait reports a failure."""
        if self._shown_gate is None or effects.state_seq is None:
            return True
        # asyncio.timeout, not wait_for: a call already kept goes on without a task and two turns of the loop.
        try:
            async with asyncio.timeout(0.5):
                await self._shown_gate(effects.state_seq)
        except LeaseLost:
            return False
        except (RedisError, OSError, TimeoutError) as error:
            if not ahead:
                log.warning("live calls not kept before a popup (%s); shown anyway", type(error).__name__)
        return True

    async def _card_when_found(self, shown: Notice) -> None:
        """The lookup outlived the ringing's wait for it: send the card once found, behind the call's other events."""
        task = self._cards.get(shown.call_id)
        try:
            if task is None:
                return
            await asyncio.wait({task})  # the lookup ends within its own budget; a finished call cancels it
            if not card_prefetch.found(task):
                return
            self._chain(shown.call_id, Effects(notices=[replace(shown, event=CardEvent.CARD)]))
        finally:
            self._card_awaited.discard((shown.call_id, shown.agent_id))

    def _stale_ringing(self, notice: Notice, received: float) -> bool:
        """A ringing more than ``LATE_RINGING_SECONDS`` behind the PBX whose ring is already over (answered
        elsewhere, no answer, caller gone): publishing it now would only show the agent a call that is not theirs.
        Closing events are never dropped: a ``dismissed`` for a popup never shown is harmless, a lost one is not."""
        if notice.event is not CardEvent.RINGING:
            return False
        # Late by our clock (since the adapter received it), not the PBX's: its event times may be skewed.
        if time.monotonic() - received < LATE_RINGING_SECONDS:
            return False
        call = self.tracker.calls.get(notice.call_id)
        if call is None:
            return True
        leg = next((leg for leg in call.legs.values() if leg.agent_id == notice.agent_id and leg.rung_at == notice.at),
                   None)
        return leg is None or (leg.state is LegState.DONE and leg.answered_at is None)

    async def shutdown(self, *, timeout: float) -> int:
        """Carry out the queued effects and hand the waiting call records to the broker, within ``timeout`` s
        (while ``run`` still runs); returns how many records could not be handed over."""
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self._queue.join(), timeout / 4)
        except TimeoutError:
            log.error("shutting down with %d effect batches not dispatched", self._queue.qsize())
        chains = set(self._chains.values())
        if chains:
            _, unfinished = await asyncio.wait(chains, timeout=timeout / 4)
            if unfinished:
                log.error("shutting down with %d call(s) whose effects were not carried out", len(unfinished))
        if self._screens is not None and (unsaved := await self._screens.settled(timeout / 8)):
            log.error("shutting down with %d screen(s) not saved", unsaved)
        while self.outbox.pending and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if self.outbox.pending:
            log.error("shutting down with %d call record(s) the broker did not take", self.outbox.pending)
        return self.outbox.pending

    async def _card(self, call_id: str) -> dict[str, Any] | None:
        """The call's card, waiting for it up to the lookup budget once per call: the other agents' popups of a
        ring-all do not each wait again in turn; a card found later reaches them as a ``card`` event."""
        task = self._cards.get(call_id)
        if task is None:
            return None
        if call_id in self._card_late:
            return task.result() if card_prefetch.found(task) else {"pending": True}
        if not task.done():
            self._lookup.hurry()  # it rang before its lookup was done (no greeting): no store trip lingers now
        try:  # a card found already is taken at once (wait_for would spend a turn of the loop on it)
            async with asyncio.timeout(self.settings.lookup_budget_seconds):
                return await asyncio.shield(task)
        except TimeoutError:
            self._card_late.add(call_id)
            return {"pending": True}

    def _spawn(self, work: Awaitable[object]) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("background hand-off failed")

        task = asyncio.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
