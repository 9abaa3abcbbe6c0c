"""How much memory a GGUF model needs under llama.cpp, per GPU and on the host, and what fits.

The estimate follows llama.cpp (the copy llama-cpp-python 0.3.36 vendors) rather than a rule of
thumb, part by part, because each part moves differently when a setting changes:

- **Weights**, placed the way `llama_model_base::load_tensors` places them: the input layer
  (token embeddings) always stays on the host; with `-ngl N` the output layer and the last N-1
  repeating layers go to the GPU(s) (N > n_layer offloads everything); with several GPUs the layers
  are split in proportion to each card's free memory. A model with tied embeddings gets a copy of
  the embedding matrix as its output layer on the GPU.
- **KV cache**: n_layer x cells x (n_embd_k_gqa x s(type_k) + n_embd_v_gqa x s(type_v)), cells =
  the context padded to 256 (`cparams.n_ctx = GGML_PAD(n_ctx, 256)`); sliding-window layers hold
  `GGML_PAD(min(cells, n_swa + n_ubatch), 256)` cells. s(type) comes from gguf.GGML_QUANT_SIZES.
- **Compute buffers**: replayed exactly (core.memory.compute_graph) for the worst-case micro-batch that
  `llama_context::sched_reserve` reserves, plus the logits output buffer.
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
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

import gguf

from core.errors import MemoryEstimateError
from core.hardware.machine import GIB, GpuInfo, HardwareProfile
from core.memory.compute_graph import CPU_ALIGNMENT, GraphSetup, GraphShape, compute_buffer_bytes, input_bytes
from core.model.profile import ModelProfile, TensorEntry
from core.settings.run import FlashAttn, RunSettings, cache_bytes_per_element

MIB = 1024**2

KV_CELL_PADDING = 256  # llama_context: cparams.n_ctx = GGML_PAD(cparams.n_ctx, 256)
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

# Decode speed is bounded by memory bandwidth: every generated token reads the active weights once.
DEFAULT_HOST_BANDWIDTH_GBPS = 50.0  # dual-channel DDR4-3200 peaks at 51.2 GB/s, DDR5-5600 at 89.6

# Sliding-window layer patterns llama.cpp sets per architecture (load_swa_pattern defaults): in each
# group of N layers the last is full attention, the others see only the window.
SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4, "gpt-oss": 2, "llama4": 4, "exaone4": 4}
SWA_DEFAULT_WINDOW = {"gemma2": 4096, "exaone4": 4096, "llama4": 8192}


def row_bytes(cache_type: str, n: int) -> int:
    """ggml_row_size: bytes of n elements of a type (n a multiple of the block size)."""
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[cache_type.upper()]]
    return n // block * size


def pad(n: int, to: int = KV_CELL_PADDING) -> int:
    return (n + to - 1) // to * to


# --- the setup ------------------------------------------------------------------------------------


def context(setup: RunSettings) -> int:
    """The context in tokens; the caller resolves "the engine's default" before estimating."""
    if setup.n_ctx is None:
        raise MemoryEstimateError(
            "The memory estimate needs a context length.", "Give a context (-c), or use the model's own."
        )
    return setup.n_ctx


def cells(setup: RunSettings) -> int:
    """KV cells llama.cpp allocates: the context padded to 256."""
    return pad(context(setup))


def resolved(setup: RunSettings, n_layer: int) -> RunSettings:
    """The settings as llama.cpp applies them: a layer count for "all", and auto flash attention decided."""
    ngl = setup.n_gpu_layers
    ngl = n_layer + 1 if ngl is None else min(ngl, n_layer + 1)
    fa = FlashAttn.ON if setup.flash_attn.fused else FlashAttn.OFF
    return replace(setup, n_gpu_layers=ngl, flash_attn=fa)


def settings_dict(setup: RunSettings) -> dict[str, Any]:
    """The estimate's settings in the JSON shape `fit --json` has always printed (flash_attn as a bool)."""
    d = setup.to_dict()
    d["flash_attn"] = setup.flash_attn.fused
    d.pop("n_threads", None)
    return d


