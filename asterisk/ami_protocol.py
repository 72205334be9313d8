"""panoramisk's AMI protocol with callercard's reading of the stream: ``asterisk.ami_message`` and a size limit.

panoramisk keeps the connection, the login and the actions (its futures resolve as before); what changes is how
the bytes become messages. panoramisk decodes each TCP chunk on its own with errors ignored, so a caller name's
character split across two chunks, or one bad byte, silently vanishes, and it buffers an unfinished message
without limit. Here a message is decoded whole (invalid bytes become U+FFFD), its headers are read by the one AMI
parser the simulator and the tests use, and a peer that sends more than ``max_message_bytes`` without ending a
message loses the link (the listener then reconnects).

Events the PBX sends on its own (no ``ActionID``) take a shorter way when ``on_event`` is given: an event whose
name is not in ``wanted`` is dropped on its first line, before it is decoded or parsed (what the PBX's filter
would have kept back, when it has none); the others go to ``on_event`` as a plain dict, at once and in order,
without panoramisk's case-insensitive ``Message`` and the task it starts per event callback. Answers to actions
and the events of an action's list (they carry its ``ActionID``) go through panoramisk as before, and so does
``Shutdown``, on which panoramisk ends the session.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from asterisk.ami_message import MessageStream, decode, parse_headers

log = logging.getLogger(__name__)
_BANNER = "Asterisk Call Manager/"
_EVENT = b"Event: "
_ACTION_ID = b"\nActionID:"
_PANORAMISK_READS = frozenset({b"Shutdown"})
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
EventSink = Callable[[dict[str, str]], None]


def event_name(block: bytes) -> bytes | None:
    """The name of an event the PBX sent on its own (none: an answer, a list's event, anything else)."""
    if not block.startswith(_EVENT) or _ACTION_ID in block:
        return None
    end = block.find(b"\n")
    return (block[len(_EVENT):] if end < 0 else block[len(_EVENT):end]).rstrip(b"\r ")


# panoramisk ships no type hints: its protocol class is ``Any`` to mypy.
class AmiProtocol(AMIProtocol):  # type: ignore[misc]
    version: str | None = None  # the banner's protocol version, as panoramisk keeps it

    def __init__(self, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, on_event: EventSink | None = None,
                 wanted: Collection[str] | None = None) -> None:
        super().__init__()
        self.max_message_bytes = max_message_bytes
        self._stream = MessageStream()
        self._on_event = on_event
        self._wanted = None if wanted is None else frozenset(name.encode() for name in wanted)
        self.dropped = 0  # events dropped unread (not wanted)

    def data_received(self, data: bytes) -> None:
        for block in self._stream.feed(data):
            if self._on_event is not None and (name := event_name(block)) is not None \
                    and name not in _PANORAMISK_READS:
                if self._wanted is not None and name not in self._wanted:
                    self.dropped += 1
                else:
                    self._on_event(parse_headers(decode(block)))
                continue
            text = decode(block)
            if self.version is None and text.startswith(_BANNER):
                self.version = text.partition("\n")[0].removeprefix(_BANNER).strip()
            headers = parse_headers(text)
            # As panoramisk: a message is a response (to one of its actions) or an event; anything else is noise.
            if "Event" in headers or "Response" in headers:
                self.handle_message(Message(headers))
        if self._stream.pending > self.max_message_bytes:
            log.error("AMI message over %d bytes without an end; dropping the link", self.max_message_bytes)
            self._stream.clear()
            self.transport.abort()


def protocol_factory(*, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, on_event: EventSink | None = None,
                     wanted: Collection[str] | None = None) -> Callable[[], AmiProtocol]:
    """What ``panoramisk.Manager(protocol_factory=...)`` builds each connection's protocol with."""
    return functools.partial(AmiProtocol, max_message_bytes=max_message_bytes, on_event=on_event, wanted=wanted)
