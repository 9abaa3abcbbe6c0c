"""Numbers from outside text: the one parser for every number read from a log, an engine's answer, a
pasted command line or a settings file.

Python's own `int()` and `float()` are too generous for text nobody here wrote: they take Unicode digits
(`int("١٢")` is 12, and `"²".isdigit()` is true while `int("²")` fails), underscores (`1_000`), `inf` and
`nan`, and a 400-digit size that later overflows a float in the memory estimate. So outside text is read
here and nowhere else (tests/test_doors.py fails on an `int()`/`float()` of text outside this module):

- ASCII digits only, an optional sign, at most one decimal point (`1.2.3` is refused), an exponent only
  where the quantity is a decimal;
- at most `MAX_DIGITS` digits, so no size of absurd length is ever converted;
- a plain range per quantity (a context, a layer count, a byte size...), so an impossible value is refused
  where it enters rather than printed as "2.8 quadrillion GiB" three modules later.

Each reader comes in two forms, as callers need them: `whole`/`decimal` raise the caller's typed error
(a plain message naming the value and a fix), and `read_whole`/`read_decimal` return a `Parsed` that holds
either the value or the reason there is none (a log line that says nonsense is skipped, not fatal).
`json_whole`/`json_decimal` bound a value an engine's JSON answer already typed (a JSON number can be
`1e400` or have 400 digits too). `whole_argument`/`decimal_argument` are the same readers as argparse
`type=`s, so a command line's numbers (both front ends') come through here too, bounded, and a bad one is
argparse's own usage error (exit 2): tests/test_doors.py refuses `type=int` and `type=float`.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.errors import QuantDoctorError, SetupError

MAX_DIGITS = 30  # more than any real quantity needs (2**64 has 20); a longer run of digits is not a number we use
MAX_CHARS = 64  # the text itself, sign, point and exponent included, after trimming spaces

_WHOLE = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)
_SPACE = " \t\r\n"


@dataclass(frozen=True)
class Quantity:
    """What a number counts, and the range it can possibly have (not the range that is wise)."""

    name: str  # "a context": how a message names it
    unit: str  # "tokens": how a message counts it ("" for none)
    minimum: float
    maximum: float

    def most(self) -> str:
        return f"{_plain(self.maximum)} {self.unit}".rstrip()

    def least(self) -> str:
        return f"{_plain(self.minimum)} {self.unit}".rstrip()


# The plain maximums: generous beyond any real model or machine, small enough that arithmetic on them
# stays exact and finite (a context times a layer count times a head size fits a float without loss).
CONTEXT = Quantity("a context", "tokens", 0, 100_000_000)  # Llama 4 Scout trains for 10M; -c 0 = the model's own
BATCH = Quantity("a batch size", "tokens", 0, 100_000_000)
LAYERS = Quantity("a layer count", "layers", -1, 100_000)  # -ngl -1 (all) and -ngl 99999 are both common
SLOTS = Quantity("a number of slots", "", -1, 100_000)  # llama-server -np -1: automatic
THREADS = Quantity("a thread count", "threads", -1, 100_000)  # -t -1: llama.cpp's default
BYTES = Quantity("a size", "bytes", 0, 2**50)  # 1 PiB
MIB = Quantity("a size", "MiB", 0, 2**30)  # 1 PiB in MiB
COUNT = Quantity("a count", "", 0, 1_000_000_000)  # tokens, parameters in billions, outputs...
SAMPLING = Quantity("a sampling setting", "", -1_000_000, 1_000_000)  # temperature, top-k, penalties (-1: off)
SEED = Quantity("a seed", "", -1, 2**64)
VERSION_PART = Quantity("a version number", "", 0, 1_000_000_000)
PORT = Quantity("a port", "", 0, 65535)
KIB = Quantity("a size", "KiB", 0, 2**40)  # /proc/meminfo's "kB" (1 PiB)
GIB = Quantity("a memory size", "GB", 0, 2**20)  # a GPU's memory as a person writes it (1 PiB)
BITS = Quantity("a number of bits per weight", "bits", 1, 64)  # from a quant's name: Q4_K, 4.65bpw, 4bit
PARTS = Quantity("a number of file parts", "", 0, 99_999)  # a split GGUF: -00001-of-00003 (five digits)
DEVICE = Quantity("a device number", "", 0, 4_096)  # CUDA0, Vulkan1: the index a backend gives a device
PIXELS = Quantity("a window size", "pixels", 1, 100_000)  # a screenshot's WIDTHxHEIGHT
SECONDS = Quantity("a time", "seconds", 0, 86_400)  # a wait a person sets: a day at most


N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Parsed(Generic[N]):
    """A number read from text, or why there is none (`value` None exactly when `reason` is set)."""

    value: N | None
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.value is not None


def read_whole(text: object, quantity: Quantity) -> Parsed[int]:
    """A whole number in `quantity`'s range, from text; the reason when it is not one."""
    reason = _shape(text, _WHOLE, "a whole number")
    if reason:
        return Parsed(None, reason)
    assert isinstance(text, str)
    value = int(text.strip(_SPACE))
    why = _out_of_range(value, quantity)
    return Parsed(None, why) if why else Parsed(value)


