"""The one AMI parser: framing, decoding and the rule for repeated headers, on real captures and on edge cases."""

from __future__ import annotations

import asyncio

from panoramisk import Manager
from panoramisk.message import Message

from amisim import load_capture
from asterisk.ami_message import MessageStream, decode, header_lines, parse_headers
from asterisk.ami_protocol import AmiProtocol
from tests.support.captures import CAPTURES_DIR


def test_every_recorded_message_reads_as_panoramisk_read_it_with_the_last_of_a_repeated_header() -> None:
    """The listener's events went through panoramisk (and then the last value of a list): nothing changes."""
    read = 0
    for path in sorted(CAPTURES_DIR.glob("*.jsonl")):
        for entry in load_capture(path).entries:
            theirs = Message.from_line(entry.raw.strip())
            if theirs is None:  # the banner, or an action the recording client sent
                continue
            # A value can begin with spaces (RTPAUDIOQOSLOSS in a VarSet of the PJSIP captures): panoramisk keeps
            # them, ami_message strips them by its rule; no header the call flow reads has any.
            expected = {key: (value[-1] if isinstance(value, list) else value).strip()
                        for key, value in theirs.items()
                        if key != "content"}  # panoramisk's body of a "Response: Follows", always empty here
            ours = parse_headers(entry.raw)
            # panoramisk strips the message first, so an empty last header ("AppData: ") is lost; it is "" here.
            dropped = {key for key, value in ours.items() if key not in expected and value == ""}
            assert {key: ours[key] for key in ours.keys() - dropped} == expected, (path.name, entry.raw)
            assert all(entry.raw.rstrip("\r\n").endswith(f"{key}: ") for key in dropped), entry.raw
            read += 1
    assert read > 1000


def test_a_repeated_header_keeps_its_last_value_and_header_lines_keep_them_all() -> None:
    text = "Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n"
    assert parse_headers(text) == {"Action": "Originate", "Variable": "B=2"}
    assert [value for name, value in header_lines(text) if name == "Variable"] == ["A=1", "B=2"]


def test_a_header_is_name_colon_value_without_surrounding_white_space_and_other_lines_are_not_headers() -> None:
    text = "Asterisk Call Manager/11.0.0\r\nEvent:Hangup\r\n Cause :  16 \r\n: no name\r\nnoise\r\nUrl: http://x/y\r\n"
    assert parse_headers(text) == {"Event": "Hangup", "Cause": "16", "Url": "http://x/y"}


def test_lines_end_in_a_newline_with_or_without_a_carriage_return_and_a_lone_one_stays_in_its_value() -> None:
    text = "Event: Hangup\nCause: 16\r\nCallerIDName: A\rB\r\n\u2028Note: x\u2028y\n"
    assert parse_headers(text) == dict(header_lines(text)) == {
        "Event": "Hangup", "Cause": "16", "CallerIDName": "A\rB", "Note": "x\u2028y"}


def test_messages_end_at_an_empty_line_however_the_bytes_arrive() -> None:
    raw = ("Event: Newchannel\r\nCallerIDName: Иван Петров\r\n\r\n\r\n\r\n"
           "Event: Hangup\nUniqueid: 1.1\n\nEvent: Part").encode()
    for size in (1, 2, 3, 7, len(raw)):
        stream = MessageStream()
        blocks = [block for start in range(0, len(raw), size) for block in stream.feed(raw[start:start + size])]
        assert [parse_headers(decode(block)) for block in blocks] == [
            {"Event": "Newchannel", "CallerIDName": "Иван Петров"}, {"Event": "Hangup", "Uniqueid": "1.1"}], size
        assert stream.pending == len(b"Event: Part")


def test_invalid_utf8_costs_only_its_own_bytes() -> None:
    [block] = MessageStream().feed(b"Event: Newchannel\r\nCallerIDName: \xd0\x98\xff\xd0\xb2\r\n\r\n")
    assert parse_headers(decode(block))["CallerIDName"] == "И\ufffdв"


