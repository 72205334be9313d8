"""Display names for desk phones: optional ASCII transliteration and a length cap."""

from __future__ import annotations

import unicodedata

# Russian passport transliteration (ICAO 9303), what Russian desk-phone users expect.
_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s", "t",
     "u", "f", "kh", "ts", "ch", "sh", "shch", "ie", "y", "", "e", "iu", "ia"],
    strict=True,
))


def _transliterate_char(char: str) -> str:
    lower = char.lower()
    if lower in _CYRILLIC:
        latin = _CYRILLIC[lower]
        return latin.capitalize() if char != lower else latin
    decomposed = unicodedata.normalize("NFKD", char)
    return decomposed.encode("ascii", "ignore").decode("ascii")


def to_ascii(text: str) -> str:
    return "".join(_transliterate_char(char) for char in text)


def for_phone_display(name: str, *, ascii_only: bool, max_length: int | None) -> str:
    """The name cleaned for CALLERID(name): no control characters, optionally ASCII, at most ``max_length``."""
    cleaned = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if ascii_only:
        cleaned = to_ascii(cleaned)
    if max_length is not None and len(cleaned) > max_length:
        cleaned = cleaned[:max_length].rstrip()
    return cleaned
