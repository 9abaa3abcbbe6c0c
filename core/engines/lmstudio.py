"""LM Studio: settings from its per-model config (JSON with load.fields), fixes as its own setting names.

It runs llama.cpp underneath with a 4096-token default context, so a quantized V cache without
flash attention fails to load as in llama.cpp.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.engines.base import Engine, FixStep, NoFlashAttnCache, layers_step
from core.engines.reading import read_json, setup_from
from core.errors import SetupError
from core.settings.setup import Setup

# LM Studio stores per-model load settings as a list of {key, value} fields.
_LMSTUDIO_KEYS = {
    "llm.load.contextLength": "n_ctx",
    "llm.load.llama.kCacheQuantizationType": "cache_type_k",
    "llm.load.llama.vCacheQuantizationType": "cache_type_v",
    "llm.load.llama.flashAttention": "flash_attn",
    "llm.load.numGpuLayers": "n_gpu_layers",
}


def from_lmstudio(path: str | Path, **overrides: Any) -> Setup:
    """An LM Studio per-model config (JSON with load.fields: [{key, value}, ...])."""
    data = read_json(Path(path), "LM Studio model config")
    fields = data.get("load", {}).get("fields", []) if isinstance(data.get("load"), dict) else []
    values: dict[str, Any] = {"source": f"LM Studio config {Path(path).name}", "engine": "lm-studio"}
    unknown: list[str] = []
    for item in fields if isinstance(fields, list) else []:
        if not isinstance(item, dict):
            raise SetupError(
                f"{Path(path).name} is not an LM Studio model config (odd entry {str(item)[:80]!r}).",
                "Pick the model's config file again.",
            )
        key, val = item.get("key"), item.get("value")
        if key in _LMSTUDIO_KEYS:
            if isinstance(val, dict):  # {"checked": true, "value": "q8_0"} style toggles
                if not val.get("checked", True):
                    continue
                val = val.get("value")
            values[_LMSTUDIO_KEYS[key]] = val
        elif key:
            unknown.append(str(key))
    values["unknown"] = unknown
    values.update(overrides)
    return setup_from(values, f"{Path(path).name}")


def kv_cache_fix(cache: str, flash_attn: bool) -> list[FixStep]:
    return [
        FixStep(
            "In LM Studio, open the model's load settings and set 'K Cache Quantization Type' and "
            f"'V Cache Quantization Type' to {cache.upper()}" + (", with 'Flash Attention' on." if flash_attn else ".")
        )
    ]


ENGINE = Engine(
    id="lm-studio",
    name="LM Studio",
    default_ctx=4096,
    without_flash_attn=NoFlashAttnCache.REFUSES,
    without_flash_attn_note="llama.cpp refuses a quantized V cache without flash attention: the model will not load",
    kv_cache_fix=kv_cache_fix,
    context_command=lambda ctx: f"Context Length: {ctx} (the model's load settings)",
    gpu_layers_fix=lambda n: layers_step(f"GPU Offload: {n} layers (the model's load settings)", n),
    read_settings=from_lmstudio,
    reads_from="an LM Studio per-model config file",
)
