"""A capture with fresh ids: the same calls again, as Asterisk would number them another time."""

from __future__ import annotations

import re
import uuid
import weakref
from collections.abc import Mapping

from amisim.capture import Capture, Entry

_UNIQUEID = re.compile(r"^\d+\.\d+$")
_CHANNEL_SUFFIX = re.compile(r"-([0-9a-f]{8})(?:;[12])?$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def clone_with_fresh_ids(capture: Capture, suffix: int) -> Capture:
    """The capture with every Uniqueid/Linkedid, channel suffix (``-00000004;1``) and bridge id replaced by
    values unique to ``suffix`` (>= 1), consistently across all entries (in and out)."""
    return fresh_ids(capture).clone(suffix)


def fresh_ids(capture: Capture) -> FreshIds:
    """``capture``'s ids, found once per capture (a load PBX clones a hundred calls a second from a few)."""
    found = _FOUND.get(capture)
    if found is None:
        found = _FOUND[capture] = FreshIds(capture)
    return found


class FreshIds:
    """Where a capture's ids are in each entry's text, so that a clone is string joins, not regex passes."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self._uuids: list[str] = []
        self._uniqueids: dict[str, tuple[str, int]] = {}  # value -> (epoch, sequence number)
        self._channels: dict[str, int] = {}  # hex suffix -> its value
        for e in capture.entries:
            for key, value in e.headers.items():
                if _UUID.match(value):
                    self._uuids.append(value)
                elif key.endswith(("Uniqueid", "Linkedid")) and _UNIQUEID.match(value):
                    epoch, seq = value.split(".")
                    self._uniqueids[value] = (epoch, int(seq))
                elif key.endswith("Channel") and (m := _CHANNEL_SUFFIX.search(value)):
                    self._channels[m.group(1)] = int(m.group(1), 16)
        ids = {*self._uuids, *self._uniqueids}
        id_re = re.compile(rf"(?<![\w.-])(?:{_alternatives(ids)})(?![\w.])")
        channel_re = re.compile(rf"-({_alternatives(self._channels)})(?![0-9a-f])")
        # Each entry as literal text and tokens (an id, or a channel suffix after its "-"): the ids' and the
        # channel suffixes' places never overlap, so both are found in the recorded text at once.
        self._parts = [_split(e.raw, id_re, channel_re) for e in capture.entries]
        replay = {id(e) for e in capture.replay_entries}
        self._replay = [i for i, e in enumerate(capture.entries) if id(e) in replay]
        self.linkedid = next((h["Linkedid"] for i in self._replay
                              if (h := capture.entries[i].headers).get("Linkedid")), None)

    def values(self, suffix: int) -> dict[str, str]:
        """Each recorded id's (and channel suffix's, prefixed ``-``) value in clone ``suffix``."""
        if suffix < 1:
            raise ValueError("suffix must be >= 1")
        values = {value: str(uuid.uuid5(uuid.NAMESPACE_OID, f"{value}/{suffix}")) for value in self._uuids}
        values.update({value: f"{epoch}.{seq + suffix * 1_000_000}"
                       for value, (epoch, seq) in self._uniqueids.items()})
        values.update({f"-{hex_}": f"-{(number + suffix * 0x100000) & 0xFFFFFFFF:08x}"
                       for hex_, number in self._channels.items()})
        return values

    def clone(self, suffix: int) -> Capture:
        values = self.values(suffix)
        entries = [Entry(e.t, e.dir, _join(parts, values)) for e, parts in zip(self.capture.entries, self._parts,
                                                                                strict=True)]
        return Capture({**self.capture.header, "clone": suffix}, entries)

    def replay(self, suffix: int) -> tuple[str | None, list[tuple[float, str]]]:
        """Clone ``suffix``'s Linkedid and its ``replay_entries`` as (recorded time, text), without the rest."""
        values = self.values(suffix)
        entries = self.capture.entries
        linkedid = values.get(self.linkedid, self.linkedid) if self.linkedid is not None else None
        return linkedid, [(entries[i].t, _join(self._parts[i], values)) for i in self._replay]


_FOUND: weakref.WeakKeyDictionary[Capture, FreshIds] = weakref.WeakKeyDictionary()
Part = str | tuple[str]  # literal text, or (token,): replaced by the clone's value


def _alternatives(tokens: Mapping[str, object] | set[str]) -> str:
    return "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)) or r"(?!)"


def _split(raw: str, id_re: re.Pattern[str], channel_re: re.Pattern[str]) -> list[Part]:
    spans = sorted([(m.start(), m.end(), m.group(0)) for m in id_re.finditer(raw)]
                   + [(m.start(), m.end(), "-" + m.group(1)) for m in channel_re.finditer(raw)])
    parts: list[Part] = []
    at = 0
    for start, end, token in spans:
        if start < at:
            raise ValueError(f"overlapping ids in a capture entry: {raw[:80]!r}")
        parts += [raw[at:start], (token,)]
        at = end
    parts.append(raw[at:])
    return parts


def _join(parts: list[Part], values: Mapping[str, str]) -> str:
    return "".join(part if isinstance(part, str) else values[part[0]] for part in parts)
