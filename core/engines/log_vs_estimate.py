"""Estimate vs reality: Quant Doctor's memory estimate beside the buffers llama.cpp itself reported.

A log that lists llama.cpp's buffers (`load_tensors: CPU_Mapped model buffer size = ...`, `KV buffer
size`, `compute buffer size`, `output buffer size`) is the real figure for that run. Putting the
estimate for the same settings beside it, per device and component, shows whether the estimate
can be trusted for this model; where the two differ by more than `TOLERANCE`, the log wins and
the person is told so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.engines.logs import LogReading
from core.errors import QuantDoctorError
from core.hardware import HardwareProfile, SystemMemory
from core.hardware.machine import GpuInfo
from core.memory.estimate import MemoryEstimate, estimate
from core.memory.shape import model_shape
from core.model.profile import ModelProfile
from core.settings.run import FlashAttn, RunSettings

TOLERANCE = 0.05
MIB = 1024 * 1024
_GPU = re.compile(r"^(CUDA|ROCm|Vulkan|Metal|SYCL|MUSA|CANN)(\d*)$", re.IGNORECASE)
_BACKENDS = {"cuda": "cuda", "rocm": "rocm", "vulkan": "vulkan", "metal": "metal"}
COMPONENTS = ("weights", "kv", "compute")


@dataclass
class Row:
    device: str  # "host" or the GPU as llama.cpp names it ("CUDA0")
    component: str  # "weights", "kv", "compute" (compute includes the output buffer), "total"
    estimated_bytes: int
    logged_bytes: int

    @property
    def difference(self) -> float | None:
        """(estimate - log) / log; None when the log reported nothing for it."""
        return None if self.logged_bytes <= 0 else (self.estimated_bytes - self.logged_bytes) / self.logged_bytes

    @property
    def agrees(self) -> bool:
        d = self.difference
        return d is None or abs(d) <= TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "component": self.component, "estimated_bytes": self.estimated_bytes,
                "logged_bytes": self.logged_bytes, "difference": self.difference, "agrees": self.agrees}  # fmt: skip


@dataclass
class EstimateVsLog:
    settings: RunSettings
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return all(r.agrees for r in self.rows)

    @property
    def verdict(self) -> str:
        off = [r for r in self.rows if not r.agrees and r.component != "total"]
        if not off:
            return f"Quant Doctor's memory estimate agrees with llama.cpp's own buffers within {TOLERANCE:.0%}."
        parts = ", ".join(f"{r.device} {r.component} by {r.difference:+.0%}" for r in off if r.difference is not None)
        return f"Quant Doctor's estimate differs from the log ({parts}): trust the log, it is llama.cpp's own figure."

    def table(self) -> list[str]:
        out = [f"{'device':<10} {'component':<9} {'estimate':>12} {'log':>12} {'difference':>10}"]
        for r in self.rows:
            diff = "-" if r.difference is None else f"{r.difference:+.1%}"
            out.append(f"{r.device:<10} {r.component:<9} {r.estimated_bytes / MIB:>8.2f} MiB {r.logged_bytes / MIB:>8.2f} MiB "
                       f"{diff:>10}")  # fmt: skip
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings.to_dict(), "rows": [r.to_dict() for r in self.rows], "agrees": self.agrees,
                "verdict": self.verdict, "notes": list(self.notes)}  # fmt: skip


def _log_device(name: str) -> str:
    """llama.cpp's buffer names -> a device: CPU, CPU_Mapped, CUDA_Host, CPU_REPACK are all system RAM."""
    m = _GPU.match(name)
    return f"{m.group(1)}{m.group(2) or '0'}" if m else "host"


def compare_with_log(reading: LogReading, profile: ModelProfile) -> EstimateVsLog | None:
    """The estimate for the log's own settings beside the log's buffers; None when the log has no buffers."""
    if not reading.buffers or not reading.n_ctx:
        return None
    gpu_names = [d for d in dict.fromkeys(_log_device(b.device) for b in reading.buffers) if d != "host"]
    gpus = []
    for i, name in enumerate(gpu_names):
        backend = _BACKENDS.get(re.sub(r"\d+$", "", name).lower(), "cuda")
        # the log does not say how much memory each GPU has: equal, ample figures split the layers evenly
        gpus.append(GpuInfo(vendor="log", index=i, name=name, backend=backend, usable_bytes=1 << 40))
    hardware = HardwareProfile(gpus=gpus, ram=SystemMemory(), source="file", notes=["the devices the log names"])
    ngl = reading.offloaded[0] if reading.offloaded else (None if gpus else 0)
    settings = RunSettings(
        n_ctx=reading.n_ctx,
        cache_type_k=reading.cache_type_k or "f16",
        cache_type_v=reading.cache_type_v or "f16",
        flash_attn=FlashAttn.parse(reading.flash_attn or "auto"),
        n_gpu_layers=ngl,
        n_batch=reading.n_batch or RunSettings.n_batch,
        n_ubatch=reading.n_ubatch or RunSettings.n_ubatch,
        n_outputs_max=reading.n_outputs_max,
    )
    notes: list[str] = []
    if len(gpus) > 1:
        notes.append("The log's GPUs were assumed to split the layers evenly (their memory is not in the log).")
    try:
        est = estimate(model_shape(profile), settings, hardware)
    except QuantDoctorError as err:
        notes.append(f"The estimate could not be made for these settings: {err.message}")
        return EstimateVsLog(settings, [], notes)
    return EstimateVsLog(settings, _rows(reading, est, gpu_names), notes)


def _rows(reading: LogReading, est: MemoryEstimate, gpu_names: list[str]) -> list[Row]:
    logged: dict[tuple[str, str], int] = {}
    for b in reading.buffers:
        component = "compute" if b.component == "output" else b.component
        key = (_log_device(b.device), component)
        logged[key] = logged.get(key, 0) + b.bytes
    rows: list[Row] = []
    devices = [(name, est.gpus[i]) for i, name in enumerate(gpu_names)] + [("host", est.host)]
    for name, usage in devices:
        estimated = {"weights": usage.weights_bytes, "kv": usage.kv_bytes, "compute": usage.compute_bytes}
        for component in COMPONENTS:
            if estimated[component] or logged.get((name, component)):
                rows.append(Row(name, component, estimated[component], logged.get((name, component), 0)))
        rows.append(Row(name, "total", sum(estimated.values()), sum(logged.get((name, c), 0) for c in COMPONENTS)))
    return rows
