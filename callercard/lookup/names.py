"""Display names for desk phones: optional ASCII transliteration and a length cap."""

from __future__ import annotations

import unicodedata

import iuliia

# Russian passport transliteration (ICAO Doc 9303), what Russian desk-phone users expect.
_PASSPORT = iuliia.ICAO_DOC_9303


def to_ascii(text: str) -> str:
    """Cyrillic as the passport writes it; any other letter without its accents (``Müller`` → ``Muller``); what
    has no ASCII form is dropped."""
    latin = _PASSPORT.translate(text)
    return unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode("ascii")


def for_phone_display(name: str, *, ascii_only: bool, max_length: int | None) -> str:
    """The name cleaned for CALLERID(name): no control characters, optionally ASCII, at most ``max_length``."""
    cleaned = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if ascii_only:
        cleaned = to_ascii(cleaned)
    if max_length is not None and len(cleaned) > max_length:
        cleaned = cleaned[:max_length].rstrip()
    return cleaned
