"""Does a candidate quant fit this machine? The seam between core.hub and the memory estimate.

`FitFn` is what alternatives ranking calls: `fits(info, ctx) -> True / False / None (cannot tell)`.
The default here is deliberately simple (weights = file size, plus a KV cache in q8_0 at the
person's context when the model's shape is known, plus a fixed runtime overhead, against free VRAM
when a budget is given, else available RAM from psutil). core.memory.estimate owns the real estimate;
`memory_fit` adapts it to a `FitFn` (what `quantdoctor-cli hub alternatives` passes as `fits=`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core import textnum
from core.errors import QuantDoctorError
from core.model.profile import ModelProfile
from core.settings.run import cache_bytes_per_element

if TYPE_CHECKING:
    from core.hardware.machine import HardwareProfile

GIB = 1 << 30
OVERHEAD_BYTES = 512 << 20  # compute buffers and runtime, a round figure
OVERHEAD_SHARE = 0.05


@dataclass(frozen=True)
class SizeInfo:
    """What is known about a candidate: its download size, and the shape of the model it quantizes.

    `profile` is the person's local file of the same model (same architecture and shape), when there
    is one; only its shape is read (layers, KV heads, head sizes, sliding window). `candidate` is the
    candidate's own profile (every tensor, exact sizes) when its header was read over HTTP.
    """

    file_size: int | None
    profile: ModelProfile | None = None
    cache_type: str = "q8_0"
    is_moe: bool = False
    name: str = ""
    candidate: ModelProfile | None = None  # the candidate's own profile, when its header was read (peek)


FitFn = Callable[[SizeInfo, int], bool | None]


def kv_cache_bytes(profile: ModelProfile | None, ctx: int, cache_type: str = "q8_0") -> int | None:
    """n_layer × n_ctx × (head_dim_k + head_dim_v) × n_head_kv × bytes per element (docs/ARCHITECTURE.md, "The KV cache")."""
    if profile is None or not profile.block_count or not profile.head_count_kv:
        return None
    hk = profile.key_length
    hv = profile.value_length
    if not hk or not hv:
        return None
    tokens = min(ctx, profile.sliding_window) if profile.sliding_window else ctx
    per = cache_bytes_per_element(cache_type)
    return int(profile.block_count * tokens * (hk + hv) * profile.head_count_kv * per)


def needed_bytes(info: SizeInfo, ctx: int) -> int | None:
    if info.file_size is None:
        return None
    kv = kv_cache_bytes(info.candidate or info.profile, ctx, info.cache_type) or 0
    return int(info.file_size * (1 + OVERHEAD_SHARE)) + kv + OVERHEAD_BYTES


def available_ram() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or the OS refuses: cannot tell
        return None


def simple_fit(budget_bytes: int | None = None) -> FitFn:
    """A `FitFn` against a fixed budget (free VRAM of a named GPU), else the RAM available now."""

    def fits(info: SizeInfo, ctx: int) -> bool | None:
        need = needed_bytes(info, ctx)
        budget = budget_bytes if budget_bytes is not None else available_ram()
        if need is None or budget is None:
            return None
        return need <= budget

    return fits


default_fit: FitFn = simple_fit()


_GB = re.compile(r"(\d+(?:\.\d+)?)\s*(g|gb|gib)?\s*$", re.IGNORECASE)


def parse_gpu_budget(text: str) -> int:
    """Memory size from "24", "24GB" or "RTX 4090 24GB", in bytes; a bare GPU name cannot be sized here.

    The GPU catalog (core.hardware) will turn names into memory sizes; until it is wired in, the
    size must be part of the text.
    """
    m = _GB.search(text.strip())
    if not m or (m.group(2) is None and not text.strip().replace(".", "", 1).isdigit()):
        raise QuantDoctorError(
            f"Quant Doctor cannot tell how much memory '{text}' has.",
            "Add the memory size, e.g. --gpu '24GB' or --gpu 'RTX 4090 24GB'.",
        )
    fix = "Give the memory in GB, e.g. --gpu '24GB' or --gpu 'RTX 4090 24GB'."
    size = textnum.decimal(m.group(1), textnum.GIB, "The GPU memory size", QuantDoctorError, fix)
    return int(size * GIB)


def _scaled(profile: ModelProfile, file_size: int) -> ModelProfile:
    """The local file's tensors resized so the weights add up to the candidate's download size."""
    from dataclasses import replace

    fixed = sum(t.bytes for t in profile.tensors if t.role == "norms")
    scalable = sum(t.bytes for t in profile.tensors) - fixed
    factor = max(file_size - fixed, 0) / scalable if scalable else 1.0
    tensors = [t if t.role == "norms" else replace(t, bytes=int(t.bytes * factor)) for t in profile.tensors]
    return replace(profile, tensors=tensors)


def memory_fit(hardware: HardwareProfile) -> FitFn:
    """core.memory.estimate's estimate (the one that agrees with llama.cpp) on a machine profile.

    Uses the candidate's own tensors when its header was read, else the person's local file of the
    same model resized to the candidate's download size; falls back to `simple_fit` with neither.
    """
    from core.memory.estimate import estimate
    from core.memory.shape import model_shape
    from core.settings.run import FlashAttn, RunSettings

    fallback = simple_fit()

    def fits(info: SizeInfo, ctx: int) -> bool | None:
        base = info.candidate or info.profile
        if base is None or not base.tensors or info.file_size is None:
            return fallback(info, ctx)
        prof = base if info.candidate is not None else _scaled(base, info.file_size)
        try:
            setup = RunSettings(
                n_ctx=max(ctx, 1), cache_type_k=info.cache_type, cache_type_v=info.cache_type, flash_attn=FlashAttn.ON
            )
            return estimate(model_shape(prof), setup, hardware).fits
        except QuantDoctorError:
            return None

    return fits
