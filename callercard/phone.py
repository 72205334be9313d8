"""Phone-number normalization: the one place that turns caller IDs into store keys.

Every caller ID (AMI event, API query, import row) goes through :func:`normalize`, which returns a
:class:`Number` whose :attr:`Number.key` is what stores use as ``_id``. Three kinds exist: a real number
normalized to E.164, a withheld/anonymous caller, and a short internal PBX extension. Anything else
raises :class:`InvalidNumber`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from callercard.errors import InvalidInput

MAX_LENGTH = 32
_INTERNAL_LENGTHS = range(2, 6)  # PBX extensions: 2-5 digits
# Local numbers that take default_area_code. 5 digits would also fit, but a 5-digit string is an extension.
_LOCAL_LENGTHS = range(6, 8)
_WITHHELD = frozenset({"anonymous", "unknown", "unavailable", "restricted", "private", "withheld", "blocked"})
_QUOTED = re.compile(r'^\s*(?:"[^"]*"|[^"<]*)\s*<([^<>]*)>\s*$')  # Asterisk: "Name" <number>
_URI = re.compile(r"^\s*(?:tel|sips?):", re.IGNORECASE)
_FORMATTING = re.compile(r"[\s\-.()]")
_NUMBER = re.compile(r"\+?[0-9]+")


class NumberKind(StrEnum):
    E164 = "e164"  # a real phone number, normalized to E.164
    WITHHELD = "withheld"  # anonymous / unknown / restricted / empty caller ID
    INTERNAL = "internal"  # short internal extension (2-5 digits)


@dataclass(frozen=True, slots=True)
class Number:
    """A normalized caller ID. ``e164`` is set exactly when ``kind`` is ``NumberKind.E164``."""

    raw: str
    kind: NumberKind
    e164: str | None

    @property
    def key(self) -> str:
        """Store ``_id``: the E.164 string, ``internal:<digits>`` or ``withheld``."""
        if self.kind is NumberKind.E164:
            assert self.e164 is not None
            return self.e164
        if self.kind is NumberKind.INTERNAL:
            return f"internal:{_FORMATTING.sub('', _number_part(self.raw))}"
        return NumberKind.WITHHELD.value


class InvalidNumber(ValueError):
    """The input is neither a phone number, an extension nor a withheld marker.

    ``raw`` is the input as received, ``reason`` the bare explanation; ``str(exc)`` (also ``message``) is
    ``"<repr of raw> <reason>"``, e.g. ``"'12ab' contains letters"``.
    """

    def __init__(self, raw: str, reason: str) -> None:
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        self.raw = raw
        self.reason = reason
        self.message = f"{shown!r} {reason}"
        super().__init__(self.message)


def normalize(raw: str | None, *, region: str = "RU", default_area_code: str | None = None) -> Number:
    """Normalize a caller ID.

    - ``None``, blank strings and withheld spellings (``anonymous``, ``<unknown>``, ``Restricted``, ...,
      case-insensitive) give ``NumberKind.WITHHELD``; these never raise.
    - Asterisk's ``"Name" <number>``, a ``tel:``/``sip:`` prefix and an ``@host`` suffix are stripped,
      then spaces, dashes, dots and parentheses.
    - 2-5 digits give ``NumberKind.INTERNAL``.
    - A leading ``+`` or ``00`` is international; otherwise the number is national for ``region``
      (``8 495 ...`` and ``7 495 ...`` both work for RU). A 6-7 digit local number gets
      ``default_area_code`` prefixed when one is given.
    - The result must be a possible number (length check, not range check), else :class:`InvalidNumber`.
      So are letters, other characters and inputs longer than ``MAX_LENGTH``.

    ``region`` is an ISO 3166 code; an unknown region or a non-digit area code is a ``ValueError``.
    """
    region = region.upper()
    if phonenumbers.country_code_for_region(region) == 0:
        raise ValueError(f"unknown region {region!r}")
    if default_area_code is not None and not default_area_code.isdigit():
        raise ValueError(f"default_area_code must be digits, got {default_area_code!r}")
    return _parse(raw or "", region, default_area_code)


def _number_part(raw: str) -> str:
    """The number inside ``"Name" <...>`` and without a URI scheme, ``@host`` or URI parameters."""
    if quoted := _QUOTED.match(raw):
        raw = quoted.group(1)
    if uri := _URI.match(raw):
        raw = raw[uri.end() :].split(";", 1)[0]
    return raw.split("@", 1)[0].strip()


@functools.lru_cache(maxsize=4096)
def _parse(raw: str, region: str, default_area_code: str | None) -> Number:
    part = _number_part(raw)
    if part.lower() in _WITHHELD:  # "<unknown>" and "sip:anonymous@..." arrive here unwrapped
        return Number(raw, NumberKind.WITHHELD, None)
    if len(part) > MAX_LENGTH:
        raise InvalidNumber(raw, f"is too long (max {MAX_LENGTH} characters)")
    digits = _FORMATTING.sub("", part)
    if not digits:
        return Number(raw, NumberKind.WITHHELD, None)
    if any(c.isalpha() for c in digits):
        raise InvalidNumber(raw, "contains letters")
    if not _NUMBER.fullmatch(digits):
        raise InvalidNumber(raw, "contains characters other than digits and a leading '+'")
    if digits.startswith("00"):
        digits = "+" + digits[2:]  # phonenumbers only knows the region's own IDD prefix (810 for RU)
    international = digits.startswith("+")
    if not international and len(digits) in _INTERNAL_LENGTHS:
        return Number(raw, NumberKind.INTERNAL, None)
    if not international and default_area_code and len(digits) in _LOCAL_LENGTHS:
        digits = default_area_code + digits
    where = "" if international else f" for region {region}"
    try:
        parsed = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(raw, f"is not a valid phone number{where}") from None
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise InvalidNumber(raw, f"is a local number without an area code{where}")
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise InvalidNumber(raw, f"is not a valid phone number{where}")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return Number(raw, NumberKind.E164, e164)


def dial_string(e164: str, *, region: str = "RU") -> str:
    """What a PBX in ``region`` dials to reach ``e164``: domestic numbers with the national prefix
    (``+74951234567`` → ``84951234567`` in RU), others with the region's international prefix. Digits only,
    so outbound dialplans that match ``_X.`` take it."""
    parsed = phonenumbers.parse(e164, None)
    formatted = phonenumbers.format_out_of_country_calling_number(parsed, region.upper())
    return re.sub(r"\D", "", formatted)


def parse_input(raw: str, *, field: str, region: str, area_code: str | None) -> Number:
    """``normalize`` for a number someone gave callercard (an API call, an import row): an invalid one is an
    ``InvalidInput`` naming ``field``, the 422 that says what is wrong with it."""
    try:
        return normalize(raw, region=region, default_area_code=area_code)
    except InvalidNumber as error:
        raise InvalidInput(field, str(error)) from error


def dialable(raw: str, *, field: str, region: str, area_code: str | None) -> str:
    """The E.164 form of a number someone gave callercard to store or dial; ``InvalidInput`` naming ``field`` when
    it is invalid, withheld or an internal extension."""
    number = parse_input(raw, field=field, region=region, area_code=area_code)
    if number.e164 is None:
        raise InvalidInput(field, f"{raw!r} is {number.kind.value}, not a dialable number")
    return number.e164


def search_keys(e164: str) -> dict[str, str]:
    """The forms of ``e164`` a lookup source may search its own records by (an HTTP source's URL template fills
    them in, a SQL source's query binds them): ``e164`` (``+74951234567``), ``digits`` (``74951234567``),
    ``national`` (the national significant number, ``4951234567``), ``last10`` and ``last7`` (its last digits,
    for a CRM that keeps numbers as typed; what such a search finds is checked with ``normalize``)."""
    parsed = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(parsed)
    digits = e164.removeprefix("+")
    return {"e164": e164, "digits": digits, "national": national, "last10": digits[-10:], "last7": digits[-7:]}


def national(e164: str, *, region: str = "RU") -> str:
    """``e164`` the way people in ``region`` write it (``+79031112233`` → ``8 (903) 111-22-33`` in RU); numbers of
    other countries in international format."""
    parsed = phonenumbers.parse(e164, None)
    if phonenumbers.region_code_for_number(parsed) == region.upper():
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
