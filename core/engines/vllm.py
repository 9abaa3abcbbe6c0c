"""vLLM: fixes as its server flags. It uses the model's own context when none is set."""

from __future__ import annotations

from core.engines.base import Engine, FixStep, NoFlashAttnCache, layers_step


def kv_cache_fix(cache: str, flash_attn: bool) -> list[FixStep]:
    return [FixStep("Let vLLM keep the model's own precision for the KV cache:", "--kv-cache-dtype auto")]


ENGINE = Engine(
    id="vllm",
    name="vLLM",
    default_ctx=None,
    # kept as before this module existed; vLLM's fp8 cache does not depend on flash attention
    without_flash_attn=NoFlashAttnCache.REFUSES,
    without_flash_attn_note="llama.cpp refuses a quantized V cache without flash attention: the model will not load",
    kv_cache_fix=kv_cache_fix,
    context_command=lambda ctx: f"--max-model-len {ctx}",
    gpu_layers_fix=lambda n: layers_step(f"-ngl {n}", n),
)
