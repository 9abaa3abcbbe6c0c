"""Ollama: settings from OLLAMA_* environment variables and a Modelfile's PARAMETER lines.

It runs llama.cpp underneath but picks its own defaults: a 4096-token context when none is set,
and a quantized KV cache without flash attention is silently dropped for f16 rather than refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.engines.base import Engine, FixStep, NoFlashAttnCache, layers_step
from core.engines.reading import read_settings_text, whole_number
from core.settings.run import FlashAttn
from core.settings.setup import Setup


def from_ollama(env: Mapping[str, str] | None = None, modelfile: str | Path | None = None, **overrides: Any) -> Setup:
    """Ollama's settings: OLLAMA_* environment variables and a Modelfile's PARAMETER lines."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {"source": "Ollama settings", "engine": "ollama"}
    unknown: list[str] = []
    kv = env.get("OLLAMA_KV_CACHE_TYPE")
    if kv:
        values["cache_type_k"] = values["cache_type_v"] = kv
    fa = env.get("OLLAMA_FLASH_ATTENTION")
    if fa is not None and fa != "":
        values["flash_attn"] = FlashAttn.ON if fa.strip().lower() in ("1", "true", "on", "yes") else FlashAttn.OFF
    ctx = env.get("OLLAMA_CONTEXT_LENGTH")
    if ctx:
        values["n_ctx"] = whole_number("OLLAMA_CONTEXT_LENGTH", ctx)
    if modelfile is not None:
        text = (
            read_settings_text(modelfile, "an Ollama Modelfile")
            if os.path.lexists(str(modelfile)) and "\n" not in str(modelfile)
            else str(modelfile)
        )
        for line in text.splitlines():
            m = re.match(r"\s*PARAMETER\s+(\S+)\s+(.+?)\s*$", line, re.IGNORECASE)
            if not m:
                continue
            key, val = m.group(1).lower(), m.group(2).strip().strip('"')
            if key == "num_ctx":
                values["n_ctx"] = whole_number("num_ctx", val)
            elif key == "num_gpu":
                values["n_gpu_layers"] = whole_number("num_gpu", val)
            elif key == "num_batch":
                values["n_batch"] = whole_number("num_batch", val)
            else:
                unknown.append(f"PARAMETER {key} {val}")
    values["unknown"] = unknown
    values.update(overrides)
    return Setup.of(**values)


def kv_cache_fix(cache: str, flash_attn: bool) -> list[FixStep]:
    steps = [FixStep("Set the KV cache type for the Ollama server, then restart it:", f"OLLAMA_KV_CACHE_TYPE={cache}")]
    if flash_attn:
        steps.append(
            FixStep(
                "A quantized cache needs flash attention; Ollama silently uses f16 without it:",
                "OLLAMA_FLASH_ATTENTION=1",
            )
        )
    return steps


ENGINE = Engine(
    id="ollama",
    name="Ollama",
    default_ctx=4096,
    without_flash_attn=NoFlashAttnCache.F16_FALLBACK,
    without_flash_attn_note=(
        "Ollama ignores a quantized cache without flash attention and silently uses f16: "
        "your cache setting is not in effect"
    ),
    kv_cache_fix=kv_cache_fix,
    context_command=lambda ctx: f"OLLAMA_CONTEXT_LENGTH={ctx}  (or PARAMETER num_ctx {ctx} in the Modelfile)",
    gpu_layers_fix=lambda n: layers_step(f"PARAMETER num_gpu {n}  (in the Modelfile)", n),
    read_settings=from_ollama,
    reads_from="Ollama's OLLAMA_* environment variables and a Modelfile",
)
