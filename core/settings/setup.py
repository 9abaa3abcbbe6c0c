"""`Setup`: how the person runs the model — the settings half of every diagnosis.

Quantization damage and runtime settings look alike from the outside (a q4 KV cache at 32K
context garbles long chats just like a Q2 model does), so the checks need the real settings.
A `Setup` is the `RunSettings` llama.cpp runs with plus what the person is doing: their workload,
the model they expected, the engine that runs it, and where the settings came from.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, fields, replace
from typing import Any

from core import redact
from core.errors import SetupError
from core.settings.run import RunSettings
from core.settings.sampling import Sampling

WORKLOADS = ("chat", "code", "multilingual", "math", "long-documents", "roleplay")

_RUN_FIELDS = {f.name for f in fields(RunSettings)}
_LEGACY_RUN_NAMES = {"ctx": "n_ctx"}  # the JSON and importers' spelling of RunSettings.n_ctx


@dataclass
class Setup:
    run: RunSettings = field(default_factory=RunSettings)
    workload: str = "chat"
    expected: str | None = None
    engine: str = "llama.cpp"  # an id of core.engines.registry (a higher layer), which checks it
    model_path: str | None = None  # the model the command line names, if any
    source: str = "defaults"
    unknown: list[str] = field(default_factory=list)  # flags or keys we did not understand, never fatal
    sampling: Sampling = field(default_factory=Sampling)  # the engine's sampler, where it was reported
    command: str | None = None  # the person's own command line, when they pasted or imported one: fixes edit it

    def __post_init__(self) -> None:
        # Saved settings and imported files may hold anything: a wrong type is a plain error here,
        # never a crash later in whatever shows the value.
        for name in ("expected", "model_path", "command"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise SetupError(f"The {name.replace('_', ' ')} should be text, not {str(value)[:60]!r}.")
        if not isinstance(self.source, str):
            raise SetupError(f"The settings' source should be text, not {str(self.source)[:60]!r}.")
        if not isinstance(self.unknown, list) or not all(isinstance(u, str) for u in self.unknown):
            raise SetupError(f"The list of unknown settings should be a list of text, not {str(self.unknown)[:60]!r}.")
        if isinstance(self.sampling, dict):  # saved settings and JSON spell it as a mapping
            data = {k: v for k, v in self.sampling.items() if k != "source"}
            self.sampling = Sampling.from_mapping(data, self.sampling.get("source"))
        self._redact()
        if self.workload not in WORKLOADS:
            raise SetupError(
                f"'{self.workload}' is not a workload Quant Doctor knows.", f"Use one of: {', '.join(WORKLOADS)}."
            )

    def _redact(self) -> None:
        """A Setup never holds a secret (core.redact): its command, model, source and notes are shown, saved
        and written over by fixes, whether they came from a paste, a file, a log or a running engine."""
        if self.command is not None:
            self.command = _redacted_command(self.command)
        if self.model_path is not None:
            self.model_path = redact.value(self.model_path)
        self.source = redact.text(self.source)
        self.unknown = [redact.text(u) for u in self.unknown]

    @classmethod
    def of(cls, **values: Any) -> Setup:
        """A Setup from flat values, as importers, saved settings and the JSON spell them (`ctx`, `cache_type_k`...)."""
        run: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for key, value in values.items():
            key = _LEGACY_RUN_NAMES.get(key, key)
            if key in _RUN_FIELDS:
                if value is not None or key in ("n_ctx", "n_gpu_layers", "n_threads"):
                    run[key] = value
            elif key in {f.name for f in fields(cls)} and key != "run":
                rest[key] = value
            else:
                raise SetupError(f"'{key}' is not a setting Quant Doctor knows.", "Remove it, or check its spelling.")
        return cls(run=RunSettings(**run), **rest)

    def with_run(self, **changes: Any) -> Setup:
        return replace(self, run=self.run.replace(**changes))

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON shape `diagnose --json` has always printed (scripts read these keys)."""
        r = self.run
        return {
            "ctx": r.n_ctx,
            "cache_type_k": r.cache_type_k,
            "cache_type_v": r.cache_type_v,
            "flash_attn": r.flash_attn.as_legacy(),
            "n_gpu_layers": r.n_gpu_layers,
            "workload": self.workload,
            "expected": self.expected,
            "engine": self.engine,
            "n_batch": r.n_batch,
            "n_ubatch": r.n_ubatch,
            "model_path": self.model_path,
            "source": self.source,
            "unknown": list(self.unknown),
            "sampling": self.sampling.to_dict(),
            "command": self.command,
        }

    def comparable(self) -> dict[str, Any]:
        """The settings themselves, without where they came from (for 'same setup' comparisons)."""
        d = self.to_dict()
        for k in ("source", "unknown", "model_path", "command"):
            d.pop(k)
        return d


def _redacted_command(command: str) -> str:
    """Setup.command (POSIX-quoted tokens) with its secrets hidden; unchanged when it holds none."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        return redact.text(command)
    hidden = redact.command(tokens)
    return command if hidden == tokens else shlex.join(hidden)
