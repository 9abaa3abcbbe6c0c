"""What was seen rather than typed: log lines, settings an engine reported, a prompt's real length.

The checks that look past the quant (a prompt cut to fit, a doubled BOS, a sampler that loops) are
only "confirmed" when something shows the cause: a line llama.cpp printed, a setting the running
engine reported. Each observation keeps its source, so a finding can say where its evidence came
from ("llama.cpp log: ...", "Ollama /api/show: num_ctx 2048"). Readers of logs and live engines
fill this; the typed setup and the file fill in the rest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Observation:
    text: str  # the log line or the setting, as the engine printed / reported it
    source: str  # where it came from: "llama.cpp log", "Ollama /api/ps", "tokenizer probe (llama.cpp)"


@dataclass(frozen=True)
class SamplingSeen:
    """Sampling settings as some source reports them (None = not reported)."""

    source: str
    reported: bool = False  # True: the running engine or its log reported these (not typed by the person)
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None


@dataclass(frozen=True)
class PromptCount:
    """How long the person's prompt is, and how that was counted."""

    tokens: int
    method: str  # "the model's own tokenizer (llama.cpp)" or "an approximation (~4 characters a token)"
    exact: bool


@dataclass
class Observations:
    log: list[Observation] = field(default_factory=list)
    live_ctx: Observation | None = None  # the context the running engine reports, text = the number
    engine_template: Observation | None = None  # the template the engine applies (Modelfile TEMPLATE...)
    sampling: SamplingSeen | None = None
    prompt: PromptCount | None = None
    engine_version: str | None = None
    offload: tuple[int, int] | None = None  # (layers on the GPU, layers in all)
    gpu_share: float | None = None  # the share of the model in VRAM (Ollama /api/ps: size_vram / size)
    offload_source: str | None = None

    def lines(self, *needles: str) -> list[Observation]:
        """The log lines that contain any of the needles (case-insensitive)."""
        low = [n.lower() for n in needles]
        return [o for o in self.log if any(n in o.text.lower() for n in low)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
