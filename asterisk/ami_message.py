"""AMI text to headers: the one place it happens, for the listener, the API's actions, the simulator and the tests.

The rules, as Asterisk writes its manager protocol:

- A message is a block of lines ended by an empty line. A line ends in ``\\n``, with or without a ``\\r``
  before it (Asterisk always sends ``\\r\\n``; it reads both). Empty messages (extra blank lines) are skipped.
- Bytes are UTF-8; a byte sequence that is not UTF-8 becomes U+FFFD, so one bad byte never costs the rest of
  a caller's name. A message is decoded whole, never split inside a character.
- A header line is ``Name: value``: the name is what comes before the first ``:``, the value what follows,
  both without surrounding white space. A line without ``:`` or with an empty name is not a header (the
  ``Asterisk Call Manager/…`` banner, noise).
- **A repeated header keeps its last value.** Asterisk repeats a header only where it lists variables
  (``ChanVariable``, an action's ``Variable``), none of which the call flow reads; the listener always read the
  last one. ``header_lines`` gives every line, repeated ones included, for whoever needs them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_END_OF_MESSAGE = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(r"\r?\n")
# An end of message is at most 4 bytes long: a search resumes this far before where the last one stopped.
_LONGEST_END = 4


def decode(block: bytes) -> str:
    """One message's bytes as text: UTF-8, each invalid sequence replaced by U+FFFD."""
    return block.decode("utf-8", "replace")


def header_lines(text: str) -> Iterator[tuple[str, str]]:
    """Every header of one message, in order, repeated ones included."""
    for line in _LINE_END.split(text):
        name, colon, value = line.partition(":")
        name = name.strip()
        if colon and name:
            yield name, value.strip()


def parse_headers(text: str) -> dict[str, str]:
    """The headers of one message; a repeated header keeps its last value.

    ``header_lines``'s rules in one loop (the listener's hottest code: every event it keeps): splitting on
    ``\n`` alone is the same split, since the ``\r`` before it is white space the strip removes."""
    headers: dict[str, str] = {}
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        if colon and (name := name.strip()):
            headers[name] = value.strip()
    return headers


class MessageStream:
    """Bytes as they arrive in, complete messages out; what is left is the start of the next message."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._searched = 0  # the buffer holds no end of message before this offset

    @property
    def pending(self) -> int:
        """Bytes of the unfinished message (a peer that never ends one makes this grow)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; returns the messages it completed, without their end (empty ones left out)."""
        self._buffer += data
        blocks: list[bytes] = []
        start = 0
        position = max(0, self._searched - _LONGEST_END)
        while (match := _END_OF_MESSAGE.search(self._buffer, position)) is not None:
            if match.start() > start:
                blocks.append(bytes(self._buffer[start:match.start()]))
            start = position = match.end()
        del self._buffer[:start]
        self._searched = len(self._buffer)
        return blocks

    def clear(self) -> None:
        self._buffer.clear()
        self._searched = 0
