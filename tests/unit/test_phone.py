"""callercard.phone: every caller-ID spelling maps to one store key, or fails with a precise message."""

from __future__ import annotations

import dataclasses

import pytest

from callercard.phone import InvalidNumber, Number, NumberKind, dial_string, normalize

MOSCOW = "+74951234567"


@pytest.mark.parametrize(
    "raw",
    [
        # the three equivalent formats from the product brief
        "8 (495) 123-45-67",
        "84951234567",
        "+7 495 1234567",
        # more spellings of the same number
        "74951234567",  # country code without '+'
        "+74951234567",
        "+7(495)123-45-67",
        "8-495-123-45-67",
        "8.495.123.45.67",
        "  8 495 123 45 67  ",
        "0074951234567",  # '00' is international even though RU's own IDD prefix is 810
        "00 7 495 123 45 67",
        # URI and Asterisk forms
        "tel:+74951234567",
        "TEL:+7-495-123-45-67",
        "sip:+74951234567@pbx.example",
        "sips:84951234567@10.0.0.1:5061",
        "sip:+74951234567;user=phone@pbx.example",
        "84951234567@pbx.example",
        '"Ivan Petrov" <84951234567>',
        '"Ivan Petrov" <sip:+74951234567@pbx.example>',
        "Ivan <+7 495 123-45-67>",
    ],
)
def test_spellings_of_one_moscow_number(raw: str) -> None:
    number = normalize(raw)
    assert number == Number(raw=raw, kind=NumberKind.E164, e164=MOSCOW)
    assert number.key == MOSCOW


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("89031112233", "+79031112233"),  # RU mobile, trunk prefix 8
        ("79031112233", "+79031112233"),  # RU mobile, country code without '+'
        ("+79161234567", "+79161234567"),
        ("+74959876543", "+74959876543"),
        ("+79991234567", "+79991234567"),
        ("+4930123456", "+4930123456"),  # international regardless of region
        ("00 49 30 123456", "+4930123456"),
        ("+1 (202) 555-0123", "+12025550123"),
        ("+77011234567", "+77011234567"),  # Kazakhstan shares +7
    ],
)
def test_e164_numbers(raw: str, e164: str) -> None:
    assert normalize(raw) == Number(raw=raw, kind=NumberKind.E164, e164=e164)
    assert normalize(raw).key == e164


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("4155552671", "US", "+14155552671"),
        ("1 415 555 2671", "US", "+14155552671"),
        ("4155552671", "us", "+14155552671"),  # region is case-insensitive
        ("030 123456", "DE", "+4930123456"),
        ("+74951234567", "DE", MOSCOW),
        ("0074951234567", "US", MOSCOW),
    ],
)
def test_other_regions(raw: str, region: str, e164: str) -> None:
    assert normalize(raw, region=region).e164 == e164


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        " - ",
        "()",
        "anonymous",
        "Anonymous",
        "ANONYMOUS",
        "unknown",
        "<unknown>",
        "  <Unknown>  ",
        "Unavailable",
        "restricted",
        "Private",
        "withheld",
        "blocked",
        '"Anonymous" <anonymous>',
        '"" <>',
        "sip:anonymous@anonymous.invalid",
        "sip:Anonymous@pbx.example",
    ],
)
def test_withheld(raw: str | None) -> None:
    number = normalize(raw)
    assert number == Number(raw=raw or "", kind=NumberKind.WITHHELD, e164=None)
    assert number.key == "withheld"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("20", "internal:20"),
        ("201", "internal:201"),
        ("1001", "internal:1001"),
        ("12345", "internal:12345"),
        ("20 1", "internal:201"),
        (" 1001 ", "internal:1001"),
        ("sip:201@pbx.example", "internal:201"),
        ('"Reception" <201>', "internal:201"),
    ],
)
def test_internal_extensions(raw: str, key: str) -> None:
    number = normalize(raw)
    assert number == Number(raw=raw, kind=NumberKind.INTERNAL, e164=None)
    assert number.key == key