def read_decimal(text: object, quantity: Quantity) -> Parsed[float]:
    """A decimal number (`0.8`, `2`, `1e-5`) in `quantity`'s range, from text; the reason when it is not one."""
    reason = _shape(text, _DECIMAL, "a number")
    if reason:
        return Parsed(None, reason)
    assert isinstance(text, str)
    value = float(text.strip(_SPACE))
    if not math.isfinite(value):  # 1e999 passed the shape: its exponent has three digits
        return Parsed(None, f"is larger than {quantity.name} can be (at most {quantity.most()})")
    why = _out_of_range(value, quantity)
    return Parsed(None, why) if why else Parsed(value)


def whole_or_none(text: object, quantity: Quantity) -> int | None:
    """`read_whole`'s value, or None: for evidence that is simply skipped when it is not a number."""
    return read_whole(text, quantity).value


def decimal_or_none(text: object, quantity: Quantity) -> float | None:
    """`read_decimal`'s value, or None."""
    return read_decimal(text, quantity).value


def whole(
    text: object,
    quantity: Quantity,
    what: str | None = None,
    error: type[QuantDoctorError] = SetupError,
    fix: str | None = None,
) -> int:
    """A whole number from text, or `error` with a plain message: "-c should be a whole number of tokens
    from 0 to 100,000,000, not '1.5'." `what` names where it came from (a flag, a key, a file)."""
    parsed = read_whole(text, quantity)
    if parsed.value is None:
        raise _refusal(text, quantity, parsed.reason or "", what, error, fix, "a whole number")
    return parsed.value


def decimal(
    text: object,
    quantity: Quantity,
    what: str | None = None,
    error: type[QuantDoctorError] = SetupError,
    fix: str | None = None,
) -> float:
    """A decimal number from text, or `error` with a plain message."""
    parsed = read_decimal(text, quantity)
    if parsed.value is None:
        raise _refusal(text, quantity, parsed.reason or "", what, error, fix, "a number")
    return parsed.value


def is_whole(text: object) -> bool:
    """Whether text is written as a whole number (`-1`, `8081`), whatever it counts."""
    return _shape(text, _WHOLE, "a whole number") is None


def is_number(text: object) -> bool:
    """Whether text is written as a number at all (`-1`, `0.5`, `1e-5`), whatever it counts: a command
    line's `-ngl -1` takes a value that starts with a dash."""
    return _shape(text, _DECIMAL, "a number") is None


def json_whole(value: Any, quantity: Quantity) -> int | None:
    """A whole number an engine's JSON answer gave, in range; None for any other type or value (a bool, a
    string, a float, `null`, a 400-digit integer)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if quantity.minimum <= value <= quantity.maximum else None


def json_decimal(value: Any, quantity: Quantity) -> float | None:
    """A number an engine's JSON answer gave (whole or not), finite and in range; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and not quantity.minimum <= value <= quantity.maximum:
        return None  # before float(): a huge int does not convert
    number = float(value)
    return number if math.isfinite(number) and quantity.minimum <= number <= quantity.maximum else None


