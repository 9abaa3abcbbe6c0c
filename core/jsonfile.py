"""The one JSON loader: every JSON the app reads (files, headers, caches, server answers) goes here.

`json.loads` on untrusted text has four ways to hurt: a huge input (memory), deep nesting
(RecursionError), numbers that are not numbers (`NaN`, `Infinity`, `1e999`, a 100,000-digit int)
and duplicate keys (the last one silently wins, so two readers of one file can disagree). This
loader bounds the size before parsing, the depth during and after it, refuses non-finite and
absurdly long numbers and duplicate keys, and checks that the top level is the kind the caller
expects — each as a typed error in the caller's own error class, with a plain message.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from core.errors import QuantDoctorError
from core.files import read_limited

MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
_MAX_NUMBER_CHARS = 40  # 2^64 has 20 digits; a float like -1.2345678901234567e-308 has 24


class _Refused(ValueError):
    """Raised inside the parser's hooks; turned into the caller's error class below."""


def _constant(name: str) -> Any:
    raise _Refused(f"holds the non-number {name}")


def _float(text: str) -> float:
    if len(text) > _MAX_NUMBER_CHARS:
        raise _Refused(f"holds a number {len(text):,} characters long")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"holds the number {text[:30]}, too big to be finite")
    return value


def _int(text: str) -> int:
    if len(text) > _MAX_NUMBER_CHARS:
        raise _Refused(f"holds a number {len(text):,} digits long")
    return int(text)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"has the key {key[:60]!r} twice")
        out[key] = value
    return out


def _pairs_last_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(pairs)


def _depth(value: Any) -> int:
    """Nesting depth, without recursion (so the check itself cannot overflow)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in item if isinstance(v, dict | list))
    return deepest


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


def loads(
    data: str | bytes,
    what: str,
    error: type[QuantDoctorError] = QuantDoctorError,
    *,
    expect: type | None = dict,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_DEPTH,
    duplicates: bool = False,
    fix: str | None = None,
) -> Any:
    """Parse `data` (named `what` in messages) within the limits; `expect` is dict, list or None (any)."""
    if len(data) > max_bytes:
        raise error(f"{what} is {len(data):,} bytes, more than the {max_bytes:,} a real one can need.", fix)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise error(f"{what} is not valid JSON (it is not UTF-8 text).", fix) from exc
    else:
        text = data
    try:
        value = json.loads(
            text,
            parse_constant=_constant,
            parse_float=_float,
            parse_int=_int,
            object_pairs_hook=_pairs_last_wins if duplicates else _pairs,
        )
    except _Refused as exc:
        raise error(f"{what} {exc}, which valid JSON never does.", fix) from exc
    except RecursionError as exc:
        raise error(f"{what} is nested more than {max_depth} levels deep; no real one is.", fix) from exc
    except (json.JSONDecodeError, ValueError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)[:80]
        snippet = text.lstrip()[:15].lower()
        if snippet.startswith(("<!doctype", "<html", "<?xml", "<head")):
            raise error(f"{what} is a web page, not JSON.", fix) from exc
        raise error(f"{what} is not valid JSON ({detail}).", fix) from exc
    if _depth(value) > max_depth:
        raise error(f"{what} is nested more than {max_depth} levels deep; no real one is.", fix)
    if expect is not None and not isinstance(value, expect):
        wanted = "object" if expect is dict else "list" if expect is list else expect.__name__
        raise error(f"{what} is not a JSON {wanted} (it holds {_kind(value)}).", fix)
    return value


def load(
    path: str | os.PathLike[str],
    what: str,
    error: type[QuantDoctorError] = QuantDoctorError,
    *,
    expect: type | None = dict,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_DEPTH,
    duplicates: bool = False,
    fix: str | None = None,
) -> Any:
    """Read a JSON file: a regular file only (never a FIFO or device), size-checked before reading."""
    p = Path(path)
    article = "" if what.startswith(("a ", "an ", "the ")) else "an " if what[:1] in "aeiou" else "a "
    data = read_limited(p, max_bytes, article + what, error)
    return loads(
        data,
        f"{p.name} ({what})" if what != p.name else p.name,
        error,
        expect=expect,
        max_bytes=max_bytes,
        max_depth=max_depth,
        duplicates=duplicates,
        fix=fix,
    )
