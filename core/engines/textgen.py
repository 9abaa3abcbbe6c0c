"""text-generation-webui (oobabooga) with its llama.cpp loader: fixes as its loader flags.

Its settings live in its own UI; nothing is read from a file, the person types them.
"""

from __future__ import annotations

from core.engines.base import Engine, FixStep, NoFlashAttnCache, layers_step


def kv_cache_fix(cache: str, flash_attn: bool) -> list[FixStep]:
    return [
        FixStep(
            "In the llama.cpp loader settings (or on the command line):",
            f"--cache-type {cache}" + (" --flash-attn" if flash_attn else ""),
        )
    ]


ENGINE = Engine(
    id="text-generation-webui",
    name="text-generation-webui",
    default_ctx=None,
    without_flash_attn=NoFlashAttnCache.REFUSES,
    without_flash_attn_note="llama.cpp refuses a quantized V cache without flash attention: the model will not load",
    kv_cache_fix=kv_cache_fix,
    context_command=lambda ctx: f"--ctx-size {ctx}",
    gpu_layers_fix=lambda n: layers_step(f"--gpu-layers {n}", n),
)
