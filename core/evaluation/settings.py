"""How a model is loaded and how the metric pass is chunked.

`RunSettings` is the person's runtime setup (the same knobs llama.cpp's tools take: context, cache
types, flash attention, GPU layers), so a comparison measures the model the way it is actually run.
`EvalSettings` is how the texts are scored; its defaults are llama-perplexity's, which is what makes
our numbers comparable with the ones people quote from that tool.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import gguf

from core.errors import EvaluationSetupError
from core.setup import CACHE_TYPES

FLASH_ATTN = {"auto": -1, "on": 1, "off": 0}  # llama_flash_attn_type


def cache_type_id(name: str) -> int:
    """The ggml type id llama.cpp's context params (and llama-cpp-python's type_k/type_v) expect."""
    key = name.strip().lower()
    if key not in CACHE_TYPES:
        raise EvaluationSetupError(
            f"'{name}' is not a KV cache type llama.cpp knows.",
            "Use one of: " + ", ".join(CACHE_TYPES) + " (f16 is llama.cpp's default).",
        )
    return int(gguf.GGMLQuantizationType[key.upper()])


def default_threads() -> int:
    """Physical cores: llama.cpp's own default, and faster than counting hyper-threads."""
    import psutil

    return max(1, psutil.cpu_count(logical=False) or psutil.cpu_count() or 1)


@dataclass(frozen=True)
class RunSettings:
    """The person's runtime settings for one model."""

    n_ctx: int = 4096
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    flash_attn: str = "auto"
    n_gpu_layers: int = 0
    n_threads: int = field(default_factory=default_threads)

    def __post_init__(self) -> None:
        cache_type_id(self.cache_type_k)
        cache_type_id(self.cache_type_v)
        if self.flash_attn not in FLASH_ATTN:
            raise EvaluationSetupError(
                f"Flash attention must be auto, on or off, not '{self.flash_attn}'.", "Pick auto, on or off."
            )
        if self.cache_type_v.lower() not in ("f32", "f16", "bf16") and self.flash_attn == "off":
            raise EvaluationSetupError(
                f"llama.cpp cannot use a {self.cache_type_v} V cache with flash attention off.",
                "Turn flash attention on (or auto), or use an f16 V cache.",
            )
        if self.n_ctx < 16:
            raise EvaluationSetupError(f"A context of {self.n_ctx} tokens is too small.", "Use 512 or more.")
        if self.n_threads < 1:
            raise EvaluationSetupError("The number of threads must be at least 1.", "Leave it at the default.")

    def with_cache(self, cache_type: str) -> RunSettings:
        """The same settings with both K and V cache of one type (how people usually set it)."""
        return replace(self, cache_type_k=cache_type, cache_type_v=cache_type)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSettings:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def describe(self) -> str:
        cache = (
            self.cache_type_k if self.cache_type_k == self.cache_type_v else f"{self.cache_type_k}/{self.cache_type_v}"
        )
        return f"ctx {self.n_ctx}, cache {cache}, flash attention {self.flash_attn}, {self.n_gpu_layers} GPU layers"


@dataclass(frozen=True)
class EvalSettings:
    """How evaluation texts are scored (llama-perplexity's definitions).

    Each text is tokenized once (with BOS), cut into `chunk`-token chunks (BOS put back at the start
    of each), and only the second half of each chunk is scored, so every scored token has at least
    chunk/2 tokens of context. `n_batch` // `chunk` chunks run side by side in one batch, like
    llama-perplexity's n_seq. `top_k` and `tail_samples` are how much of the reference's distribution
    is kept per token: see metrics.py for why 64 + 64 keeps mean KLD within 1% of the full sum.
    """

    chunk: int = 512
    long_chunk: int = 4096
    max_chunks: int = 0  # 0: every whole chunk of the text
    n_batch: int = 2048
    n_ubatch: int = 512
    top_k: int = 64
    tail_samples: int = 64
    sample_tokens: int = 96
    seed: int = 1234
    remote_top_k: int = 20

    def __post_init__(self) -> None:
        if self.chunk < 8 or self.chunk % 2:
            raise EvaluationSetupError(f"The evaluation chunk must be an even number of tokens ≥ 8, not {self.chunk}.")
        if self.top_k < 1:
            raise EvaluationSetupError("top_k must be at least 1.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
