"""Shared helpers of the settings importers: plain errors for unreadable files and mistyped values.

Text from a settings file is data: anything we do not understand is noted in `Setup.unknown`, never
fatal, and a value of the wrong kind becomes a `SetupError` that names the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import jsonfile, textnum
from core.errors import SetupError
from core.files import read_text_limited
from core.settings.setup import Setup
from core.textnum import BATCH, CONTEXT, LAYERS, Quantity


def setup_from(values: dict[str, Any], where: str) -> Setup:
    """A Setup from imported values, with wrongly typed values (a context given as text) as a plain error."""
    for key, quantity in (("n_ctx", CONTEXT), ("n_gpu_layers", LAYERS), ("n_batch", BATCH)):
        value = values.get(key)
        if value is not None and textnum.json_whole(value, quantity) is None:
            raise SetupError(
                f"In {where}, {key} should be a whole number from {quantity.least()} to {quantity.most()}, "
                f"not {textnum.shown(repr(value))}.",
                f"Fix {key} in {where}.",
            )
    for key in ("cache_type_k", "cache_type_v"):
        if key in values and not isinstance(values[key], str):
            raise SetupError(
                f"In {where}, {key} should be a cache type name, not {values[key]!r}.", f"Fix {key} in {where}."
            )
    return Setup.of(**values)


def whole_number(what: str, text: str, quantity: Quantity) -> int:
    """A setting's value from pasted or imported text, through the one door (core.textnum): a plain
    SetupError naming the setting when it is not a whole number of that kind."""
    return textnum.whole(text, quantity, what, SetupError)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A settings file through the one bounded JSON loader (core.jsonfile): a regular file only."""
    data: dict[str, Any] = jsonfile.load(path, what, SetupError, fix=f"Save the {what} again and retry.")
    return data


MAX_TEXT_BYTES = 1024 * 1024


def read_settings_text(path: str | Path, what: str) -> str:
    """A small text settings file (a Modelfile): a regular file, UTF-8, not binary, at most 1 MB."""
    return read_text_limited(path, MAX_TEXT_BYTES, what, SetupError)


def sampling_line(
    temperature: float | None,
    repeat_penalty: float | None,
    names: tuple[str, str],
    template: str = "{name}: {value:g}",
    sep: str = "; ",
    where: str = "",
) -> str:
    """The sampler fix in an engine's own words: its names for temperature and repetition penalty, how
    it writes one setting, how it joins them, and where the person finds them (appended as given)."""
    values = ((names[0], temperature), (names[1], repeat_penalty))
    return sep.join(template.format(name=n, value=v) for n, v in values if v is not None) + where
