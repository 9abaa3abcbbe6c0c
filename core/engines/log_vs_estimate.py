"""Estimate vs reality: Quant Doctor's memory estimate beside the buffers llama.cpp itself reported.

A log that lists llama.cpp's buffers (`load_tensors: CPU_Mapped model buffer size = ...`, `KV buffer
size`, `compute buffer size`, `output buffer size`) is the real figure for that run. Putting the
estimate for the same settings beside it, per device and component, shows whether the estimate
can be trusted for this model; where the two differ by more than `TOLERANCE`, the log wins and
the person is told so.

The buffers are not simply added up (what each name means: core.engines.logs.BUFFER_KINDS):

- **A repacked copy replaces, it does not add.** On a CPU with AVX2, llama.cpp moves Q4_0/Q4_K/IQ4_NL
  matrices into a `CPU_REPACK` buffer (ggml/src/ggml-cpu/repack.cpp), filled from the mapped file at
  load. The `CPU_Mapped` buffer beside it is the file range from the first to the last tensor left in
  the default buffer type (src/llama-model.cpp `load_tensors`, `get_mapping_range` in
  src/llama-model-loader.cpp), which on a usual file (token embeddings first, output last) spans the
  repacked tensors too. Their mapped pages are read once and never again, so the weights hold
  mapped + repacked − the repacked tensors inside the mapped range (`host_weights`). Which tensors were
  repacked is found from the file: the types whose tensors add up to the logged repack size.
- **A unified KV cache is the whole context, shared.** llama-server with `n_parallel` auto (4 slots)
  sets `kv_unified`: one cache of n_ctx cells the slots share (src/llama-context.cpp: n_ctx_seq = n_ctx;
  src/llama-kv-cache.cpp: n_stream = 1), not n_ctx per slot. Without it each of the n_seq_max streams
  holds pad(n_ctx / n_seq_max, 256) cells. The log's KV summary line says which (`N cells, ... a/b seqs`).
- **The output buffer holds one row of logits per sequence** (`output_reserve(n_seq_max)` in
  src/llama-context.cpp): four rows under llama-server's four slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.engines.logs import LogBuffer, LogReading
from core.errors import QuantDoctorError
from core.hardware import HardwareProfile, SystemMemory
from core.hardware.machine import GpuInfo
from core.memory.estimate import MemoryEstimate, estimate
from core.memory.shape import model_shape
from core.model.profile import ModelProfile, TensorEntry
from core.settings.run import FlashAttn, RunSettings

TOLERANCE = 0.05
MIB = 1024 * 1024
_GPU = re.compile(r"^(CUDA|ROCm|Vulkan|Metal|SYCL|MUSA|CANN)(\d*)$", re.IGNORECASE)
_BACKENDS = {"cuda": "cuda", "rocm": "rocm", "vulkan": "vulkan", "metal": "metal"}
COMPONENTS = ("weights", "kv", "compute")
# Types ggml-cpu/repack.cpp (ggml_repack_get_optimal_repack_type) can repack on some CPU: which of them a CPU
# repacks depends on its features, so the ones repacked are found from the logged size.
REPACKABLE = ("Q1_0", "Q2_K", "Q4_0", "Q4_K", "Q5_K", "Q6_K", "Q8_0", "IQ4_NL", "MXFP4")
TENSOR_ALIGNMENT = 32  # GGUF's default data alignment, and the CPU buffers' (ggml TENSOR_ALIGNMENT)
REPACK_MATCH = 0.01  # the chosen types' bytes are within 1% of the logged CPU_REPACK size


@dataclass(frozen=True)
class HostWeights:
    """The weights in system RAM as llama.cpp's buffers hold them, counted once."""

    buffers_bytes: int  # the weight buffers' sizes added up (what the log lists)
    overlap_bytes: int  # repacked tensors whose mapped pages the repacked copy replaces
    repacked_types: tuple[str, ...] = ()
    note: str | None = None

    @property
    def bytes(self) -> int:
        return self.buffers_bytes - self.overlap_bytes


def _aligned(n: int) -> int:
    return n + (-n) % TENSOR_ALIGNMENT


def _repacked_types(eligible: list[TensorEntry], logged: int) -> tuple[str, ...] | None:
    """The set of types whose eligible tensors add up to the logged repack size (None when none does)."""
    types = sorted({t.type for t in eligible})
    sizes = {ty: sum(_aligned(t.bytes) for t in eligible if t.type == ty) for ty in types}
    best: tuple[float, tuple[str, ...]] | None = None
    for mask in range(1, 1 << len(types)):
        chosen = tuple(ty for i, ty in enumerate(types) if mask >> i & 1)
        miss = abs(sum(sizes[ty] for ty in chosen) - logged) / max(logged, 1)
        if best is None or miss < best[0]:
            best = (miss, chosen)
    return best[1] if best is not None and best[0] <= REPACK_MATCH else None


