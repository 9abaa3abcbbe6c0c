"""core.textnum, the one door for numbers in outside text: what it takes, what it refuses and why."""

from __future__ import annotations

import pytest

from core import textnum
from core.errors import EngineLogError, SetupError
from core.textnum import BYTES, CONTEXT, LAYERS, MIB, SAMPLING


@pytest.mark.parametrize(
    ("text", "value"),
    [("4096", 4096), (" 4096\n", 4096), ("+7", 7), ("007", 7), ("0", 0), ("100000000", 100_000_000)],
)
def test_whole_numbers_in_ascii_digits_are_read(text: str, value: int) -> None:
    assert textnum.whole(text, CONTEXT) == value
    assert isinstance(textnum.whole(text, CONTEXT), int)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.2.3", "more than one decimal point"),
        ("١٢٣", "U+0661"),  # Arabic-Indic digits: int() would take them
        ("²", "U+00B2"),  # isdigit() is true, int() fails
        ("1" * 400, "more than 30 digits"),
        ("1_000", "not a whole number"),  # int() takes underscores, llama.cpp does not
        ("inf", "not a whole number"),
        ("nan", "not a whole number"),
        ("0x10", "not a whole number"),
        ("1.5", "not a whole number"),
        ("", "empty"),
        ("\u00a012", "not a whole number"),  # a no-break space is not a space we trim
        ("100000001", "larger than a context can be (at most 100,000,000 tokens)"),
        ("-1", "smaller than a context can be (at least 0 tokens)"),
    ],
)
def test_whole_refuses_with_the_reason(text: str, reason: str) -> None:
    parsed = textnum.read_whole(text, CONTEXT)
    assert parsed.value is None and not parsed
    assert reason in (parsed.reason or "")
    assert textnum.whole_or_none(text, CONTEXT) is None


def test_decimals_take_one_point_and_a_short_exponent() -> None:
    assert textnum.decimal("1918.35", MIB) == pytest.approx(1918.35)
    assert textnum.decimal(".5", SAMPLING) == 0.5
    assert textnum.decimal("1e-5", SAMPLING) == pytest.approx(1e-5)
    assert textnum.decimal("-1", SAMPLING) == -1.0
    assert textnum.read_decimal("1.2.3", MIB).reason == "has more than one decimal point"
    assert "larger than a size" in (textnum.read_decimal("1e999", MIB).reason or "")  # inf after float()
    assert textnum.read_decimal("1e1000", MIB).reason == "is not a number"  # exponents have three digits at most
    assert textnum.decimal_or_none("nan", MIB) is None


def test_the_error_is_the_callers_type_with_a_plain_message_and_a_fix() -> None:
    with pytest.raises(SetupError) as exc:
        textnum.whole("99999999999", CONTEXT, "-c")
    assert exc.value.message == (
        "-c should be a whole number of tokens, not '99999999999': it is larger than a context can be "
        "(at most 100,000,000 tokens)."
    )
    assert exc.value.fix == "Fix the value of -c."
    with pytest.raises(EngineLogError, match=r"not '\\u0661\\u0662'.*U\+0661"):
        textnum.decimal("١٢", MIB, "The buffer size", EngineLogError, "Pick the log again.")


def test_a_quoted_value_is_short_and_shows_no_control_character() -> None:
    with pytest.raises(SetupError) as exc:
        textnum.whole("\x1b]52;c;ZXZpbA==\x07" + "9" * 100, LAYERS, "-ngl")
    assert "\x1b" not in exc.value.message and "\x07" not in exc.value.message
    assert "\\u001b" in exc.value.message and len(exc.value.message) < 200


def test_json_numbers_are_bounded_and_typed() -> None:
    assert textnum.json_whole(8 * 2**30, BYTES) == 8 * 2**30
    for bad in (10**400, -5, True, "4096", 4096.0, None, [4096], {"n": 1}):
        assert textnum.json_whole(bad, BYTES) is None
    assert textnum.json_decimal(1.5, MIB) == 1.5
    assert textnum.json_decimal(10**400, MIB) is None  # float(10**400) would raise OverflowError
    assert textnum.json_decimal(float("inf"), MIB) is None
    assert textnum.json_decimal(False, MIB) is None


def test_is_number_is_the_shape_only() -> None:
    assert textnum.is_number("-1") and textnum.is_number("0.5") and textnum.is_number("-1e-3")
    assert not textnum.is_number("--port") and not textnum.is_number("1.2.3") and not textnum.is_number("٣")
