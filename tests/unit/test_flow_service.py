"""The flow service's card events: what each carries.

A card event carries its call's direction even when it goes out after the tracker forgot the call. Each call's card
events go out in order, each after the one before; meanwhile the AMI loop keeps going. A colleague
hanging up removes the call from the tracker at once, while the card events made before that still wait their turn
(a slow Centrifugo) and the hang-up's own effects wait in the service's queue. A CI run caught such an ``answered``
of an internal call going out as ``inbound``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from callercard.calls.flow_service import CallFlowService
from callercard.calls.redis_screens import Screens
from callercard.calls.state import CallTracker, Effects, Notice
from callercard.lookup.cards import build_card
from callercard.ports import StillWanted, Task
from callercard.settings import Settings

SETTINGS = Settings(**dict.fromkeys(("centrifugo_api_key", "centrifugo_token_secret", "ami_secret"), "s" * 20),
                    pbx_api_key="p" * 24, admin_api_key="a" * 24)  # type: ignore[arg-type]
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class HeldPublisher:
    """Stands in for Centrifugo: the first publication waits until ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[tuple[str, str, str, str | None]] = []

    async def notify(self, notice: Notice, *, direction: str, card: dict[str, Any] | None,
                     still_wanted: StillWanted | None = None) -> bool:
        if not self.sent and not self.release.is_set():
            await self.release.wait()
        self.sent.append((notice.agent_id, notice.event.value, direction, (card or {}).get("kind")))
        return True


class Lookups:
    """Cards here come known (``Effects.cards``): nothing to look up, nothing to hurry."""

    def hurry(self) -> None:
        pass


