"""`Sampling`: how the engine picks each next token (temperature, top-k, top-p, min-p, penalties).

A bad sampler looks like a bad quant from the outside: a high temperature or no repeat penalty makes
any model ramble or loop. The engine's own API often reports its defaults (llama-server's /props,
Ollama's Modelfile parameters), so they are kept with the Setup for the checks that weigh them.
Every field is optional: None means "not reported", never a guess.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from core.errors import SetupError
from core.textnum import SAMPLING, SEED, decimal_or_none, whole_or_none

_FLOATS = ("temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty", "frequency_penalty")
_INTS = ("top_k", "repeat_last_n", "mirostat", "seed")
_WHOLE_OF = {"top_k": SAMPLING, "repeat_last_n": SAMPLING, "mirostat": SAMPLING, "seed": SEED}
# how engines spell the same knob (llama-server params, Ollama PARAMETERs, OpenAI-style names)
ALIASES = {
    "temp": "temperature",
    "typical": "typical_p",
    "penalty_repeat": "repeat_penalty",
    "penalty_last_n": "repeat_last_n",
    "penalty_present": "presence_penalty",
    "penalty_freq": "frequency_penalty",
    "rep_pen": "repeat_penalty",
    "rep_pen_range": "repeat_last_n",
}


@dataclass(frozen=True)
class Sampling:
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    typical_p: float | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    mirostat: int | None = None
    seed: int | None = None
    source: str | None = None  # where these came from: "llama-server /props", "Ollama Modelfile"...

    def __post_init__(self) -> None:
        for name in _FLOATS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise SetupError(f"The sampling setting {name} should be a number, not {value!r}.")
            object.__setattr__(self, name, round(float(value), 6))  # C++ floats print as 0.800000011920929
        for name in _INTS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                if isinstance(value, float) and value.is_integer():
                    object.__setattr__(self, name, int(value))
                else:
                    raise SetupError(f"The sampling setting {name} should be a whole number, not {value!r}.")

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str | None = None) -> Sampling:
        """From any engine's spelling; keys it does not know and values of the wrong kind are left out."""
        known = {f.name for f in fields(cls)} - {"source"}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = ALIASES.get(key, key)
            if name not in known or value is None:
                continue
            if isinstance(value, str):  # text from a Modelfile, a command line, a server: the one door
                value = decimal_or_none(value, SAMPLING) if name in _FLOATS else whole_or_none(value, _WHOLE_OF[name])
                if value is None:
                    continue
            try:
                cls(**{name: value})
            except SetupError:
                continue
            values[name] = value
        return cls(**values, source=source if values else None)

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self) if f.name != "source")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        parts = [f"{f.name} {_number(getattr(self, f.name))}" for f in fields(self)
                 if f.name != "source" and getattr(self, f.name) is not None]  # fmt: skip
        return ", ".join(parts) if parts else "not reported"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"
