"""`RunSettings`: how llama.cpp runs one model — the one definition every part of Quant Doctor shares.

The memory estimate, the evaluation engine, the checks, the CLI and the window all speak about the
same knobs (context, K and V cache types, flash attention, GPU layers, batch sizes, threads). They
are defined and validated here once, in llama.cpp's own terms, so that a value means the same
thing wherever it travels and a bad one is refused once, with a plain message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from core.errors import SetupError

# Cache types llama.cpp accepts for --cache-type-k/-v (common/arg.cpp's kv_cache_types); their byte
# sizes come from gguf.GGML_QUANT_SIZES.
CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
UNQUANTIZED_CACHE_TYPES = ("f32", "f16", "bf16")
_CACHE_ALIASES = {"fp16": "f16", "float16": "f16", "q8": "q8_0", "q4": "q4_0", "fp32": "f32", "q5": "q5_0"}

DEFAULT_N_BATCH = 2048  # common_params.n_batch (llama-cli, llama-server)
DEFAULT_N_UBATCH = 512  # common_params.n_ubatch

# The largest values that mean anything, refused above (a context of 10^21 tokens once printed 2.8
# quadrillion GiB). Contexts and batches: 16M tokens, above the longest trained context (Llama 4
# Scout's 10M); layers: llama.cpp's own int32 (`-ngl 999` for "all" keeps working); threads: ggml's
# GGML_MAX_N_THREADS (512).
MAX_CONTEXT = 1 << 24
MAX_BATCH = MAX_CONTEXT
MAX_GPU_LAYERS = (1 << 31) - 1
MAX_THREADS = 512


class FlashAttn(StrEnum):
    """llama.cpp's `-fa on|off|auto` (llama_flash_attn_type: 1, 0, -1)."""

    ON = "on"
    OFF = "off"
    AUTO = "auto"

    @classmethod
    def parse(cls, value: object) -> FlashAttn:
        """The one mapping from every spelling people and engines use (bool, 1/0, on/off, enabled...)."""
        if isinstance(value, FlashAttn):
            return value
        if value is None:
            return cls.AUTO
        if isinstance(value, bool):
            return cls.ON if value else cls.OFF
        if isinstance(value, int) and value in (-1, 0, 1):
            return {1: cls.ON, 0: cls.OFF, -1: cls.AUTO}[value]
        text = str(value).strip().lower()
        if text in ("on", "true", "1", "yes", "enabled", "enable"):
            return cls.ON
        if text in ("off", "false", "0", "no", "disabled", "disable"):
            return cls.OFF
        if text in ("auto", "-1", ""):
            return cls.AUTO
        raise SetupError(f"Flash attention must be on, off or auto, not '{value}'.", "Use -fa on, -fa off or -fa auto.")

    @property
    def llama_value(self) -> int:
        """llama_flash_attn_type, what llama.cpp's context params take."""
        return {FlashAttn.ON: 1, FlashAttn.OFF: 0, FlashAttn.AUTO: -1}[self]

    @property
    def fused(self) -> bool:
        """Whether llama.cpp uses the fused attention path (auto picks it wherever the backend has it)."""
        return self is not FlashAttn.OFF

    def as_legacy(self) -> bool | None:
        """The old JSON spelling (true / false / null) that scripts reading `diagnose --json` expect."""
        return {FlashAttn.ON: True, FlashAttn.OFF: False, FlashAttn.AUTO: None}[self]


def normalise_cache_type(value: object) -> str:
    if not isinstance(value, str):
        raise SetupError(f"'{value}' is not a KV cache type name.", f"Use one of: {', '.join(CACHE_TYPES)}.")
    v = value.strip().lower().replace("-", "_")
    v = _CACHE_ALIASES.get(v, v)
    if v not in CACHE_TYPES:
        raise SetupError(f"'{value}' is not a KV cache type llama.cpp knows.", f"Use one of: {', '.join(CACHE_TYPES)}.")
    return v


def is_quantized_cache(cache_type: str) -> bool:
    """The one answer to "is this a quantized cache?" (and so: does its V half need flash attention?)."""
    return normalise_cache_type(cache_type) not in UNQUANTIZED_CACHE_TYPES


def cache_bytes_per_element(cache_type: str) -> float:
    import gguf  # here, not at the top: `quantdoctor-cli gpus` must run where only the stdlib and pynvml are

    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[normalise_cache_type(cache_type).upper()]]
    return size / block


def cache_bits(cache_type: str) -> float:
    return cache_bytes_per_element(cache_type) * 8


def cache_type_id(cache_type: str) -> int:
    """The ggml type id llama.cpp's context params (and llama-cpp-python's type_k/type_v) expect."""
    import gguf

    return int(gguf.GGMLQuantizationType[normalise_cache_type(cache_type).upper()])


