"""The wallboard's counting (pure): callers waiting, today's answered / within the service level / abandoned,
each caller once, a new day starting afresh, agents by state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callercard.lines.board import member_from_event
from callercard.wallboard.board import Wallboard, agents_of

T0 = datetime(2026, 3, 1, 23, 59, 0, tzinfo=UTC)


def ev(name: str, caller: str, **more: str) -> dict[str, str]:
    return {"Event": name, "Queue": "support", "Uniqueid": caller, **more}


def test_waiting_callers_and_todays_counts_each_caller_once() -> None:
    board = Wallboard(service_level_seconds=20, timezone=UTC)
    board.observe(ev("QueueCallerJoin", "c1"), now=T0)
    board.observe(ev("QueueCallerJoin", "c2"), now=T0 + timedelta(seconds=5))
    waiting = board.summary("support", members=[], now=T0 + timedelta(seconds=30))
    assert (waiting["waiting"], waiting["longest_wait_seconds"]) == (2, 30.0)
    for _ in range(2):  # a repeated event counts once
        board.observe(ev("AgentConnect", "c1", HoldTime="25"), now=T0 + timedelta(seconds=25))
    board.observe(ev("QueueCallerLeave", "c1"), now=T0 + timedelta(seconds=25))
    board.observe(ev("QueueCallerAbandon", "c2", HoldTime="12"), now=T0 + timedelta(seconds=17))
    board.observe(ev("QueueCallerJoin", "c3"), now=T0 + timedelta(seconds=20))
    board.observe(ev("AgentConnect", "c3", HoldTime="9"), now=T0 + timedelta(seconds=29))
    summary = board.summary("support", members=[], now=T0 + timedelta(seconds=40))
    assert summary["waiting"] == 0
    assert summary["today"] == {"day": "2026-03-01", "answered": 2, "answered_within_service_level": 1,
                                "abandoned": 1, "average_wait_seconds": 17.0}


def test_a_new_day_starts_afresh_in_the_wallboards_time_zone() -> None:
    board = Wallboard(service_level_seconds=20, timezone=UTC)
    board.observe(ev("QueueCallerAbandon", "c1", HoldTime="3"), now=T0)
    assert board.observe({"Event": "Newchannel"}, now=T0 + timedelta(minutes=2)) == {"support"}
    assert board.summary("support", members=[], now=T0 + timedelta(minutes=2))["today"]["abandoned"] == 0


def test_a_restarted_listener_goes_on_counting_the_same_day() -> None:
    board = Wallboard(service_level_seconds=20, timezone=UTC)
    board.observe(ev("AgentConnect", "c1", HoldTime="4"), now=T0)
    again = Wallboard(service_level_seconds=20, timezone=UTC)
    again.restore(board.snapshot(), now=T0 + timedelta(seconds=10))
    assert again.summary("support", members=[], now=T0)["today"]["answered"] == 1
    tomorrow = Wallboard(service_level_seconds=20, timezone=UTC)
    tomorrow.restore(board.snapshot(), now=T0 + timedelta(minutes=5))
    assert tomorrow.summary("support", members=[], now=T0)["today"]["answered"] == 0


def test_agents_free_on_a_call_paused_unavailable() -> None:
    members = [member_from_event({"Interface": f"PJSIP/{i}", "Status": status, "Paused": paused, "InCall": in_call})
               for i, (status, paused, in_call) in enumerate([("1", "0", "0"), ("2", "0", "1"), ("6", "0", "0"),
                                                              ("1", "1", "0"), ("5", "0", "0")])]
    assert agents_of(members) == {"free": 1, "on_call": 2, "paused": 1, "unavailable": 1}


def test_a_saved_board_read_later_goes_on_waiting_and_a_board_of_yesterday_counts_zero() -> None:
    from callercard.wallboard.http import as_of

    board = Wallboard(service_level_seconds=20, timezone=UTC)
    board.observe(ev("QueueCallerJoin", "c1"), now=T0)
    board.observe(ev("QueueCallerAbandon", "c0", HoldTime="3"), now=T0)
    saved = board.summary("support", members=[], now=T0)
    later = as_of(saved, now=T0 + timedelta(seconds=45), day="2026-03-01")
    assert (later["waiting"], later["longest_wait_seconds"], later["today"]["abandoned"]) == (1, 45.0, 1)
    tomorrow = as_of(saved, now=T0 + timedelta(minutes=2), day="2026-03-02")
    assert tomorrow["today"] == {"day": "2026-03-02", "answered": 0, "answered_within_service_level": 0,
                                 "abandoned": 0, "average_wait_seconds": None}