def host_weights(buffers: list[LogBuffer], profile: ModelProfile, on_host: set[str]) -> HostWeights:
    """Mapped + repacked − the repacked tensors inside the mapped range (see the module's docstring).

    `on_host`: the names of the tensors the estimate places in system RAM."""
    weights = [b for b in buffers if b.component == "weights" and b.in_system_ram]
    total = sum(b.bytes for b in weights)
    repack = sum(b.bytes for b in weights if b.kind == "repacked")
    if not repack or not any(b.kind == "mapped" for b in weights):
        return HostWeights(total, 0)  # no copy, or no mapping (--no-mmap): each buffer holds its own tensors
    host = [t for t in profile.tensors if t.name in on_host]
    eligible = [t for t in host if t.type in REPACKABLE and t.role != "embeddings" and t.role != "norms"]
    chosen = _repacked_types(eligible, repack)
    if chosen is None:
        return HostWeights(total, repack, note=(
            "Which tensors llama.cpp repacked could not be told from the file: the repacked copy was counted as "
            "replacing their mapped pages."))  # fmt: skip
    repacked = {t.name for t in eligible if t.type in chosen}
    offset, spans = 0, []  # the file's data section in directory order (offsets ascend, aligned)
    for t in profile.tensors:
        spans.append((t, offset, offset + t.bytes))
        offset = _aligned(offset + t.bytes)
    mapped = [(a, b) for t, a, b in spans if t.name in on_host and t.name not in repacked]
    first, last = (min(a for a, _ in mapped), max(b for _, b in mapped)) if mapped else (0, 0)
    overlap = sum(_aligned(t.bytes) for t, a, b in spans if t.name in repacked and first <= a and b <= last)
    overlap = min(overlap, repack)
    mapped_mib = sum(b.mib for b in weights if b.kind == "mapped")
    note = (
        f"CPU_REPACK ({repack / MIB:,.2f} MiB) is a repacked copy of the {'/'.join(chosen)} matrices, "
        f"{overlap / MIB:,.2f} MiB of which lie inside the mapped range ({mapped_mib:,.2f} MiB): the copy replaces "
        "their mapped pages, so it is counted once. (The process's resident memory can show both until the kernel "
        "drops the clean file pages read at load.)"
    )
    return HostWeights(total, overlap, chosen, note)


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
    # the KV cache's cells: one stream (a unified cache, the whole context shared by the slots) or one a slot;
    # the compute graph attends over one stream's cells
    streams = reading.kv_streams or 1
    cells = reading.kv_cells or (reading.n_ctx if streams == 1 else reading.n_ctx // streams)
    settings = RunSettings(
        n_ctx=cells,
        cache_type_k=reading.cache_type_k or "f16",
        cache_type_v=reading.cache_type_v or "f16",
        flash_attn=FlashAttn.parse(reading.flash_attn or "auto"),
        n_gpu_layers=ngl,
        n_batch=reading.n_batch or RunSettings.n_batch,
        n_ubatch=reading.n_ubatch or RunSettings.n_ubatch,
        n_outputs_max=reading.n_outputs_max,
    )
    notes: list[str] = []
    n_seq = reading.n_seq_max or 1
    if reading.kv_unified and n_seq > 1:
        notes.append(
            f"The KV cache is unified: one cache of {cells:,} cells shared by the {n_seq} slots, not one each."
        )
    elif streams > 1:
        notes.append(f"The KV cache is split: {streams} streams of {cells:,} cells, one a slot.")
    if len(gpus) > 1:
        notes.append("The log's GPUs were assumed to split the layers evenly (their memory is not in the log).")
    try:
        shape = model_shape(profile)
        est = estimate(shape, settings, hardware)
    except QuantDoctorError as err:
        notes.append(f"The estimate could not be made for these settings: {err.message}")
        return EstimateVsLog(settings, [], notes)
    host = host_weights(reading.buffers, profile, _host_tensors(profile, est))
    if host.note:
        notes.append(host.note)
    # llama_context reserves one row of logits per sequence (output_reserve(n_seq_max)); the estimate's one row
    extra_output = (n_seq - 1) * shape.graph.n_vocab * 4
    return EstimateVsLog(settings, _rows(reading, est, gpu_names, host, streams, extra_output), notes)


def _host_tensors(profile: ModelProfile, est: MemoryEstimate) -> set[str]:
    """The tensors the estimate leaves in system RAM: the input layer, the first host layers, the output when
    no GPU holds it (core.memory.estimate places them the way load_tensors does)."""
    host = est.host
    out = set()
    for t in profile.tensors:
        if t.layer is not None:
            keep = t.layer < host.layers
        elif t.role == "output" or t.name.startswith("output_norm"):
            keep = host.holds_output
        else:
            keep = True
        if keep:
            out.add(t.name)
    return out


def _rows(reading: LogReading, est: MemoryEstimate, gpu_names: list[str], host: HostWeights, streams: int,
          extra_output: int) -> list[Row]:  # fmt: skip
    logged: dict[tuple[str, str], int] = {}
    for b in reading.buffers:
        component = "compute" if b.component == "output" else b.component
        key = (_log_device(b.device), component)
        logged[key] = logged.get(key, 0) + b.bytes
    if ("host", "weights") in logged:
        logged["host", "weights"] -= host.overlap_bytes
    rows: list[Row] = []
    devices = [(name, est.gpus[i]) for i, name in enumerate(gpu_names)] + [("host", est.host)]
    for name, usage in devices:
        compute = usage.compute_bytes + (extra_output if name == "host" else 0)
        estimated = {"weights": usage.weights_bytes, "kv": usage.kv_bytes * streams, "compute": compute}
        for component in COMPONENTS:
            if estimated[component] or logged.get((name, component)):
                rows.append(Row(name, component, estimated[component], logged.get((name, component), 0)))
        rows.append(Row(name, "total", sum(estimated.values()), sum(logged.get((name, c), 0) for c in COMPONENTS)))
    return rows
