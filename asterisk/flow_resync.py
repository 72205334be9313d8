"""The call flow's view repaired from what Asterisk lists: after a (re)login, every reconcile, a hand-over.

``CoreShowChannels`` lists every live channel. Calls none of whose channels are left are ended, agent legs
whose channel is gone are ended, ringing legs whose phone is up are answered, and calls and legs that began
unseen are adopted. What began after the list was asked for is left alone (the list cannot show it yet):
that is judged by when *we* first heard of a call, never by the PBX's clock, which may differ from ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from asterisk.channels import device_of, duration, leg_id
from callercard.calls.state import CallTracker, Effects, call_from_json, call_to_json

_UP = "6"  # ChannelState of an answered channel (5 is Ringing)


class Resynchronizing:
    """Resynchronization, snapshots and hand-over of ``AmiCallFlow`` (which sets these attributes)."""

    tracker: CallTracker
    channels: dict[str, set[str]]
    seen_at: dict[Any, datetime]
    _caller_channels: set[str]
    _looked_up: set[str]
    _originators: dict[str, str]
    # The calls whose part of the snapshot may have changed since it was last taken (keep_changes).
    touched: set[str] | None = None
    _seen_legs: dict[str, list[tuple[str, str]]]
    _received: datetime
    _ended: Any
    _inbound_contexts: set[str]
    _agent_for_device: Callable[[str], str | None]

    def resynchronize(self, live: list[Mapping[str, str]], *, asked_at: datetime | None = None) -> Effects:
        """From CoreShowChannels (asked at ``asked_at``, our clock): what happened that no event told us."""
        at = self.now()
        asked_at = asked_at or at
        effects = Effects()
        self.let_go_all_held(effects)
        live_ids = {channel.get("Uniqueid", "") for channel in live}
        effects.notices += (ended := self.end_missing(live_ids, before=asked_at)).notices
        effects.finished += ended.finished
        for ids in self.channels.values():  # channels that hung up meanwhile will send no Hangup now
            ids -= {unique_id for unique_id in ids if unique_id not in live_ids and self._older(unique_id, asked_at)}
        legs: dict[str, Mapping[str, str]] = {}
        for channel in live:
            name = channel.get("Channel", "")
            if not name.endswith(";2") or leg_id(name) not in legs:  # an agent leg's state: its ;1 half
                legs[leg_id(name)] = channel
        for call_id, call in list(self.tracker.calls.items()):
            for key in list(call.leg_order):
                if not self._older((call_id, key), asked_at):
                    continue
                live_leg = legs.get(key)
                if live_leg is None:
                    effects.notices += self.tracker.end_leg(call_id=call_id, leg_id=key, at=at, reason="hangup")
                elif live_leg.get("ChannelState") == _UP:
                    effects.notices += self.tracker.answer(call_id=call_id, leg_id=key, at=at)
        calls: dict[str, list[Mapping[str, str]]] = {}
        for channel in live:
            calls.setdefault(channel.get("Linkedid", ""), []).append(channel)
        for call_id, channels in calls.items():
            if call_id and call_id not in self._ended:
                self._merge_live(call_id, channels, at, effects)
        if self.touched is not None:  # channels were taken from every call above
            self.touched.update(self.call_ids())
        return effects

    def _older(self, key: Any, asked_at: datetime) -> bool:
        """Whether we heard of this call, channel or leg before ``asked_at`` (unknown: long ago)."""
        seen = self.seen_at.get(key)
        return seen is None or seen < asked_at

    def _merge_live(self, call_id: str, channels: list[Mapping[str, str]], at: datetime, effects: Effects) -> None:
        """Take in what a live call's channels show: the call itself if it began unseen (inbound only), its
        queue, and agent legs that began ringing (or were answered) while we were not looking."""
        if call_id not in self.tracker.calls:
            if call_id in self.channels:
                return  # a call we track that has not entered (an outbound leg, an internal call)
            inbound = [c for c in channels
                       if c.get("Context") in self._inbound_contexts or c.get("Application") == "Queue"]
            if not inbound:
                return
            caller = next((c for c in channels if c.get("Uniqueid") == call_id), inbound[0])
            self.tracker.enter(call_id=call_id, number=self._number(caller),
                               at=at - duration(caller.get("Duration", "")))
            self.seen_at.setdefault(call_id, at)
            self._caller_channels.update(c.get("Uniqueid", "") for c in inbound)
            self._maybe_lookup(call_id, caller.get("CallerIDNum", ""), effects)
        call = self.tracker.calls[call_id]
        for channel in channels:
            self._track(channel.get("Uniqueid", ""), call_id, channel.get("Channel", ""))
        queue = next((c.get("ApplicationData", "").split(",")[0] for c in channels if c.get("Application") == "Queue"),
                     None)
        if queue:
            self.tracker.join_queue(call_id=call_id, queue=queue, number=call.number, at=at)
        for channel in channels:
            name = channel.get("Channel", "")
            agent_id = self._agent_for_device(device_of(name))
            if agent_id is None or name.endswith(";2") or leg_id(name) in call.legs:
                continue
            if channel.get("Uniqueid") == call_id or agent_id == call.caller_agent:
                continue  # the calling side (a colleague's own phone), not a phone being rung
            effects.notices += self.tracker.ring(call_id=call_id, leg_id=leg_id(name), agent_id=agent_id,
                                                 queue=queue or (call.queues[-1] if call.queues else None), at=at,
                                                 channel=name)
            if channel.get("ChannelState") == _UP:
                effects.notices += self.tracker.answer(call_id=call_id, leg_id=leg_id(name), at=at)

    def keep_changes(self) -> None:
        """Record which calls each event may change (``touched``, taken by ``take_touched``), so a listener
        saving its live calls writes only those (``asterisk.live_calls``)."""
        self.touched = set()
        self.tracker.keep_changes(self.touched)

    def take_touched(self) -> set[str]:
        touched = set(self.touched or ())
        if self.touched is not None:
            self.touched.clear()
        return touched

    def _touch(self, call_id: str) -> None:
        if self.touched is not None:
            self.touched.add(call_id)

    def _seen_leg(self, call_id: str, leg: str) -> None:
        if (call_id, leg) not in self.seen_at:
            self.seen_at[(call_id, leg)] = self._received
            self._seen_legs.setdefault(call_id, []).append((call_id, leg))

    def snapshot(self) -> dict[str, Any]:
        """The live calls, JSON-ready: what a restarted listener needs to log them and close their popups."""
        return snapshot_of([part for call_id in self.call_ids() if (part := self.snapshot_part(call_id))],
                           caller_channels=self._caller_channels)

    def caller_channels(self) -> set[str]:
        return self._caller_channels

    def call_ids(self) -> set[str]:
        """Every call the snapshot has a part for."""
        return {*self.tracker.calls, *self.channels, *self._originators, *self._looked_up}

    def snapshot_part(self, call_id: str) -> dict[str, Any] | None:
        """What the snapshot holds of one call (None: nothing), so a listener can save only the calls that
        changed (``touched``); ``snapshot_of`` puts parts together."""
        call = self.tracker.calls.get(call_id)
        channels = self.channels.get(call_id)
        originator = self._originators.get(call_id)
        looked_up = call_id in self._looked_up
        if call is None and channels is None and originator is None and not looked_up:
            return None
        return {"id": call_id, "call": call_to_json(call) if call is not None else None,
                "channels": sorted(channels) if channels is not None else None, "originator": originator,
                "looked_up": looked_up}

    def restore(self, snapshot: Mapping[str, Any]) -> int:
        """Take over a predecessor's live calls (before the first login's resynchronization); returns how many."""
        if snapshot.get("v") != 1:
            return 0
        for data in snapshot.get("calls", []):
            call = call_from_json(data)
            self.tracker.calls.setdefault(call.call_id, call)
        for call_id, ids in snapshot.get("channels", {}).items():
            self.channels.setdefault(call_id, set()).update(ids)
        self._caller_channels.update(snapshot.get("caller_channels", []))
        self._looked_up.update(snapshot.get("looked_up", []))
        self._originators.update(snapshot.get("originators", {}))
        self._restore_extra(snapshot)
        return len(snapshot.get("calls", []))

    def end_missing(self, live_unique_ids: set[str], *, before: datetime | None = None) -> Effects:
        """End every call (first heard of before ``before``) none of whose channels Asterisk still has."""
        effects = Effects()

        def older(call_id: str) -> bool:
            return before is None or self._older(call_id, before)

        for call_id, channels in list(self.channels.items()):
            if not channels & live_unique_ids and older(call_id):
                self._finish(call_id, self.now(), effects)
        for call_id in [c for c in self.tracker.calls if c not in self.channels and older(c)]:
            self._finish(call_id, self.now(), effects)
        return effects

    # Provided by AmiCallFlow.
    def now(self) -> datetime: raise NotImplementedError
    def let_go_all_held(self, effects: Effects) -> None: raise NotImplementedError
    def _finish(self, call_id: str, at: datetime, effects: Effects) -> None: raise NotImplementedError
    def _track(self, unique_id: str, call_id: str, channel: str) -> None: raise NotImplementedError
    def _number(self, event: Mapping[str, str]) -> str | None: raise NotImplementedError
    def _maybe_lookup(self, call_id: str, raw: str, effects: Effects) -> None: raise NotImplementedError
    def _restore_extra(self, snapshot: Mapping[str, Any]) -> None: raise NotImplementedError


def snapshot_of(parts: Iterable[Mapping[str, Any]], *, caller_channels: Iterable[str]) -> dict[str, Any]:
    """The flow's snapshot (version 1, as ``restore`` reads it) from its calls' parts."""
    parts = sorted(parts, key=lambda part: part["id"])
    return {"v": 1, "calls": [part["call"] for part in parts if part["call"] is not None],
            "channels": {part["id"]: part["channels"] for part in parts if part["channels"] is not None},
            "caller_channels": sorted(caller_channels),
            "looked_up": [part["id"] for part in parts if part["looked_up"]],
            "originators": {part["id"]: part["originator"] for part in parts if part["originator"] is not None}}
