"""The parts of llama.cpp's memory for one (shape, settings): the settings as applied, the KV cache, the compute buffers.

Each part is a closed form or a cached replay, so that an estimate costs microseconds and the
searches and the upgrade's catalog scan can run hundreds of them:

- **KV cache**: n_layer x cells x (n_embd_k_gqa x s(type_k) + n_embd_v_gqa x s(type_v)), cells =
  the context padded to 256 (`cparams.n_ctx = GGML_PAD(n_ctx, 256)`); sliding-window layers hold
  `GGML_PAD(min(cells, n_swa + n_ubatch), 256)` cells. s(type) comes from gguf.GGML_QUANT_SIZES.
  Every full layer holds the same bytes and every sliding-window layer the same, so a run of
  layers costs two multiplications.
- **Compute buffers**: replayed exactly (core.memory.compute_graph) for the worst-case micro-batch
  that `llama_context::sched_reserve` reserves, cached per (graph shape, reservation): the weights'
  types and the placement do not change the graph, so requantized what-ifs, -ngl searches and
  catalog cards share one replay.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

import gguf

from core.errors import MemoryEstimateError
from core.memory.compute_graph import CPU_ALIGNMENT, GraphSetup, GraphShape, compute_buffer_bytes, input_bytes
from core.memory.shape import ModelShape
from core.settings.run import FlashAttn, RunSettings, is_quantized_cache

KV_CELL_PADDING = 256  # llama_context: cparams.n_ctx = GGML_PAD(cparams.n_ctx, 256)


@lru_cache(maxsize=64)
def row_bytes(cache_type: str, n: int) -> int:
    """ggml_row_size: bytes of n elements of a type (n a multiple of the block size)."""
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[cache_type.upper()]]
    return n // block * size


def pad(n: int, to: int = KV_CELL_PADDING) -> int:
    return (n + to - 1) // to * to


# --- the settings as llama.cpp applies them ---------------------------------------------------------


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
    if ngl == setup.n_gpu_layers and fa is setup.flash_attn:
        return setup
    return replace(setup, n_gpu_layers=ngl, flash_attn=fa)


def settings_dict(setup: RunSettings) -> dict[str, Any]:
    """The estimate's settings in the JSON shape `fit --json` has always printed (flash_attn as a bool)."""
    d = setup.to_dict()
    d["flash_attn"] = setup.flash_attn.fused
    d.pop("n_threads", None)
    return d


def batch(setup: RunSettings) -> int:
    return min(cells(setup), setup.n_batch)


def ubatch(setup: RunSettings) -> int:
    return min(batch(setup), setup.n_ubatch)


# --- the KV cache -----------------------------------------------------------------------------------


def swa_cells(shape: ModelShape, setup: RunSettings) -> int:
    """llama_kv_cache_iswa: the SWA cache holds the window plus one micro-batch, padded to 256."""
    n = cells(setup)
    if not shape.n_swa or setup.swa_full:
        return n
    return pad(min(n, shape.n_swa + ubatch(setup)))


def kv_cell_bytes(shape: ModelShape, setup: RunSettings) -> int:
    """One cell of one layer: a K row and a V row."""
    g = shape.graph
    return row_bytes(setup.cache_type_k, g.head_dim_k * g.n_head_kv) + row_bytes(
        setup.cache_type_v, g.head_dim_v * g.n_head_kv
    )


def kv_run_bytes(shape: ModelShape, setup: RunSettings, start: int, end: int) -> int:
    """The KV cache of layers start..end-1 (offload_kqv: the cache follows its layer)."""
    if end <= start:
        return 0
    n_swa = shape.swa_prefix[end] - shape.swa_prefix[start]
    per_cell = kv_cell_bytes(shape, setup)
    return per_cell * ((end - start - n_swa) * cells(setup) + n_swa * swa_cells(shape, setup))


def kv_bytes(shape: ModelShape, setup: RunSettings) -> int:
    return kv_run_bytes(shape, setup, 0, shape.n_layer)


# --- the compute buffers ----------------------------------------------------------------------------


def graph_setups(shape: ModelShape, setup: RunSettings) -> list[GraphSetup]:
    """sched_reserve's reservations: prompt processing (n_ubatch tokens), then one token."""
    fa = setup.flash_attn.fused
    rot_k = is_quantized_cache(setup.cache_type_k) and shape.graph.head_dim_k % 64 == 0
    rot_v = is_quantized_cache(setup.cache_type_v) and shape.graph.head_dim_v % 64 == 0
    n_tok = ubatch(setup)
    n_kv, n_kv_swa = cells(setup), swa_cells(shape, setup)
    return [
        GraphSetup(n_tok, min(n_tok, setup.n_outputs_max or batch(setup)), n_kv, n_kv_swa, fa, rot_k, rot_v),
        GraphSetup(1, 1, n_kv, n_kv_swa, fa, rot_k, rot_v),
    ]


@lru_cache(maxsize=1024)
def _reserve(shape: GraphShape, setup: GraphSetup) -> int:
    return compute_buffer_bytes(shape, setup, CPU_ALIGNMENT)


def compute_graph_bytes(shape: ModelShape, setup: RunSettings) -> int:
    """The compute buffer llama.cpp reserves: the larger of its two reservations."""
    return max(_reserve(shape.graph, gs) for gs in graph_setups(shape, setup))


@lru_cache(maxsize=1024)
def _inputs(shape: GraphShape, setup: GraphSetup) -> int:
    return input_bytes(shape, setup)


def graph_input_bytes(shape: ModelShape, setup: RunSettings) -> int:
    """What stays on the host when every layer is offloaded: the inputs and the embeddings lookup."""
    gs = graph_setups(shape, setup)[0]
    return _inputs(shape.graph, gs) + shape.graph.n_embd * gs.n_tokens * 4


def output_buffer_bytes(shape: ModelShape) -> int:
    """llama_context's output buffer: one row of logits per sequence (n_seq_max = 1)."""
    return shape.graph.n_vocab * 4


def clear_caches() -> None:
    """Forget every replayed compute buffer (benchmarks time a model opened for the first time)."""
    _reserve.cache_clear()
    _inputs.cache_clear()