# --- the model's shape ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs from a model: dimensions, and weight bytes per placement unit."""

    name: str
    architecture: str
    graph: GraphShape
    n_ctx_train: int | None
    n_swa: int
    input_bytes: int  # token embeddings and other input-layer tensors: always on the host
    output_bytes: int  # output norm and head
    tied_copy_bytes: int  # tied embeddings: the copy of the embedding matrix a GPU output layer needs
    other_bytes: int  # tensors outside any layer that are neither (rope factors...): host
    layer_bytes: tuple[int, ...]
    expert_bytes: int  # all routed-expert weights (for MoE decode speed)
    parameters: int

    @property
    def n_layer(self) -> int:
        return self.graph.n_layer

    @property
    def tied_output(self) -> bool:
        return self.tied_copy_bytes > 0

    @property
    def weights_bytes(self) -> int:
        """The file's weights once each (what the host maps when nothing is offloaded)."""
        return self.input_bytes + self.output_bytes + self.other_bytes + sum(self.layer_bytes)

    @property
    def active_bytes_per_token(self) -> int:
        """Bytes read per generated token: all weights but the unused experts."""
        g = self.graph
        unused = self.expert_bytes * (g.n_expert - g.n_expert_used) / g.n_expert if g.n_expert else 0
        # the input layer is a row lookup, not a read of the whole matrix
        return int(self.weights_bytes - self.input_bytes - unused)


def _is_output(t: TensorEntry) -> bool:
    return t.layer is None and (t.name.startswith("output") or t.role == "output")


def _is_input(t: TensorEntry) -> bool:
    return t.layer is None and (t.role == "embeddings" or t.name.startswith(("token_embd", "position_embd")))


def _dim(params: int, *others: int) -> int:
    div = 1
    for o in others:
        div *= o
    return params // div if div else 0


