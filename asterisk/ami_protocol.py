"""panoramisk's AMI protocol with callercard's reading of the stream: ``asterisk.ami_message`` and a size limit.

panoramisk keeps the connection, the login and the actions (its futures resolve as before); what changes is how
the bytes become messages. panoramisk decodes each TCP chunk on its own with errors ignored, so a caller name's
character split across two chunks, or one bad byte, silently vanishes, and it buffers an unfinished message
without limit. Here a message is decoded whole (invalid bytes become U+FFFD), its headers are read by the one AMI
parser the simulator and the tests use, and a peer that sends more than ``max_message_bytes`` without ending a
message loses the link (the listener then reconnects).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from asterisk.ami_message import MessageStream, decode, parse_headers

log = logging.getLogger(__name__)
_BANNER = "Asterisk Call Manager/"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


# panoramisk ships no type hints: its protocol class is ``Any`` to mypy.
class AmiProtocol(AMIProtocol):  # type: ignore[misc]
    version: str | None = None  # the banner's protocol version, as panoramisk keeps it

    def __init__(self, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        super().__init__()
        self.max_message_bytes = max_message_bytes
        self._stream = MessageStream()

    def data_received(self, data: bytes) -> None:
        for block in self._stream.feed(data):
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


def protocol_factory(*, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Callable[[], AmiProtocol]:
    """What ``panoramisk.Manager(protocol_factory=...)`` builds each connection's protocol with."""
    return functools.partial(AmiProtocol, max_message_bytes=max_message_bytes)
