"""The same fix, said the way each engine wants it: a flag, a variable, a config key or a setting.

A fix the person cannot paste is advice, not a fix; so every fix here is the exact text for the
engine they told us they run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FixStep:
    """One thing to do; `command` is the exact text to paste (a flag, a variable, a setting)."""

    text: str
    command: str | None = None


_TABBY_CACHE = {"f16": "FP16", "q8_0": "Q8", "q4_0": "Q4"}
_KOBOLD_QUANTKV = {"f16": 0, "q8_0": 1, "q4_0": 2}


def kv_cache(engine: str, cache: str = "q8_0", flash_attn: bool = True) -> list[FixStep]:
    if engine == "ollama":
        steps = [
            FixStep("Set the KV cache type for the Ollama server, then restart it:", f"OLLAMA_KV_CACHE_TYPE={cache}")
        ]
        if flash_attn:
            steps.append(
                FixStep(
                    "A quantized cache needs flash attention; Ollama silently uses f16 without it:",
                    "OLLAMA_FLASH_ATTENTION=1",
                )
            )
        return steps
    if engine == "lm-studio":
        return [
            FixStep(
                "In LM Studio, open the model's load settings and set 'K Cache Quantization Type' and "
                f"'V Cache Quantization Type' to {cache.upper()}"
                + (", with 'Flash Attention' on." if flash_attn else ".")
            )
        ]
    if engine == "koboldcpp":
        return [
            FixStep(
                "Start koboldcpp with:",
                f"--quantkv {_KOBOLD_QUANTKV.get(cache, 1)}" + (" --flashattention" if flash_attn else ""),
            )
        ]
    if engine == "text-generation-webui":
        return [
            FixStep(
                "In the llama.cpp loader settings (or on the command line):",
                f"--cache-type {cache}" + (" --flash-attn" if flash_attn else ""),
            )
        ]
    if engine == "tabbyapi":
        return [FixStep("In TabbyAPI's config.yml, under model:", f"cache_mode: {_TABBY_CACHE.get(cache, 'Q8')}")]
    if engine == "vllm":
        return [FixStep("Let vLLM keep the model's own precision for the KV cache:", "--kv-cache-dtype auto")]
    return [
        FixStep(
            "Start llama.cpp with:",
            f"--cache-type-k {cache} --cache-type-v {cache}" + (" --flash-attn on" if flash_attn else ""),
        )
    ]


def context(engine: str, ctx: int) -> FixStep:
    text = {
        "ollama": f"OLLAMA_CONTEXT_LENGTH={ctx}  (or PARAMETER num_ctx {ctx} in the Modelfile)",
        "lm-studio": f"Context Length: {ctx} (the model's load settings)",
        "koboldcpp": f"--contextsize {ctx}",
        "text-generation-webui": f"--ctx-size {ctx}",
        "tabbyapi": f"max_seq_len: {ctx}",
        "vllm": f"--max-model-len {ctx}",
    }.get(engine, f"-c {ctx}")
    return FixStep(f"Use a context of {ctx:,} tokens:", text)


def gpu_layers(engine: str, n: int) -> FixStep:
    text = {
        "ollama": f"PARAMETER num_gpu {n}  (in the Modelfile)",
        "lm-studio": f"GPU Offload: {n} layers (the model's load settings)",
        "koboldcpp": f"--gpulayers {n}",
        "text-generation-webui": f"--gpu-layers {n}",
    }.get(engine, f"-ngl {n}")
    return FixStep(f"Put {n} layers on the GPU and the rest on the CPU:", text)
