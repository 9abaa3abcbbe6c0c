"""Memory before and after a load: will the model fit, and when llama.cpp ran out, say so with the numbers.

A load that fails for lack of memory used to surface as "could not set up a 512-token context ...
check that the file is a complete GGUF", which sends people after a broken download. The memory
estimate (core.memory, which agrees with llama.cpp's own buffer sizes) already knows what the load
needs, so it is asked twice: before the worker starts (the common case never gets to llama.cpp),
and when llama.cpp reports a failed allocation (the message then carries the estimate's numbers).
"""

from __future__ import annotations

from pathlib import Path

from core.errors import NotEnoughMemoryError, QuantDoctorError
from core.hardware import HardwareProfile, detect_hardware
from core.memory.arithmetic import gib
from core.memory.estimate import MemoryEstimate, estimate
from core.memory.shape import model_shape
from core.model.inspection import inspect_model
from core.settings.run import RunSettings


def estimate_load(
    path: Path, settings: RunSettings, n_ctx: int, hardware: HardwareProfile | None = None
) -> MemoryEstimate | None:
    """The estimate for loading `path` with `settings` at `n_ctx` tokens here; None if it cannot be made."""
    try:
        shape = model_shape(inspect_model(path))
        return estimate(shape, settings.replace(n_ctx=max(n_ctx, 1)), hardware or detect_hardware())
    except QuantDoctorError:
        return None  # not estimable (an unknown architecture...): llama.cpp itself will tell


def numbers(est: MemoryEstimate) -> str:
    """Each device's need against what it has, part by part."""
    lines = []
    for d in est.devices:
        line = (
            f"{d.device}: {gib(d.total_bytes)} needed (weights {gib(d.weights_bytes)} + KV cache {gib(d.kv_bytes)} "
            f"+ compute {gib(d.compute_bytes)} + runtime {gib(d.overhead_bytes)})"
        )
        if d.available_bytes is not None:
            line += f", {gib(d.available_bytes)} available"
        lines.append(line)
    return "; ".join(lines)


def require_fit(
    path: Path, settings: RunSettings, n_ctx: int, what: str, hardware: HardwareProfile | None = None
) -> None:
    """NotEnoughMemoryError, with the numbers, when the estimate says the load cannot fit."""
    est = estimate_load(path, settings, n_ctx, hardware)
    if est is not None and not est.fits:
        raise NotEnoughMemoryError(
            f"Not enough memory to load {what} with a {n_ctx}-token context ({settings.describe()}): {numbers(est)}."
        )


def not_enough_memory(
    path: Path, settings: RunSettings, n_ctx: int | None, what: str, detail: str
) -> NotEnoughMemoryError:
    """The typed error for a load llama.cpp could not allocate, with the estimate's numbers when it has them."""
    ctx = n_ctx or settings.n_ctx or 512
    est = estimate_load(path, settings, ctx)
    figures = f" The memory estimate for a {ctx}-token context: {numbers(est)}." if est is not None else ""
    return NotEnoughMemoryError(f"llama.cpp ran out of memory loading {what}: {detail}.{figures}")