def default_threads() -> int:
    """Physical cores: llama.cpp's own default, and faster than counting hyper-threads."""
    import psutil

    return max(1, psutil.cpu_count(logical=False) or psutil.cpu_count() or 1)


def _whole(name: str, value: object, minimum: int, fix: str, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SetupError(f"{name} should be a whole number, not {str(value)[:40]!r}.", fix)
    if value < minimum:
        raise SetupError(f"{name} of {value} is not possible.", fix)
    if value > maximum:
        shown = f"{value:,}" if value < 10**30 else f"a {len(str(value))}-digit number"
        raise SetupError(f"{name} of {shown} is not possible: the most that means anything is {maximum:,}.", fix)


@dataclass(frozen=True)
class RunSettings:
    """The llama.cpp settings a model runs with.

    `n_ctx` None means "the engine's default" (for llama.cpp: the model's own training context);
    `n_gpu_layers` None means "all layers that fit" (llama.cpp's -ngl default), distinct from 0, CPU
    only; `n_threads` None means llama.cpp's default (the physical cores).
    """

    n_ctx: int | None = None
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    flash_attn: FlashAttn = FlashAttn.AUTO
    n_gpu_layers: int | None = None
    n_batch: int = DEFAULT_N_BATCH
    n_ubatch: int = DEFAULT_N_UBATCH
    n_threads: int | None = None
    swa_full: bool = False
    # llama_context_params.n_outputs_max: the logits rows a prompt batch reserves. None = llama.cpp's
    # default (the batch size, what the library and llama-perplexity use); llama-server sets its slot count.
    n_outputs_max: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cache_type_k", normalise_cache_type(self.cache_type_k))
        object.__setattr__(self, "cache_type_v", normalise_cache_type(self.cache_type_v))
        object.__setattr__(self, "flash_attn", FlashAttn.parse(self.flash_attn))
        if self.n_ctx is not None:
            _whole("A context", self.n_ctx, 1, "Give a positive context length (-c), or leave it at the default.", MAX_CONTEXT)
        if self.n_gpu_layers is not None:
            _whole(
                "GPU layers", self.n_gpu_layers, -1, "Give -ngl 0 (CPU only) or more, or leave it unset (all).", MAX_GPU_LAYERS
            )
            if self.n_gpu_layers < 0:  # llama.cpp's -ngl -1: every layer
                object.__setattr__(self, "n_gpu_layers", None)
        _whole("The batch size", self.n_batch, 1, "Leave -b at its default (2048).", MAX_BATCH)
        _whole("The micro-batch size", self.n_ubatch, 1, "Leave -ub at its default (512).", MAX_BATCH)
        if self.n_threads is not None:
            _whole("The number of threads", self.n_threads, 1, "Leave the threads at the default.", MAX_THREADS)
        if self.n_outputs_max is not None:
            _whole("The number of outputs", self.n_outputs_max, 1, "Leave n_outputs_max at llama.cpp's default.", MAX_BATCH)

    @property
    def v_cache_needs_flash_attn(self) -> bool:
        """llama.cpp refuses a quantized V cache without flash attention (Ollama and koboldcpp fall back)."""
        return self.flash_attn is FlashAttn.OFF and is_quantized_cache(self.cache_type_v)

    def require_llama_cpp_loads(self) -> RunSettings:
        """These settings as llama.cpp itself must run them (the estimate, the comparison); plain error if not."""
        if self.v_cache_needs_flash_attn:
            raise SetupError(
                f"llama.cpp refuses a {self.cache_type_v} V cache without flash attention: "
                "it cannot run with flash attention off.",
                "Turn flash attention on (-fa on) or auto, or keep the V cache at f16.",
            )
        return self

    @property
    def quantized_cache(self) -> bool:
        return is_quantized_cache(self.cache_type_k) or is_quantized_cache(self.cache_type_v)

    @property
    def all_layers(self) -> bool:
        return self.n_gpu_layers is None

    @property
    def threads(self) -> int:
        return self.n_threads or default_threads()

    def with_cache(self, cache_type: str) -> RunSettings:
        """Both K and V cache of one type (how people usually set it)."""
        return replace(self, cache_type_k=cache_type, cache_type_v=cache_type)

    def replace(self, **changes: Any) -> RunSettings:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flash_attn"] = self.flash_attn.value
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSettings:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def describe(self) -> str:
        k, v = self.cache_type_k, self.cache_type_v
        cache = k if k == v else f"{k}/{v}"
        ctx = "the model's own context" if self.n_ctx is None else f"ctx {self.n_ctx}"
        layers = "all layers that fit on the GPU" if self.n_gpu_layers is None else f"{self.n_gpu_layers} GPU layers"
        return f"{ctx}, cache {cache}, flash attention {self.flash_attn.value}, {layers}"
