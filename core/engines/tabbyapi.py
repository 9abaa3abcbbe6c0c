"""TabbyAPI (ExLlamaV2/V3): fixes as keys of its config.yml.

Its cache is set as a mode (FP16, Q8, Q6, Q4) rather than llama.cpp's type names.
"""

from __future__ import annotations

from core.engines.base import Engine, FixStep, NoFlashAttnCache, layers_step

_CACHE_MODE = {"f16": "FP16", "q8_0": "Q8", "q4_0": "Q4"}


def kv_cache_fix(cache: str, flash_attn: bool) -> list[FixStep]:
    return [FixStep("In TabbyAPI's config.yml, under model:", f"cache_mode: {_CACHE_MODE.get(cache, 'Q8')}")]


ENGINE = Engine(
    id="tabbyapi",
    name="TabbyAPI",
    default_ctx=None,
    # kept as before this module existed; ExLlama's quantized caches do not need flash attention
    without_flash_attn=NoFlashAttnCache.REFUSES,
    without_flash_attn_note="llama.cpp refuses a quantized V cache without flash attention: the model will not load",
    kv_cache_fix=kv_cache_fix,
    context_command=lambda ctx: f"max_seq_len: {ctx}",
    gpu_layers_fix=lambda n: layers_step(f"-ngl {n}", n),
)
