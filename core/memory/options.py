"""What else would fit: other settings of the same file (cache, context, offload, CPU) and smaller files.

Named `FitOption` (not "Alternative": core.hub has its own Alternative, another model to download).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from core.hardware.machine import HardwareProfile
from core.memory.arithmetic import gib, kv_arithmetic, speed_arithmetic
from core.memory.estimate import MemoryEstimate, estimate
from core.memory.parts import KV_CELL_PADDING, cells, context, kv_bytes
from core.memory.search import max_context, max_gpu_layers
from core.memory.shape import QUANT_BPW, ModelShape
from core.memory.speed import host_bandwidth, tokens_per_s
from core.settings.run import FlashAttn, RunSettings, cache_bytes_per_element

COMFORT_QUANT = "Q5_K_M"
FLOOR_QUANT = "Q4_K_M"
# Below this decode speed a chat feels broken: a setting that fits only this slowly is no fix, and a
# CPU-only machine slower than this gets GPU advice.
MIN_COMFORTABLE_TOKENS_PER_S = 10.0
# A context shorter than this holds little more than a system prompt and one exchange (Ollama's default is
# 4096): a smaller context that fits only below it is listed, but it is no fix.
MIN_USEFUL_CONTEXT = 4096


@dataclass
class FitOption:
    label: str
    settings: dict[str, Any]
    fits: bool
    gpu_bytes: int  # the fullest GPU's total
    host_bytes: int
    tokens_per_s: float | None = None
    slowdown: float | None = None  # compared with everything on the GPU(s)
    arithmetic: str = ""
    too_short: bool = False  # a smaller context below MIN_USEFUL_CONTEXT

    @property
    def comfortable(self) -> bool:
        """It fits, with a useful context, at a speed a chat can live with: a change worth naming as *the* fix."""
        if not self.fits or self.too_short:
            return False
        return self.tokens_per_s is None or self.tokens_per_s >= MIN_COMFORTABLE_TOKENS_PER_S

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rounded(speed: float | None) -> float | None:
    return round(speed, 1) if speed is not None else None


def setting_options(shape: ModelShape, est: MemoryEstimate, hardware: HardwareProfile) -> list[FitOption]:
    """Other settings of this file: a q8_0 cache, a smaller context, partial offload, the CPU alone."""
    s = est.setup
    host_gbps = host_bandwidth(hardware)
    full = estimate(shape, replace(s, n_gpu_layers=shape.n_layer + 1), hardware)
    full_speed = tokens_per_s(shape, full, host_gbps) if hardware.usable_gpus else None
    out: list[FitOption] = []

    def add(
        label: str, setup: RunSettings, arithmetic: str, e: MemoryEstimate | None = None, short: bool = False
    ) -> None:
        e = e or estimate(shape, setup, hardware)
        speed = tokens_per_s(shape, e, host_gbps)
        out.append(
            FitOption(
                label=label,
                settings={
                    "ctx": setup.n_ctx,
                    "cache_type_k": setup.cache_type_k,
                    "cache_type_v": setup.cache_type_v,
                    "flash_attn": e.setup.flash_attn.fused,
                    "n_gpu_layers": e.setup.n_gpu_layers,
                },
                fits=e.fits,
                gpu_bytes=max((d.total_bytes for d in e.gpus), default=0),
                host_bytes=e.host.total_bytes,
                tokens_per_s=_rounded(speed),
                slowdown=round(full_speed / speed, 1) if full_speed and speed else None,
                arithmetic=arithmetic,
                too_short=short,
            )
        )

    q8 = replace(s, cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=FlashAttn.ON)
    if cache_bytes_per_element(s.cache_type_k) + cache_bytes_per_element(s.cache_type_v) > 2 * cache_bytes_per_element(
        "q8_0"
    ):
        add(
            "q8_0 KV cache (with flash attention)",
            q8,
            f"{kv_arithmetic(shape, q8)} instead of {gib(kv_bytes(shape, s))}; q8_0 is close to lossless.",
        )
    # never beyond the trained context, like the "largest context that fits" (max_context's own cap)
    cap = min(context(s) - 1, shape.n_ctx_train) if shape.n_ctx_train else context(s) - 1
    plain = 0
    for label, base in (("smaller context", s), ("smaller context with a q8_0 cache", q8)):
        ctx = max_context(shape, base, hardware, cap=cap) if cap >= KV_CELL_PADDING else 0
        # the full context with q8_0 is the option above; a q8_0 cache that buys no more context is no option
        if KV_CELL_PADDING <= ctx < cells(s) and ctx > plain:
            small = replace(base, n_ctx=ctx)
            add(f"{label}: {ctx} tokens", small, kv_arithmetic(shape, small), short=ctx < MIN_USEFUL_CONTEXT)
            plain = plain or ctx
    if hardware.usable_gpus:
        for label, base in (("partial offload", s), ("partial offload with a q8_0 cache", q8)):
            ngl = max_gpu_layers(shape, base, hardware)
            if 0 < ngl <= shape.n_layer:
                part = replace(base, n_gpu_layers=ngl)
                e = estimate(shape, part, hardware)
                add(f"{label}: -ngl {ngl}", part, speed_arithmetic(shape, e, host_gbps), e)
    cpu = replace(s, n_gpu_layers=0)
    cpu_est = estimate(shape, cpu, HardwareProfile(ram=hardware.ram, cpu=hardware.cpu))
    add("CPU only", cpu, f"RAM needed {gib(cpu_est.host.total_bytes)}; " + speed_arithmetic(shape, cpu_est, host_gbps))
    return out


def quant_options(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile) -> list[FitOption]:
    """A smaller file of the same model, for files above Q5_K_M / Q4_K_M that do not fit."""
    out = []
    for quant in (COMFORT_QUANT, FLOOR_QUANT):
        if shape.nominal_type == quant or shape.bpw <= QUANT_BPW[quant] + 0.25:
            continue  # already that size, or too close to it to be worth a download
        smaller = shape.requantized(quant)
        est = estimate(smaller, setup, hardware)
        out.append(
            FitOption(
                label=f"a {quant} file of this model",
                settings={"quant": quant, "ctx": setup.n_ctx, "n_gpu_layers": est.setup.n_gpu_layers},
                fits=est.fits,
                gpu_bytes=max((d.total_bytes for d in est.gpus), default=0),
                host_bytes=est.host.total_bytes,
                tokens_per_s=_rounded(tokens_per_s(smaller, est, host_bandwidth(hardware))),
                arithmetic=(
                    f"weights {QUANT_BPW[quant]:.2f} bits x {shape.parameters / 1e9:.2f} B parameters = "
                    f"{gib(smaller.weights_bytes)} instead of {gib(shape.weights_bytes)}"
                ),
            )
        )
    return out
