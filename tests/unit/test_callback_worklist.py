"""The worklist's pure parts: who may see a missed call, one row per number, the policy of what counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callercard.callbacks.schemas import Claim
from callercard.callbacks.worklist import build_row, group_by_number, live_claim, may_see
from callercard.calls.records import callback_of
from callercard.lookup.cards import build_card
from callercard.lookup.sources import FoundAccount
from callercard.phone import normalize

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def missed(call_id: str, number: str, *, minutes_ago: int, wait: float, queues: list[str], agents: list[str]) -> dict:
    return {"call_id": call_id, "caller": {"number": number, "e164": normalize(number).e164},
            "entered_at": (NOW - timedelta(minutes=minutes_ago)).isoformat(), "wait_seconds": wait,
            "queues": queues, "agents": [{"agent_id": a} for a in agents]}


def test_an_agent_sees_calls_that_rang_them_came_to_their_lines_or_met_no_queue() -> None:
    rang_anna = missed("1", "84951234567", minutes_ago=1, wait=5, queues=["sales"], agents=["anna"])
    support = missed("2", "84951234567", minutes_ago=1, wait=5, queues=["support"], agents=[])
    greeting = missed("3", "84951234567", minutes_ago=1, wait=5, queues=[], agents=[])
    assert [may_see(r, agent_id="anna", lines=["second"]) for r in (rang_anna, support, greeting)] == [
        True, False, True]
    assert [may_see(r, agent_id="boris", lines=["support"]) for r in (rang_anna, support, greeting)] == [
        False, True, True]


def test_one_row_per_number_with_its_count_times_and_longest_wait() -> None:
    calls = [missed("a", "84951234567", minutes_ago=30, wait=12.5, queues=["support"], agents=["anna"]),
             missed("b", "+7 495 123-45-67", minutes_ago=5, wait=40.0, queues=["second"], agents=[]),
             missed("c", "89031112233", minutes_ago=10, wait=3.0, queues=[], agents=[]),
             {**missed("d", "anonymous", minutes_ago=1, wait=1.0, queues=[], agents=[])}]
    grouped = group_by_number(calls)
    assert {e164: [r["call_id"] for r in rows] for e164, rows in grouped.items()} == {
        "+74951234567": ["b", "a"], "+79031112233": ["c"]}, "newest first; a withheld caller has no row"
    card = build_card(normalize("84951234567"), [FoundAccount(id="C-1", holder="Ivan Petrov")])
    claim = Claim(agent_id="anna", agent_name="Anna", by="agent:anna", at=NOW, until=NOW + timedelta(minutes=5))
    row = build_row("+74951234567", grouped["+74951234567"], card=card, claim=claim, region="RU", now=NOW)
    assert (row.display_number, row.name, row.missed, row.longest_wait_seconds, row.queues, row.call_ids) == (
        "8 (495) 123-45-67", "Ivan Petrov", 2, 40.0, ["support", "second"], ["b", "a"])
    assert (row.first_missed_at, row.last_missed_at) == (NOW - timedelta(minutes=30), NOW - timedelta(minutes=5))
    assert row.claim == claim
    unknown = build_row("+79031112233", grouped["+79031112233"], card=build_card(normalize("89031112233"), []),
                        claim=None, region="RU", now=NOW)
    assert (unknown.name, unknown.accounts) == (None, [])


def test_a_claim_counts_until_it_lapses() -> None:
    claim = Claim(agent_id="anna", agent_name="Anna", by="agent:anna", at=NOW, until=NOW + timedelta(seconds=1))
    assert live_claim(claim, now=NOW) == claim
    assert live_claim(claim, now=NOW + timedelta(seconds=1)) is None


def test_the_policy_of_what_is_worth_a_callback() -> None:
    assert callback_of(outcome="missed_abandoned_in_queue", kind="e164", wait_seconds=61, min_wait=60) == {
        "needed": True, "done": False}
    assert callback_of(outcome="missed_abandoned_in_queue", kind="e164", wait_seconds=12.5, min_wait=60) == {
        "needed": False, "done": False, "why_not": "waited 12.5 s; a callback needs 60 s (callback policy)"}
    assert callback_of(outcome="answered", kind="e164", wait_seconds=90, min_wait=0)["needed"] is False
    assert callback_of(outcome="missed_unanswered", kind="withheld", wait_seconds=90, min_wait=0)["needed"] is False