def test_extensions_win_over_area_code() -> None:
    assert normalize("12345", default_area_code="495").kind is NumberKind.INTERNAL


@pytest.mark.parametrize(
    ("raw", "area_code", "e164"),
    [
        ("1234567", "495", MOSCOW),
        ("123-45-67", "495", MOSCOW),
        ("123 45 67", "495", MOSCOW),
        ("123456", "4012", "+74012123456"),  # 6-digit local number, 4-digit area code
        # full numbers are left alone
        ("84951234567", "812", MOSCOW),
        ("+74951234567", "812", MOSCOW),
        ("4951234567", "812", MOSCOW),
    ],
)
def test_default_area_code(raw: str, area_code: str, e164: str) -> None:
    assert normalize(raw, default_area_code=area_code) == Number(raw=raw, kind=NumberKind.E164, e164=e164)


@pytest.mark.parametrize(
    ("raw", "kwargs", "message"),
    [
        ("12ab", {}, "'12ab' contains letters"),
        ("8 800 FLOWERS", {}, "'8 800 FLOWERS' contains letters"),
        ("+7 495 123-45-67 ext 12", {}, "'+7 495 123-45-67 ext 12' contains letters"),
        ('"Ivan" <84951234567x>', {}, "'\"Ivan\" <84951234567x>' contains letters"),
        ("1" * 33, {}, f"'{'1' * 33}' is too long (max 32 characters)"),
        ("x" * 50, {}, f"'{'x' * 37}...' is too long (max 32 characters)"),
        ("*98", {}, "'*98' contains characters other than digits and a leading '+'"),
        ("8+4951234567", {}, "'8+4951234567' contains characters other than digits and a leading '+'"),
        ("1", {}, "'1' is not a valid phone number for region RU"),
        ("123456", {}, "'123456' is not a valid phone number for region RU"),
        ("495123456", {}, "'495123456' is not a valid phone number for region RU"),
        ("849512345678", {}, "'849512345678' is not a valid phone number for region RU"),
        ("+7495123456", {}, "'+7495123456' is not a valid phone number"),
        ("+1", {}, "'+1' is not a valid phone number"),
        ("00201", {}, "'00201' is not a valid phone number"),  # '00' is international, never an extension
        ("1234567", {}, "'1234567' is a local number without an area code for region RU"),
        ("123456", {"default_area_code": "495"}, "'123456' is not a valid phone number for region RU"),
        ("1", {"region": "US"}, "'1' is not a valid phone number for region US"),
    ],
)
def test_invalid_numbers(raw: str, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize(raw, **kwargs)
    assert str(caught.value) == message
    assert caught.value.message == message
    assert caught.value.raw == raw
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "XX"}, "unknown region 'XX'"),
        ({"default_area_code": "49a"}, "default_area_code must be digits, got '49a'"),
        ({"default_area_code": ""}, "default_area_code must be digits, got ''"),
    ],
)
def test_bad_options_are_programming_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalize("84951234567", **kwargs)
    assert not isinstance(caught.value, InvalidNumber)
    assert str(caught.value) == message


def test_number_is_frozen_and_kind_values_are_stable() -> None:
    number = normalize("84951234567")
    with pytest.raises(dataclasses.FrozenInstanceError):
        number.e164 = "+70000000000"  # type: ignore[misc]
    assert [kind.value for kind in NumberKind] == ["e164", "withheld", "internal"]


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        normalize("84951234567", "RU")  # type: ignore[misc]


@pytest.mark.parametrize(("e164", "region", "dialed"), [
    ("+74951234567", "RU", "84951234567"),  # domestic: the national prefix, as the click-to-dial capture dials
    ("+79161234567", "RU", "89161234567"),
    ("+16502530000", "RU", "81016502530000"),  # abroad: Russia's international prefix 8~10
    ("+74951234567", "US", "01174951234567"),
])
def test_dial_string_is_what_a_pbx_in_the_region_dials(e164: str, region: str, dialed: str) -> None:
    assert dial_string(e164, region=region) == dialed