def model_shape(profile: ModelProfile, swa_pattern: int | list[bool] | None = None) -> ModelShape:
    """Read the dimensions the estimate needs; MemoryEstimateError if the file lacks them."""
    if profile.format != "gguf":
        raise MemoryEstimateError(
            f"The memory estimate follows llama.cpp, which runs GGUF files; this is a {profile.format} model.",
            "Pick the GGUF version of the model, or size it with the engine that runs this format.",
        )
    needed = {
        "block_count": profile.block_count,
        "embedding_length": profile.embedding_length,
        "head_count": profile.head_count,
    }
    missing = [k for k, v in needed.items() if not v]
    if missing or not profile.tensors:
        raise MemoryEstimateError(
            f"{profile.display_name} does not say its {', '.join(missing) or 'tensors'}, so its memory cannot "
            "be estimated.",
            "The file may be incomplete or of an architecture Quant Doctor does not know; try another file.",
        )
    n_layer, n_embd = int(profile.block_count or 0), int(profile.embedding_length or 0)
    n_head = int(profile.head_count or 0)
    n_head_kv = int(profile.head_count_kv or n_head)
    head_k = int(profile.key_length or n_embd // n_head)
    head_v = int(profile.value_length or head_k)
    by_name = {t.name: t for t in profile.tensors}
    layer_bytes = [0] * n_layer
    input_b = output_b = other_b = expert_b = 0
    for t in profile.tensors:
        if t.layer is not None and 0 <= t.layer < n_layer:
            layer_bytes[t.layer] += t.bytes
            if t.role == "experts":
                expert_b += t.bytes
        elif _is_input(t):
            input_b += t.bytes
        elif _is_output(t):
            output_b += t.bytes
        else:
            other_b += t.bytes
    embd = by_name.get("token_embd.weight")
    tied_copy = embd.bytes if embd is not None and "output.weight" not in by_name else 0
    n_vocab = profile.vocab_size or (_dim(embd.parameters, n_embd) if embd else 0)
    n_ff = profile.feed_forward_length or _dim(_params(by_name, "blk.0.ffn_up.weight"), n_embd)
    n_expert, n_used = profile.expert_count, profile.expert_used_count or (1 if profile.expert_count else 0)
    n_ff_exp = _dim(_params(by_name, "blk.0.ffn_up_exps.weight"), n_embd, n_expert) if n_expert else 0
    if n_expert and not n_ff_exp:
        n_ff_exp = n_ff
    n_ff_shexp = _dim(_params(by_name, "blk.0.ffn_up_shexp.weight"), n_embd)
    arch = profile.architecture or "unknown"
    n_swa = profile.sliding_window or SWA_DEFAULT_WINDOW.get(arch, 0)
    swa = _swa_layers(arch, n_layer, n_swa, swa_pattern)
    graph = GraphShape(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=head_k,
        head_dim_v=head_v,
        n_ff=n_ff or 4 * n_embd,
        n_vocab=n_vocab,
        n_expert=n_expert,
        n_expert_used=n_used,
        n_ff_exp=n_ff_exp,
        n_ff_shexp=n_ff_shexp,
        swa_layers=swa,
    )
    return ModelShape(
        name=profile.display_name,
        architecture=arch,
        graph=graph,
        n_ctx_train=profile.context_length,
        n_swa=n_swa if any(swa) else 0,
        input_bytes=input_b,
        output_bytes=output_b,
        tied_copy_bytes=tied_copy,
        other_bytes=other_b,
        layer_bytes=tuple(layer_bytes),
        expert_bytes=expert_b,
        parameters=profile.parameters,
    )


def _params(by_name: dict[str, TensorEntry], name: str) -> int:
    t = by_name.get(name)
    return t.parameters if t else 0


def _swa_layers(arch: str, n_layer: int, n_swa: int, pattern: int | list[bool] | None) -> tuple[bool, ...]:
    if not n_swa:
        return ()
    if isinstance(pattern, list):
        return tuple(bool(x) for x in pattern[:n_layer])
    n = pattern if isinstance(pattern, int) else SWA_PATTERN.get(arch)
    if n is None:
        return ()  # llama.cpp ignores the window for this architecture: every layer holds the full context
    return tuple(n == 0 or (il % n) < (n - 1) for il in range(n_layer))


def read_swa_pattern(profile: ModelProfile) -> int | list[bool] | None:
    """`{arch}.attention.sliding_window_pattern` from the file, when it has one."""
    if profile.format != "gguf" or not profile.architecture:
        return None
    from core.model.gguf_reader import read_gguf_header

    try:
        value = read_gguf_header(profile.path).get(f"{profile.architecture}.attention.sliding_window_pattern")
    except Exception:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and all(isinstance(v, bool | int) for v in value):
        return [bool(v) for v in value]
    return None


# --- the parts ------------------------------------------------------------------------------------


def swa_cells(shape: ModelShape, setup: RunSettings) -> int:
    """llama_kv_cache_iswa: the SWA cache holds the window plus one micro-batch, padded to 256."""
    n = cells(setup)
    if not shape.n_swa or setup.swa_full:
        return n
    return pad(min(n, shape.n_swa + _ubatch(setup)))


def kv_layer_bytes(shape: ModelShape, setup: RunSettings, layer: int) -> int:
    g = shape.graph
    swa = layer < len(g.swa_layers) and g.swa_layers[layer]
    n = swa_cells(shape, setup) if swa else cells(setup)
    k = row_bytes(setup.cache_type_k, g.head_dim_k * g.n_head_kv)
    v = row_bytes(setup.cache_type_v, g.head_dim_v * g.n_head_kv)
    return (k + v) * n


def kv_bytes(shape: ModelShape, setup: RunSettings) -> int:
    return sum(kv_layer_bytes(shape, setup, il) for il in range(shape.n_layer))


def _batch(setup: RunSettings) -> int:
    return min(cells(setup), setup.n_batch)


def _ubatch(setup: RunSettings) -> int:
    return min(_batch(setup), setup.n_ubatch)


def graph_setups(shape: ModelShape, setup: RunSettings) -> list[GraphSetup]:
    """sched_reserve's reservations: prompt processing (n_ubatch tokens), then one token."""
    fa = setup.flash_attn.fused
    quant_k = setup.cache_type_k not in ("f32", "f16", "bf16")
    quant_v = setup.cache_type_v not in ("f32", "f16", "bf16")
    rot_k = quant_k and shape.graph.head_dim_k % 64 == 0
    rot_v = quant_v and shape.graph.head_dim_v % 64 == 0
    n_tok = _ubatch(setup)
    n_kv, n_kv_swa = cells(setup), swa_cells(shape, setup)
    return [
        GraphSetup(n_tok, min(n_tok, _batch(setup)), n_kv, n_kv_swa, fa, rot_k, rot_v),
        GraphSetup(1, 1, n_kv, n_kv_swa, fa, rot_k, rot_v),
    ]


@lru_cache(maxsize=512)
def _reserve(shape: GraphShape, setup: GraphSetup) -> int:
    return compute_buffer_bytes(shape, setup, CPU_ALIGNMENT)


def compute_graph_bytes(shape: ModelShape, setup: RunSettings) -> int:
    """The compute buffer llama.cpp reserves: the larger of its two reservations."""
    return max(_reserve(shape.graph, gs) for gs in graph_setups(shape, setup))


@lru_cache(maxsize=512)
def _inputs(shape: GraphShape, setup: GraphSetup) -> int:
    return input_bytes(shape, setup)


def graph_input_bytes(shape: ModelShape, setup: RunSettings) -> int:
    """What stays on the host when every layer is offloaded: the inputs and the embeddings lookup."""
    gs = graph_setups(shape, setup)[0]
    return _inputs(shape.graph, gs) + shape.graph.n_embd * gs.n_tokens * 4


def output_buffer_bytes(shape: ModelShape) -> int:
    """llama_context's output buffer: one row of logits per sequence (n_seq_max = 1)."""
    return shape.graph.n_vocab * 4


# --- placement ------------------------------------------------------------------------------------


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


# --- the estimate -----------------------------------------------------------------------------------


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
    devs = layer_devices(shape.n_layer, ngl, gpus) if gpus else [-1] * (shape.n_layer + 1)
    host = DeviceUsage("host", "host", "cpu", overhead_bytes=RUNTIME_OVERHEAD_BYTES["cpu"])
    host.available_bytes = hardware.ram.available_bytes
    usage = [
        DeviceUsage(
            _backend_name(g, i), "gpu", g.backend, overhead_bytes=RUNTIME_OVERHEAD_BYTES.get(g.backend, 512 * MIB),
            available_bytes=g.available_bytes, bandwidth_gbps=g.bandwidth_gbps,
        )
        for i, g in enumerate(gpus)
    ]  # fmt: skip

    def at(device: int) -> DeviceUsage:
        return host if device < 0 else usage[device]

    host.weights_bytes += shape.input_bytes + shape.other_bytes
    out_dev = at(devs[shape.n_layer])
    out_dev.holds_output = True
    out_dev.weights_bytes += shape.output_bytes
    if out_dev is not host:
        out_dev.weights_bytes += shape.tied_copy_bytes  # on the host the embedding matrix serves as both
    for il in range(shape.n_layer):
        d = at(devs[il])
        d.weights_bytes += shape.layer_bytes[il]
        d.kv_bytes += kv_layer_bytes(shape, s, il)  # offload_kqv: the KV cache follows its layer
        d.layers += 1
    graph = compute_graph_bytes(shape, s)
    host_layers = [il for il in range(shape.n_layer) if devs[il] < 0]
    notes: list[str] = []
    for d in usage:
        if d.layers or d.holds_output:
            # the embeddings input the graph never reads stays on the host
            d.compute_bytes = graph - shape.graph.n_embd * _ubatch(s) * 4
            if host_layers and _ubatch(s) >= OP_OFFLOAD_MIN_BATCH:
                # prompt batches run host layers' matrix products on the GPU, copying their weights in
                d.compute_bytes += max(shape.layer_bytes[il] for il in host_layers)
        else:
            d.overhead_bytes = 0  # llama.cpp never touches a GPU that holds nothing
    # the host runs the whole graph when layers stay on it (conservative: prompt batches move their matrix
    # products to the GPU); with everything offloaded it only holds the inputs
    host_graph = graph if host_layers or not usage else graph_input_bytes(shape, s)
    host.compute_bytes = host_graph + output_buffer_bytes(shape)
    if usage and host_layers:
        notes.append(
            f"{len(host_layers)} of {shape.n_layer} layers run on the CPU: their KV cache and attention stay in "
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


# --- searches and alternatives ---------------------------------------------------------------------


def gpu_fits(est: MemoryEstimate) -> bool:
    return all(d.fits for d in est.gpus)


def max_context(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile, cap: int | None = None) -> int:
    """The largest context (a multiple of 256) that fits every device; 0 if none does."""
    limit = pad(cap or shape.n_ctx_train or 131072)
    if estimate(shape, replace(setup, n_ctx=limit), hardware).fits:
        return limit
    lo, hi = 0, limit // KV_CELL_PADDING  # in units of 256 cells; lo fits (or is 0), hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if estimate(shape, replace(setup, n_ctx=mid * KV_CELL_PADDING), hardware).fits:
            lo = mid
        else:
            hi = mid
    return lo * KV_CELL_PADDING


def max_gpu_layers(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile) -> int:
    """The largest -ngl whose GPU share fits (n_layer + 1 = everything, 0 = CPU only)."""
    if not hardware.usable_gpus:
        return 0
    lo, hi = 0, shape.n_layer + 1
    if gpu_fits(estimate(shape, replace(setup, n_gpu_layers=hi), hardware)):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if gpu_fits(estimate(shape, replace(setup, n_gpu_layers=mid), hardware)):
            lo = mid
        else:
            hi = mid
    return lo


def decode_seconds_per_token(shape: ModelShape, est: MemoryEstimate, host_gbps: float) -> float:
    """Memory-bound decode: each device reads its share of the active weights once per token."""
    return sum(seconds for _, _, seconds in _reads(shape, est, host_gbps))


def _reads(shape: ModelShape, est: MemoryEstimate, host_gbps: float) -> list[tuple[str, float, float]]:
    """(device, GB read per token, seconds) for each device holding weights."""
    matrices = max(shape.weights_bytes - shape.input_bytes, 1)
    scale = shape.active_bytes_per_token / matrices  # < 1 for MoE: unused experts are not read
    out = []
    for d in est.devices:
        read = (d.weights_bytes - (shape.input_bytes if d.kind == "host" else 0)) * scale
        if read <= 0:
            continue
        gbps = d.bandwidth_gbps or host_gbps
        out.append((d.device, read / 1e9, read / (gbps * 1e9)))
    return out


def host_bandwidth(hardware: HardwareProfile) -> float:
    """RAM bandwidth: the GPU's own figure on unified-memory machines, else a desktop default."""
    unified = [g.bandwidth_gbps for g in hardware.gpus if g.unified_memory and g.bandwidth_gbps]
    return max(unified) if unified else DEFAULT_HOST_BANDWIDTH_GBPS


@dataclass
class Alternative:
    label: str
    settings: dict[str, Any]
    fits: bool
    gpu_bytes: int  # the fullest GPU's total
    host_bytes: int
    tokens_per_s: float | None = None
    slowdown: float | None = None  # compared with everything on the GPU(s)
    arithmetic: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FitReport:
    """An estimate plus the answers around it: the largest context and GPU layers that fit, and fixes."""

    estimate: MemoryEstimate
    shape: ModelShape
    max_context: int
    max_gpu_layers: int
    alternatives: list[Alternative] = field(default_factory=list)
    upgrade: Any = None  # core.memory.upgrade.UpgradeAdvice, filled by the caller when nothing reasonable fits

    @property
    def fits(self) -> bool:
        return self.estimate.fits

    def to_dict(self) -> dict[str, Any]:
        d = self.estimate.to_dict()
        d.update(
            max_context=self.max_context,
            n_gpu_layers=self.estimate.setup.n_gpu_layers,
            max_gpu_layers=self.max_gpu_layers,
            alternatives=[a.to_dict() for a in self.alternatives],
            upgrade=self.upgrade.to_dict() if self.upgrade is not None else None,
        )
        return d


def gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def kv_arithmetic(shape: ModelShape, setup: RunSettings) -> str:
    g = shape.graph
    k = row_bytes(setup.cache_type_k, g.head_dim_k * g.n_head_kv)
    v = row_bytes(setup.cache_type_v, g.head_dim_v * g.n_head_kv)
    text = (
        f"KV = {shape.n_layer} layers x {cells(setup)} cells x ({g.head_dim_k * g.n_head_kv} x "
        f"{cache_bytes_per_element(setup.cache_type_k):g} B [{setup.cache_type_k}] + {g.head_dim_v * g.n_head_kv} x "
        f"{cache_bytes_per_element(setup.cache_type_v):g} B [{setup.cache_type_v}]) = "
        f"{gib(shape.n_layer * cells(setup) * (k + v))}"
    )
    if any(g.swa_layers):
        text += (
            f" before sliding-window layers shrink to {swa_cells(shape, setup)} cells ({gib(kv_bytes(shape, setup))})"
        )
    return text


def plan(shape: ModelShape, setup: RunSettings, hardware: HardwareProfile, with_alternatives: bool = True) -> FitReport:
    """The estimate for `setup`, the largest context and -ngl that fit, and alternatives if it does not fit."""
    est = estimate(shape, setup, hardware)
    report = FitReport(
        estimate=est,
        shape=shape,
        max_context=max_context(shape, est.setup, hardware),
        max_gpu_layers=max_gpu_layers(shape, est.setup, hardware),
    )
    if with_alternatives and not est.fits:
        report.alternatives = alternatives(shape, est, hardware)
    return report


def alternatives(shape: ModelShape, est: MemoryEstimate, hardware: HardwareProfile) -> list[Alternative]:
    s = est.setup
    host_gbps = host_bandwidth(hardware)
    full = estimate(shape, replace(s, n_gpu_layers=shape.n_layer + 1), hardware)
    full_speed = 1 / decode_seconds_per_token(shape, full, host_gbps) if hardware.usable_gpus else None
    out: list[Alternative] = []

    def add(label: str, setup: RunSettings, arithmetic: str) -> None:
        e = estimate(shape, setup, hardware)
        speed = 1 / decode_seconds_per_token(shape, e, host_gbps)
        out.append(
            Alternative(
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
                tokens_per_s=round(speed, 1),
                slowdown=round(full_speed / speed, 1) if full_speed else None,
                arithmetic=arithmetic,
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
    for label, base in (("smaller context", s), ("smaller context with a q8_0 cache", q8)):
        ctx = max_context(shape, base, hardware, cap=context(s) - 1) if context(s) > KV_CELL_PADDING else 0
        if KV_CELL_PADDING <= ctx < cells(s):  # the full context with q8_0 is the alternative above
            small = replace(base, n_ctx=ctx)
            add(f"{label}: {ctx} tokens", small, kv_arithmetic(shape, small))
    if hardware.usable_gpus:
        for label, base in (("partial offload", s), ("partial offload with a q8_0 cache", q8)):
            ngl = max_gpu_layers(shape, base, hardware)
            if 0 < ngl <= shape.n_layer:
                part = replace(base, n_gpu_layers=ngl)
                e = estimate(shape, part, hardware)
                add(f"{label}: -ngl {ngl}", part, _speed_arithmetic(shape, e, host_gbps))
    cpu = replace(s, n_gpu_layers=0)
    cpu_est = estimate(shape, cpu, HardwareProfile(ram=hardware.ram, cpu=hardware.cpu))
    add("CPU only", cpu, f"RAM needed {gib(cpu_est.host.total_bytes)}; " + _speed_arithmetic(shape, cpu_est, host_gbps))
    return out


def _speed_arithmetic(shape: ModelShape, est: MemoryEstimate, host_gbps: float) -> str:
    reads = _reads(shape, est, host_gbps)
    if not reads:
        return "no weights to read"
    parts = [f"{gb:.2f} GB at {gb / seconds:.0f} GB/s ({seconds * 1000:.1f} ms) on {dev}" for dev, gb, seconds in reads]
    total = sum(seconds for _, _, seconds in reads)
    return f"per token: {' + '.join(parts)} = {total * 1000:.1f} ms -> at most {1 / total:.1f} tokens/s"
