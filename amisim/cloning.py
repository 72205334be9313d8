"""A capture with fresh ids: the same calls again, as Asterisk would number them another time."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from amisim.capture import Capture, Entry

_UNIQUEID = re.compile(r"^\d+\.\d+$")
_CHANNEL_SUFFIX = re.compile(r"-([0-9a-f]{8})(?:;[12])?$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def clone_with_fresh_ids(capture: Capture, suffix: int) -> Capture:
    """The capture with every Uniqueid/Linkedid, channel suffix (``-00000004;1``) and bridge id replaced by
    values unique to ``suffix`` (>= 1), consistently across all entries (in and out)."""
    if suffix < 1:
        raise ValueError("suffix must be >= 1")
    ids: dict[str, str] = {}
    channels: dict[str, str] = {}
    for e in capture.entries:
        for key, value in e.headers.items():
            if _UUID.match(value):
                ids[value] = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{value}/{suffix}"))
            elif key.endswith(("Uniqueid", "Linkedid")) and _UNIQUEID.match(value):
                epoch, seq = value.split(".")
                ids[value] = f"{epoch}.{int(seq) + suffix * 1_000_000}"
            elif key.endswith("Channel") and (m := _CHANNEL_SUFFIX.search(value)):
                channels[m.group(1)] = f"{(int(m.group(1), 16) + suffix * 0x100000) & 0xFFFFFFFF:08x}"

    def alternatives(tokens: Mapping[str, str]) -> str:
        return "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)) or r"(?!)"

    id_re = re.compile(rf"(?<![\w.-])(?:{alternatives(ids)})(?![\w.])")
    channel_re = re.compile(rf"-({alternatives(channels)})(?![0-9a-f])")

    def rewrite(raw: str) -> str:
        raw = id_re.sub(lambda m: ids[m.group(0)], raw)
        return channel_re.sub(lambda m: "-" + channels[m.group(1)], raw)

    entries = [Entry(e.t, e.dir, rewrite(e.raw)) for e in capture.entries]
    return Capture({**capture.header, "clone": suffix}, entries)

