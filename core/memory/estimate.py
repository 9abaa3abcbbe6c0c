"""How much memory a GGUF model needs under llama.cpp, per GPU and on the host, for one set of settings.

The estimate follows llama.cpp (the copy llama-cpp-python 0.3.36 vendors) rather than a rule of
thumb, part by part, because each part moves differently when a setting changes:

- **Weights**, placed the way `llama_model_base::load_tensors` places them: the input layer
  (token embeddings) always stays on the host; with `-ngl N` the output layer and the last N-1
  repeating layers go to the GPU(s) (N > n_layer offloads everything); with several GPUs the layers
  are split in proportion to each card's free memory. A model with tied embeddings gets a copy of
  the embedding matrix as its output layer on the GPU.
- **KV cache** and **compute buffers**: core.memory.parts (closed forms and a cached exact replay
  of llama.cpp's graph allocator).
- **Runtime overhead**: what a backend takes beyond the buffers llama.cpp reports (below).

On the CPU backend the weights, KV and compute figures agree with what llama.cpp prints when it
loads (tests/test_memory_agreement.py loads models in a child process and compares).

Where it is an approximation, and why:
- a GPU's compute buffer is the same replay less the embeddings input that stays on the host (the
  graph and allocator are the same; ggml-cuda's temporary pool is part of the runtime overhead);
- with partial offload, prompt batches copy a host layer's weights into the GPU's compute buffer
  (op offload): the largest such layer is added; the host is given a full compute buffer;
- architectures are replayed with llama's graph (see core.memory.compute_graph); MLA, recurrent and hybrid
  caches are not modelled;
- defaults are llama-cli's and llama-server's: n_batch 2048, n_ubatch 512, one sequence.

Layers sit on each device in contiguous runs, so an estimate sums each run with the shape's prefix
sums instead of visiting every layer: one estimate costs microseconds once the compute buffer of its
(graph, context) has been replayed.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core.hardware.machine import GpuInfo, HardwareProfile
from core.memory.parts import (
    cells,
    compute_graph_bytes,
    context,
    graph_input_bytes,
    kv_run_bytes,
    output_buffer_bytes,
    resolved,
    settings_dict,
    ubatch,
)
from core.memory.shape import ModelShape
from core.settings.run import RunSettings

MIB = 1024**2

OP_OFFLOAD_MIN_BATCH = 32  # ggml-cuda offloads host-weight matmuls to the GPU from 32 tokens up

# Memory a backend takes beyond the buffers llama.cpp reports, per process and device.
# CUDA: the CUDA context, cuBLAS handle and workspace and the kernel images it loads (lazily).
#   Measured on an NVIDIA H200 (driver 580.159.04, CUDA 13.0, llama.cpp as vendored by
#   llama-cpp-python 0.3.36, every layer offloaded): peak memory.used minus llama.cpp's own CUDA
#   buffers was 600-709 MiB over 8 cases (packaging/device/RESULTS-h200.md); rounded up to 768 MiB.
# ROCm: the HIP context and rocBLAS/hipBLASLt workspaces, assumed like CUDA.
# Metal: command queues and pipeline states are small; the working-set limit is the real ceiling.
# Vulkan: device, pipelines and staging buffers.
# Host: the llama.cpp libraries, the vocabulary, graph metadata and the app's Python; measured about
#   60 MiB above the buffers for SmolLM2-135M under llama-cpp-python 0.3.36, rounded up for large
#   vocabularies.
RUNTIME_OVERHEAD_BYTES = {
    "cuda": 768 * MIB,
    "rocm": 768 * MIB,
    "metal": 128 * MIB,
    "vulkan": 256 * MIB,
    "cpu": 128 * MIB,
}
TIGHT_MARGIN_BYTES = 512 * MIB  # less headroom than this and a long prompt or a driver update may tip it over


@dataclass
class DeviceUsage:
    device: str  # "CUDA0 (NVIDIA H200)", "host"
    kind: str  # "gpu" or "host"
    backend: str
    weights_bytes: int = 0
    kv_bytes: int = 0
    compute_bytes: int = 0  # compute graph, plus the output buffer on the host
    overhead_bytes: int = 0
    available_bytes: int | None = None
    layers: int = 0
    holds_output: bool = False
    bandwidth_gbps: float | None = None

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes + self.compute_bytes + self.overhead_bytes

    @property
    def margin_bytes(self) -> int | None:
        return None if self.available_bytes is None else self.available_bytes - self.total_bytes

    @property
    def fits(self) -> bool:
        margin = self.margin_bytes
        return margin is None or margin >= 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(total_bytes=self.total_bytes, margin_bytes=self.margin_bytes, fits=self.fits)
        return d


def _backend_name(gpu: GpuInfo, i: int) -> str:
    prefix = {"cuda": "CUDA", "rocm": "ROCm", "metal": "Metal", "vulkan": "Vulkan"}.get(gpu.backend, gpu.backend)
    return f"{prefix}{i} ({gpu.name})"


def layer_devices(n_layer: int, n_gpu_layers: int, gpus: list[GpuInfo]) -> list[int]:
    """Device of each layer 0..n_layer (the last entry is the output layer); -1 = host."""
    i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)
    act = min(n_gpu_layers, n_layer + 1) if gpus else 0
    free = [max(g.available_bytes, 1) for g in gpus]
    total = float(sum(free)) or 1.0
    splits, acc = [], 0.0
    for f in free:
        acc += f
        splits.append(acc / total)
    out = []
    for il in range(n_layer + 1):
        if not gpus or il < i_gpu_start or il - i_gpu_start >= act:
            out.append(-1)
        else:
            out.append(min(bisect.bisect_right(splits, (il - i_gpu_start) / act), len(gpus) - 1))
    return out


def layer_runs(n_layer: int, n_gpu_layers: int, gpus: list[GpuInfo]) -> list[tuple[int, int, int]]:
    """`layer_devices` as contiguous runs (device, first entry, entry after the last)."""
    if len(gpus) <= 1:  # the common case in closed form: the last n_gpu_layers entries on the one GPU
        start = max(n_layer + 1 - n_gpu_layers, 0) if gpus and n_gpu_layers > 0 else n_layer + 1
        runs = [(-1, 0, start)] if start > 0 else []
        return runs + ([(0, start, n_layer + 1)] if start <= n_layer else [])
    devs = layer_devices(n_layer, n_gpu_layers, gpus)
    runs, first = [], 0
    for il in range(1, n_layer + 2):
        if il == n_layer + 1 or devs[il] != devs[first]:
            runs.append((devs[first], first, il))
            first = il
    return runs


@dataclass
class MemoryEstimate:
    model: str
    setup: RunSettings
    devices: list[DeviceUsage]
    kv_cells: int
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return all(d.fits for d in self.devices)

    @property
    def gpus(self) -> list[DeviceUsage]:
        return [d for d in self.devices if d.kind == "gpu"]

    @property
    def host(self) -> DeviceUsage:
        return next(d for d in self.devices if d.kind == "host")

    @property
    def total_bytes(self) -> int:
        return sum(d.total_bytes for d in self.devices)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "setup": settings_dict(self.setup),
            "kv_cells": self.kv_cells,
            "devices": [d.to_dict() for d in self.devices],
            "fits": self.fits,
            "total_bytes": self.total_bytes,
            "notes": list(self.notes),
        }


def estimate(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile) -> MemoryEstimate:
    """Memory per device for one setup on one machine (no searching)."""
    setup.require_llama_cpp_loads()
    gpus = hardware.usable_gpus
    s = resolved(setup, shape.n_layer) if gpus else replace(resolved(setup, shape.n_layer), n_gpu_layers=0)
    ngl = int(s.n_gpu_layers or 0)
    n_layer = shape.n_layer
    host = DeviceUsage("host", "host", "cpu", overhead_bytes=RUNTIME_OVERHEAD_BYTES["cpu"])
    host.available_bytes = hardware.ram.available_bytes
    usage = [
        DeviceUsage(
            _backend_name(g, i), "gpu", g.backend, overhead_bytes=RUNTIME_OVERHEAD_BYTES.get(g.backend, 512 * MIB),
            available_bytes=g.available_bytes, bandwidth_gbps=g.bandwidth_gbps,
        )
        for i, g in enumerate(gpus)
    ]  # fmt: skip

    host.weights_bytes += shape.input_bytes + shape.other_bytes
    n_host_layers = 0
    for device, first, end in layer_runs(n_layer, ngl, gpus):
        d = host if device < 0 else usage[device]
        last = min(end, n_layer)  # entry n_layer is the output layer
        d.weights_bytes += shape.layer_prefix[last] - shape.layer_prefix[first]
        d.kv_bytes += kv_run_bytes(shape, s, first, last)  # offload_kqv: the KV cache follows its layer
        d.layers += last - first
        if device < 0:
            n_host_layers += last - first
        if end == n_layer + 1:
            d.holds_output = True
            d.weights_bytes += shape.output_bytes
            if d is not host:
                d.weights_bytes += shape.tied_copy_bytes  # on the host the embedding matrix serves as both
    graph = compute_graph_bytes(shape, s)
    notes: list[str] = []
    n_ubatch = ubatch(s)
    for d in usage:
        if d.layers or d.holds_output:
            # the embeddings input the graph never reads stays on the host
            d.compute_bytes = graph - shape.graph.n_embd * n_ubatch * 4
            if n_host_layers and n_ubatch >= OP_OFFLOAD_MIN_BATCH:
                # prompt batches run host layers' matrix products on the GPU, copying their weights in;
                # the host's layers are the first ones
                d.compute_bytes += shape.layer_prefix_max[n_host_layers]
        else:
            d.overhead_bytes = 0  # llama.cpp never touches a GPU that holds nothing
    # the host runs the whole graph when layers stay on it (conservative: prompt batches move their matrix
    # products to the GPU); with everything offloaded it only holds the inputs
    host_graph = graph if n_host_layers or not usage else graph_input_bytes(shape, s)
    host.compute_bytes = host_graph + output_buffer_bytes(shape)
    if usage and n_host_layers:
        notes.append(
            f"{n_host_layers} of {n_layer} layers run on the CPU: their KV cache and attention stay in "
            "system RAM, and prompt batches copy their weights to the GPU."
        )
    if shape.n_ctx_train and context(s) > shape.n_ctx_train:
        notes.append(
            f"{s.n_ctx} tokens is more than the {shape.n_ctx_train} the model was trained for: quality drops past it."
        )
    unified = [d for d, g in zip(usage, gpus, strict=True) if g.unified_memory]
    if unified and host.available_bytes is not None:
        host.available_bytes = max(0, host.available_bytes - sum(d.total_bytes for d in unified))
        notes.append("The GPU shares system RAM (unified memory): what it uses is not available to the host.")
    if gpus and all(g.backend == "metal" for g in gpus):
        notes.append("On Metal the weights are memory-mapped: they count against the GPU limit, not twice.")
    return MemoryEstimate(shape.name, s, [*usage, host], cells(s), notes)


def gpu_fits(est: MemoryEstimate) -> bool:
    return all(d.fits for d in est.gpus)
