"""The events the listener asks Asterisk for (asterisk/event_filter.py) are enough: every recorded call, replayed
with only the events the filter admits (applied by the simulator's filter, as Asterisk's manager.c applies it),
gives each agent the same card events at the same moments, the same lookups and the same call record as with
every event. And the filter's parts agree: handlers, Asterisk's spelling in the captures, the shipped snippet."""

from __future__ import annotations

import json
import re
from datetime import UTC, timedelta

import pytest

from amisim.event_filters import COMPILE_ERROR, FORMAT_ERROR, EventFilters, FilterError
from asterisk import event_filter
from asterisk.ami_message import parse_headers
from asterisk.event_filter import LISTENER_EVENTS, UnspelledHandler, call_flow_events, filter_regex
from asterisk.events import AmiCallFlow
from callercard.calls.records import call_record
from callercard.lines.board import OBSERVED_EVENTS, QueueBoard
from callercard.wallboard.board import OBSERVED_EVENTS as WALLBOARD_EVENTS
from callercard.wallboard.board import Wallboard
from tests.support.captures import CAPTURES_DIR, capture_path
from tests.support.recorded_calls import T0
from tests.support.scenarios import SCENARIOS
from tests.unit.test_call_flow_on_captures import new_flow

SNIPPET = CAPTURES_DIR.parents[1] / "asterisk" / "conf" / "manager_callercard.conf"


def capture_events(name: str) -> list[tuple[float, str]]:
    """Every event of a capture as Asterisk wrote it: (seconds from the start, its text)."""
    entries = [json.loads(line) for line in capture_path(f"{name}.jsonl").read_text().splitlines()[1:]]
    return [(entry["t"], entry["raw"]) for entry in entries
            if entry["dir"] == "in" and entry["raw"].startswith("Event:")]


def what_the_flow_does(events: list[tuple[float, str]]) -> tuple[list, list, list]:
    now = [T0]
    flow = new_flow(now)
    notices, lookups, records = [], [], []
    for t, raw in events:
        now[0] = T0 + timedelta(seconds=t)
        effects = flow.handle(parse_headers(raw))
        notices += effects.notices
        lookups += [(t, lookup) for lookup in effects.lookups]  # when: a lookup must start during the greeting
        records += [call_record(call, tracker=flow.tracker, region="RU") for call in effects.finished]
    return notices, lookups, records


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_call_with_only_the_filtered_events_goes_as_with_all(name: str) -> None:
    every = capture_events(name)
    filters = EventFilters([filter_regex()])
    admitted = [(t, raw) for t, raw in every if filters.admits(raw)]
    assert len(admitted) < len(every) / 2, "the filter lets most events through"
    with_all = what_the_flow_does(every)
    assert with_all[2], "the capture gives a call record"
    assert what_the_flow_does(admitted) == with_all


def test_the_names_are_asterisks_own() -> None:
    """Spelled as Asterisk writes them: a handled event in any capture is in the list, under its recorded name."""
    recorded = {re.match(r"Event: (\w+)", raw).group(1) for name in SCENARIOS for _, raw in capture_events(name)}
    handled = {name for name in recorded if hasattr(AmiCallFlow, f"_on_{name.lower()}")
               or name in OBSERVED_EVENTS | WALLBOARD_EVENTS}
    assert handled <= LISTENER_EVENTS
    assert {"Newchannel", "QueueCallerJoin", "AgentCalled", "DialBegin", "DialEnd", "Hangup"} <= handled
    assert call_flow_events() | OBSERVED_EVENTS | WALLBOARD_EVENTS | {"Shutdown", "NewCallerid"} == LISTENER_EVENTS
    assert "NewCallerid" in recorded, "the captures' spelling of the caller-id event"



def test_a_new_handler_without_its_spelling_is_an_error_not_a_filtered_event() -> None:
    class WithANewHandler(AmiCallFlow):
        def _on_musiconholdstart(self, *_: object) -> None: ...

    with pytest.raises(UnspelledHandler, match="musiconholdstart"):
        call_flow_events(WithANewHandler)


def test_the_regex_admits_whole_names_only() -> None:
    filters = EventFilters([filter_regex()])
    assert filters.admits("Event: Hangup\r\nPrivilege: call,all\r\n")
    assert filters.admits("Event: HangupRequest\r\nPrivilege: call,all\r\n")
    assert not filters.admits("Event: HangupHandlerRun\r\nPrivilege: dialplan,all\r\n")
    assert not filters.admits("Event: Newstate\r\nPrivilege: call,all\r\nChannelStateDesc: Hangup\r\n")
    assert not filters.admits("Event: VarSet\r\nPrivilege: dialplan,all\r\nValue: Event: Hangup\r\n")


def test_the_shipped_snippet_carries_the_same_filter() -> None:
    lines = re.findall(r"^eventfilter\s*=.*$", SNIPPET.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert lines == [event_filter.manager_conf_line()]


def test_the_filter_action_the_listener_sends() -> None:
    assert event_filter.filter_action() == {"Action": "Filter", "Operation": "Add", "Filter": filter_regex()}


def test_the_simulator_filters_as_managerc_does() -> None:
    """should_send_event: none admits all; includes only: any include; excludes only: no exclude; both: an include
    and no exclude."""
    newchannel, varset = "Event: Newchannel\r\nChannel: PJSIP/201\r\n", "Event: VarSet\r\nChannel: PJSIP/201\r\n"
    assert EventFilters().admits(varset)
    only = EventFilters(["Event: Newchannel"])
    assert (only.admits(newchannel), only.admits(varset)) == (True, False)
    but = EventFilters(["!Event: VarSet"])
    assert (but.admits(newchannel), but.admits(varset)) == (True, False)
    both = EventFilters(["Channel: PJSIP/", "!Event: VarSet"])
    assert (both.admits(newchannel), both.admits(varset), both.admits("Event: Hangup\r\n")) == (True, False, False)
    with pytest.raises(FilterError, match=re.escape(COMPILE_ERROR)):
        EventFilters().add("XX[X")
    for empty in ("", "!"):
        with pytest.raises(FilterError, match=re.escape(FORMAT_ERROR)):
            EventFilters().add(empty)


def what_the_boards_show(events: list[tuple[float, str]], *, after: EventFilters) -> list[tuple[dict, dict]]:
    """The line board's and the wallboard's summaries of every queue after each event ``after`` admits (what a
    filtered listener could have published then)."""
    lines, wallboard = QueueBoard(), Wallboard(service_level_seconds=20, timezone=UTC)
    shown = []
    for t, raw in events:
        now = T0 + timedelta(seconds=t)
        headers = parse_headers(raw)
        lines.observe(headers)
        wallboard.observe(headers, now=now)
        if after.admits(raw):
            queues = sorted(set(lines.queues) | set(wallboard.queues))
            shown.append(({queue: lines.summary(queue) for queue in queues},
                          {queue: wallboard.summary(queue, members=lines.queues.get(queue, {}).values(), now=now)
                           for queue in queues}))
    return shown


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_line_board_and_the_wallboard_show_the_same_with_only_the_filtered_events(name: str) -> None:
    every = capture_events(name)
    filters = EventFilters([filter_regex()])
    with_all = what_the_boards_show(every, after=filters)
    assert what_the_boards_show([(t, raw) for t, raw in every if filters.admits(raw)], after=filters) == with_all
