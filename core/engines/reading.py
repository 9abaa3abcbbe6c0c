"""Shared helpers of the settings importers: plain errors for unreadable files and mistyped values.

Text from a settings file is data: anything we do not understand is noted in `Setup.unknown`, never
fatal, and a value of the wrong kind becomes a `SetupError` that names the file and the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import SetupError
from core.settings.setup import Setup


def setup_from(values: dict[str, Any], where: str) -> Setup:
    """A Setup from imported values, with wrongly typed values (a context given as text) as a plain error."""
    for key in ("n_ctx", "n_gpu_layers", "n_batch"):
        value = values.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise SetupError(f"In {where}, {key} should be a whole number, not {value!r}.", f"Fix {key} in {where}.")
    for key in ("cache_type_k", "cache_type_v"):
        if key in values and not isinstance(values[key], str):
            raise SetupError(
                f"In {where}, {key} should be a cache type name, not {values[key]!r}.", f"Fix {key} in {where}."
            )
    return Setup.of(**values)


def whole_number(what: str, text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise SetupError(f"{what} should be a whole number, not '{text}'.", f"Fix the value of {what}.") from exc


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SetupError(f"{path} does not exist.", f"Pick your {what} again.") from exc
    except OSError as exc:  # a folder, no permission...
        raise SetupError(f"{path} could not be read ({exc.strerror}).", f"Pick your {what} file again.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SetupError(f"{path.name} is not a readable {what} ({exc}).", f"Save the {what} again and retry.") from exc
    if not isinstance(data, dict):
        raise SetupError(f"{path.name} is not a {what}.", f"Pick your {what} again.")
    return data