def whole_argument(quantity: Quantity) -> Callable[[str], int]:
    """An argparse `type=`: a whole number in `quantity`'s range, else a usage error that says which way
    it is wrong ("'1.5' is not a whole number", "70000 is not between 1 and 65,535")."""

    def parse(text: str) -> int:
        parsed = read_whole(text, quantity)
        if parsed.value is not None:
            return parsed.value
        if is_whole(text):  # written as a whole number, outside the range
            low, high = _plain(quantity.minimum), _plain(quantity.maximum)
            raise argparse.ArgumentTypeError(f"{shown(text.strip())} is not between {low} and {high}")
        raise argparse.ArgumentTypeError(_not_written_as(text, parsed.reason, "a whole number"))

    parse.__name__ = "number"
    return parse


def decimal_argument(quantity: Quantity) -> Callable[[str], float]:
    """An argparse `type=`: a finite number in `quantity`'s range (`nan`, `inf`, `1e400` are usage errors)."""

    def parse(text: str) -> float:
        parsed = read_decimal(text, quantity)
        if parsed.value is not None:
            return parsed.value
        if is_number(text):  # written as a number, outside the range (1e400 included)
            low, high = _plain(quantity.minimum), _plain(quantity.maximum)
            raise argparse.ArgumentTypeError(f"{shown(text.strip())} is not a number from {low} to {high}")
        raise argparse.ArgumentTypeError(_not_written_as(text, parsed.reason, "a number"))

    parse.__name__ = "number"
    return parse


def _not_written_as(text: object, reason: str | None, kind: str) -> str:
    why = "" if reason in (None, f"is not {kind}") else f": it {reason}"
    return f"'{shown(text)}' is not {kind}{why}"


def shown(text: object, limit: int = 40) -> str:
    """Outside text as a message may quote it: short, printable ASCII, anything else as \\uXXXX (so a
    Unicode digit shows which one it is, and no control character reaches a terminal)."""
    s = text if isinstance(text, str) else repr(text)
    cut = s[:limit]
    out = "".join(c if " " <= c <= "~" else f"\\u{ord(c):04x}" for c in cut)
    return out + ("…" if len(s) > limit else "")


# --- the parts ----------------------------------------------------------------------------------------


def _shape(text: object, pattern: re.Pattern[str], kind: str) -> str | None:
    """Why `text` is not written as `kind`, or None when it is."""
    if not isinstance(text, str):
        return f"is not text ({type(text).__name__})"
    s = text.strip(_SPACE)
    if not s:
        return "is empty"
    if len(s) > MAX_CHARS or sum(c.isdigit() for c in s) > MAX_DIGITS:
        return f"is too long to be a number (more than {MAX_DIGITS} digits)"
    odd = next((c for c in s if c.isdigit() and not "0" <= c <= "9"), None)
    if odd is not None:
        return f"uses a digit other than 0-9 (U+{ord(odd):04X})"
    if pattern.fullmatch(s):
        return None
    if s.count(".") > 1:
        return "has more than one decimal point"
    return f"is not {kind}"


def _out_of_range(value: float, quantity: Quantity) -> str | None:
    if value > quantity.maximum:
        return f"is larger than {quantity.name} can be (at most {quantity.most()})"
    if value < quantity.minimum:
        return f"is smaller than {quantity.name} can be (at least {quantity.least()})"
    return None


def _refusal(
    text: object,
    quantity: Quantity,
    reason: str,
    what: str | None,
    error: type[QuantDoctorError],
    fix: str | None,
    kind: str,
) -> QuantDoctorError:
    subject = what or quantity.name[0].upper() + quantity.name[1:]
    unit = f" of {quantity.unit}" if quantity.unit else ""
    why = "" if reason == f"is not {kind}" else f": it {reason}"
    message = f"{subject} should be {kind}{unit}, not '{shown(text)}'{why}."
    return error(message, fix or f"Fix the value of {subject}.")


def _plain(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"
