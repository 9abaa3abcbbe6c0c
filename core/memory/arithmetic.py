"""The arithmetic as text: every figure Quant Doctor shows about memory carries the sum a person can check."""

from __future__ import annotations

from core.hardware.catalog import CatalogGpu
from core.hardware.machine import GIB, HardwareProfile
from core.memory.estimate import MemoryEstimate
from core.memory.parts import cells, kv_bytes, row_bytes, swa_cells
from core.memory.shape import QUANT_BPW, ModelShape
from core.memory.speed import reads
from core.settings.run import RunSettings, cache_bytes_per_element


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


def speed_arithmetic(shape: ModelShape, est: MemoryEstimate, host_gbps: float) -> str:
    per_device = reads(shape, est, host_gbps)
    if not per_device:
        return "no weights to read"
    parts = [
        f"{gb:.2f} GB at {gb / seconds:.0f} GB/s ({seconds * 1000:.1f} ms) on {dev}" for dev, gb, seconds in per_device
    ]
    total = sum(seconds for _, _, seconds in per_device)
    return f"per token: {' + '.join(parts)} = {total * 1000:.1f} ms -> at most {1 / total:.1f} tokens/s"


def card_arithmetic(
    card: CatalogGpu, count: int, quant: str, shape: ModelShape, setup: RunSettings, est: MemoryEstimate,
    tokens_per_s: float,
) -> str:  # fmt: skip
    """Why a catalog card holds the model: the GPU's parts, the card's usable memory, its decode speed."""
    fullest = max(est.gpus, key=lambda d: d.total_bytes)
    per = f"{count} x " if count > 1 else ""
    weights = sum(d.weights_bytes for d in est.gpus)
    kv = sum(d.kv_bytes for d in est.gpus)
    compute = sum(d.compute_bytes for d in est.gpus)
    overhead = sum(d.overhead_bytes for d in est.gpus)
    return (
        f"GPU weights {gib(weights)} ({quant}, {QUANT_BPW[quant]:.2f} bits x {shape.parameters / 1e9:.2f} B "
        f"parameters, token embeddings stay in RAM) + {kv_arithmetic(shape, setup)} + compute {gib(compute)} + "
        f"{card.backend.upper()} runtime {gib(overhead)} = {gib(weights + kv + compute + overhead)}"
        + (f", {gib(fullest.total_bytes)} on the fullest card" if count > 1 else "")
        + f"; {per}{card.name} has {gib(card.usable_bytes)} usable ({card.memory_gib:g} GiB nominal)"
        + f"; at {card.bandwidth_gbps:g} GB/s: about {tokens_per_s:.0f} tokens/s at most."
    )


def cpu_arithmetic(
    shape: ModelShape, est: MemoryEstimate, gbps: float, tokens_per_s: float, hw: HardwareProfile
) -> str:
    host = est.host
    return (
        f"RAM: weights {gib(host.weights_bytes)} + KV {gib(host.kv_bytes)} + compute {gib(host.compute_bytes)} + "
        f"runtime {gib(host.overhead_bytes)} = {gib(host.total_bytes)}; each token reads "
        f"{shape.active_bytes_per_token / 1e9:.2f} GB of weights at about {gbps:g} GB/s -> at most "
        f"{tokens_per_s:.1f} tokens/s"
        + ("" if hw.cpu.avx2 is not False else " (and much less: this CPU has no AVX2)")
        + "."
    )
