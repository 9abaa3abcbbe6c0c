"""`Setup`: how the person runs the model — the settings half of every diagnosis.

Quantization damage and runtime settings look alike from the outside (a q4 KV cache at 32K
context garbles long chats just like a Q2 model does), so the checks need the real settings:
context, cache types, flash attention, GPU layers, the workload, and which model was expected.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import SetupError

WORKLOADS = ("chat", "code", "multilingual", "math", "long-documents", "roleplay")
ENGINES = ("llama.cpp", "ollama", "lm-studio", "koboldcpp", "text-generation-webui", "tabbyapi", "vllm")

# Cache types llama.cpp accepts for --cache-type-k/-v (common/arg.cpp's kv_cache_types); their byte
# sizes come from gguf.GGML_QUANT_SIZES.
CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


def cache_bytes_per_element(cache_type: str) -> float:
    import gguf  # here, not at the top: `quantdoctor-cli gpus` must run where only the stdlib and pynvml are

    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[cache_type.upper()]]
    return size / block


def cache_bits(cache_type: str) -> float:
    return cache_bytes_per_element(cache_type) * 8


def normalise_cache_type(value: str) -> str:
    v = value.strip().lower().replace("-", "_")
    aliases = {"fp16": "f16", "float16": "f16", "q8": "q8_0", "q4": "q4_0", "fp32": "f32", "q5": "q5_0"}
    v = aliases.get(v, v)
    if v not in CACHE_TYPES:
        raise SetupError(f"'{value}' is not a KV cache type llama.cpp knows.", f"Use one of: {', '.join(CACHE_TYPES)}.")
    return v


@dataclass
class Setup:
    ctx: int | None = None  # None: the engine's default
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    flash_attn: bool | None = None  # None: auto (llama.cpp's default today)
    n_gpu_layers: int | None = None  # None: all layers that fit / engine default
    workload: str = "chat"
    expected: str | None = None
    engine: str = "llama.cpp"
    n_batch: int = 2048
    n_ubatch: int = 512
    model_path: str | None = None  # the model the command line names, if any
    source: str = "defaults"
    unknown: list[str] = field(default_factory=list)  # flags or keys we did not understand, never fatal

    def __post_init__(self) -> None:
        self.cache_type_k = normalise_cache_type(self.cache_type_k)
        self.cache_type_v = normalise_cache_type(self.cache_type_v)
        if self.ctx is not None and self.ctx < 0:
            raise SetupError(f"A context of {self.ctx} tokens is not possible.", "Give a positive context length.")
        if self.workload not in WORKLOADS:
            raise SetupError(
                f"'{self.workload}' is not a workload Quant Doctor knows.", f"Use one of: {', '.join(WORKLOADS)}."
            )
        if self.engine not in ENGINES:
            raise SetupError(
                f"'{self.engine}' is not an engine Quant Doctor knows.", f"Use one of: {', '.join(ENGINES)}."
            )

    def effective_ctx(self, model_ctx: int | None) -> int:
        """The context the engine will really use: the setting, else the engine's default."""
        if self.ctx:
            return self.ctx
        default = {"ollama": 4096, "koboldcpp": 4096, "lm-studio": 4096}.get(self.engine)
        if default:
            return default
        return model_ctx or 4096  # llama.cpp's -c 0 means the model's own context

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def comparable(self) -> dict[str, Any]:
        """The settings themselves, without where they came from (for 'same setup' comparisons)."""
        d = self.to_dict()
        for k in ("source", "unknown", "model_path"):
            d.pop(k)
        return d