class Worker:
    async def send(self, task: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        pass

    async def send_many(self, tasks: list[Task]) -> int:
        return len(tasks)


async def sent(publisher: HeldPublisher, count: int) -> None:
    async with asyncio.timeout(5):
        while len(publisher.sent) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_the_events_of_an_internal_call_stay_internal_after_the_tracker_forgot_the_call() -> None:
    tracker, publisher = CallTracker(), HeldPublisher()
    service = CallFlowService(settings=SETTINGS, tracker=tracker, lookup=Lookups(), notifier=publisher,  # type: ignore[arg-type]
                              queue=Worker())
    running = asyncio.create_task(service.run())
    try:
        tracker.enter(call_id="c1", number="201", at=T0, direction="internal")
        ringing = tracker.ring(call_id="c1", leg_id="PJSIP/202", agent_id="boris", queue=None, at=T0)
        service.submit(Effects(notices=ringing, cards=[("c1", {"kind": "internal"})]))
        await asyncio.sleep(0.05)  # the ringing is held at Centrifugo
        service.submit(Effects(notices=tracker.answer(call_id="c1", leg_id="PJSIP/202", at=T0 + timedelta(seconds=2))))
        closing, call = tracker.end_call(call_id="c1", at=T0 + timedelta(seconds=9))
        assert "c1" not in tracker.calls
        publisher.release.set()  # the answered goes out now, before the service took the hang-up's effects
        await sent(publisher, 2)
        service.submit(Effects(notices=closing, finished=[call] if call else []))
        await sent(publisher, 3)
    finally:
        running.cancel()
    assert publisher.sent == [("boris", "ringing", "internal", "internal"),
                              ("boris", "answered", "internal", "internal"),
                              ("boris", "ended", "internal", "internal")]



class HeldScreens(Screens):
    """Screens whose writes are recorded instead of sent; the first write of ``held`` waits for ``release``."""

    def __init__(self, held: str) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # never reaches Redis: update is replaced
        self.held, self.release = held, asyncio.Event()
        self.written: list[tuple[str, str, str]] = []

    async def update(self, notice: Notice, *, direction: str, card: dict[str, Any] | None) -> None:
        if notice.call_id == self.held and not self.written_for(self.held):
            await self.release.wait()
        self.written.append((notice.agent_id, notice.call_id, notice.event.value))

    def written_for(self, call_id: str) -> list[str]:
        return [event for _, call, event in self.written if call == call_id]


async def test_a_call_s_next_card_event_does_not_wait_for_the_screen_and_each_popup_s_screen_is_written_in_order(
) -> None:
    tracker, publisher, screens = CallTracker(), HeldPublisher(), HeldScreens(held="c1")
    publisher.release.set()
    service = CallFlowService(settings=SETTINGS, tracker=tracker, lookup=Lookups(), notifier=publisher,  # type: ignore[arg-type]
                              queue=Worker(), screens=screens)
    running = asyncio.create_task(service.run())
    try:
        for call_id in ("c1", "c2"):
            tracker.enter(call_id=call_id, number="+79990001122", at=T0, direction="internal")
            service.submit(Effects(notices=tracker.ring(call_id=call_id, leg_id=f"{call_id}/anna", agent_id="anna",
                                                        queue=None, at=T0), cards=[(call_id, {"kind": "x"})]))
        service.submit(Effects(notices=tracker.end_leg(call_id="c1", leg_id="c1/anna", at=T0 + timedelta(seconds=3),
                                                       reason="no_answer")))
        await sent(publisher, 3)  # c1's dismissal went out while c1's ringing screen is still being written
        assert ("anna", "dismissed", "internal", "x") in publisher.sent
        assert screens.written_for("c2") == ["ringing"]
        assert screens.written_for("c1") == []
        assert await screens.settled(0.05) == 1  # c1's popup: its dismissal waits behind its ringing
        screens.release.set()
        assert await screens.settled(1) == 0
        assert screens.written_for("c1") == ["ringing", "dismissed"]
    finally:
        running.cancel()


async def test_a_ringing_waiting_behind_its_call_s_earlier_events_has_its_save_started_meanwhile() -> None:
    tracker, publisher = CallTracker(), HeldPublisher()
    asked: list[int] = []

    async def shown_gate(change: int) -> None:
        asked.append(change)

    service = CallFlowService(settings=SETTINGS, tracker=tracker, lookup=Lookups(), notifier=publisher,  # type: ignore[arg-type]
                              queue=Worker(), shown_gate=shown_gate)
    running = asyncio.create_task(service.run())
    try:
        tracker.enter(call_id="c1", number="+79990001122", at=T0, direction="internal")
        ring = [tracker.ring(call_id="c1", leg_id=f"c1/{agent}", agent_id=agent, queue=None, at=T0)
                for agent in ("anna", "boris")]
        service.submit(Effects(notices=ring[0], cards=[("c1", {"kind": "x"})], state_seq=1))
        await asyncio.sleep(0.05)  # anna's ringing is held at Centrifugo
        service.submit(Effects(notices=ring[1], state_seq=2))
        await asyncio.sleep(0.05)
        assert asked == [1, 2]  # boris's save did not wait for anna's ringing to go out
        assert [agent for agent, *_ in publisher.sent] == []
        publisher.release.set()
        await sent(publisher, 2)
        assert [agent for agent, event, *_ in publisher.sent] == ["anna", "boris"]
    finally:
        running.cancel()


class SlowLookups(Lookups):
    """A lookup that lingers for company until hurried."""

    def __init__(self) -> None:
        self.hurried = asyncio.Event()

    def hurry(self) -> None:
        self.hurried.set()

    async def within_budget(self, number: Any, *, budget_seconds: float) -> Any:
        await self.hurried.wait()
        return build_card(number, [])


async def test_a_call_that_rings_before_its_lookup_is_done_hurries_the_lookup_and_rings_with_its_card() -> None:
    tracker, publisher, lookups = CallTracker(), HeldPublisher(), SlowLookups()
    publisher.release.set()
    service = CallFlowService(settings=SETTINGS, tracker=tracker, lookup=lookups, notifier=publisher,  # type: ignore[arg-type]
                              queue=Worker())
    running = asyncio.create_task(service.run())
    try:
        tracker.enter(call_id="c1", number="+79990001122", at=T0)
        service.submit(Effects(lookups=[("+79990001122", "c1")]))
        await asyncio.sleep(0.05)
        assert not lookups.hurried.is_set()  # during a greeting the lookup may wait for company
        service.submit(Effects(notices=tracker.ring(call_id="c1", leg_id="c1/anna", agent_id="anna", queue=None,
                                                    at=T0)))
        await sent(publisher, 1)
    finally:
        running.cancel()
    assert lookups.hurried.is_set()
    assert publisher.sent == [("anna", "ringing", "inbound", "unknown")]