def test_clear_forgets_the_unfinished_message() -> None:
    stream = MessageStream()
    stream.feed(b"Event: Big\r\nX: " + b"A" * 1000)
    stream.clear()
    assert (stream.pending, stream.feed(b"Event: Next\r\n\r\n")) == (0, [b"Event: Next"])


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        pass


async def test_the_listeners_protocol_reads_events_and_answers_with_the_parser_byte_by_byte() -> None:
    """What panoramisk's own reading lost: a Cyrillic name split across reads; and actions still get answers."""
    manager = Manager(loop=asyncio.get_running_loop())
    events: list[Message] = []
    manager.register_event("*", lambda _manager, event: events.append(event))
    transport = _Transport()
    protocol = AmiProtocol(max_message_bytes=200)
    protocol.connection_made(transport)
    protocol.factory, protocol.encoding = manager, "utf8"
    answer = protocol.send({"Action": "Ping"})
    action_id = parse_headers(transport.written[0].decode())["ActionID"]
    stream = (f"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n\r\n"
              "Event: Newchannel\r\nCallerIDName: Иван Петров\r\nLinkedid: 1.1\r\nLinkedid: 1.2\r\n\r\n").encode()
    for offset in range(len(stream)):
        protocol.data_received(stream[offset:offset + 1])
    assert (await asyncio.wait_for(answer, 1))["Ping"] == "Pong"
    assert [(e["Event"], e["CallerIDName"], e["Linkedid"]) for e in events] == [("Newchannel", "Иван Петров", "1.2")]
    assert protocol.version == "11.0.0"
    protocol.data_received(b"Event: Endless\r\nX: " + b"A" * 200)
    assert transport.aborted, "a message over the limit without an end drops the link"


async def test_events_go_straight_to_the_listener_and_unwanted_ones_are_dropped_unread() -> None:
    """With ``on_event``: the PBX's own events as plain dicts, at once and in order, those not wanted dropped on
    their first line; answers, a list action's events (its ActionID) and Shutdown still go through panoramisk."""
    manager = Manager(loop=asyncio.get_running_loop())
    through_panoramisk: list[Message] = []
    manager.register_event("*", lambda _manager, event: through_panoramisk.append(event))
    straight: list[dict[str, str]] = []
    transport = _Transport()
    protocol = AmiProtocol(on_event=straight.append, wanted={"Newchannel", "Hangup"})
    protocol.connection_made(transport)
    protocol.factory, protocol.encoding = manager, "utf8"
    listed = protocol.send({"Action": "CoreShowChannels"}, as_list=True)
    action_id = parse_headers(transport.written[0].decode())["ActionID"]
    stream = ("Event: Newchannel\r\nCallerIDName: Иван Петров\r\nUniqueid: 1.1\r\n\r\n"
              "Event: Newstate\r\nUniqueid: 1.1\r\n\r\n"
              "Event: VarSet\r\nUniqueid: 1.1\r\nValue: x\r\n\r\n"
              f"Response: Success\r\nActionID: {action_id}\r\nEventList: start\r\n\r\n"
              f"Event: CoreShowChannel\r\nActionID: {action_id}\r\nUniqueid: 1.1\r\n\r\n"
              f"Event: CoreShowChannelsComplete\r\nActionID: {action_id}\r\nEventList: Complete\r\n\r\n"
              "Event: Hangup\nUniqueid: 1.1\nCause: 16\n\n"
              "Event: Shutdown\r\nShutdown: Cleanly\r\nRestart: False\r\n\r\n").encode()
    for offset in range(0, len(stream), 7):
        protocol.data_received(stream[offset:offset + 7])
    assert straight == [{"Event": "Newchannel", "CallerIDName": "Иван Петров", "Uniqueid": "1.1"},
                        {"Event": "Hangup", "Uniqueid": "1.1", "Cause": "16"}]
    assert all(type(event) is dict for event in straight)
    assert protocol.dropped == 2
    answer = await asyncio.wait_for(listed, 1)
    assert [m.get("Event") for m in answer] == [None, "CoreShowChannel", "CoreShowChannelsComplete"]
    assert [e["Event"] for e in through_panoramisk] == ["Shutdown"]
