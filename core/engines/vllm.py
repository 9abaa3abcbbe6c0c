"""vLLM: fixes as its server flags. It uses the model's own context when none is set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.engines.base import Change, Engine, FixBase, FixStep, NoFlashAttnCache, layers_step
from core.engines.found import (
    Answers,
    FoundEngine,
    FoundModel,
    LiveApi,
    answer_data,
    positive_int,
)
from core.engines.loopback import Loopback
from core.engines.paste import Flag, corrected_command
from core.settings.setup import Setup


def spell(change: Change, base: FixBase) -> list[FixStep]:
    """vllm serve's flags (vllm/engine/arg_utils.py) on the command that serves the model."""
    flags: list[Flag] = []
    words = []
    if change.n_ctx is not None:
        flags.append((("--max-model-len",), [str(change.n_ctx)]))
        words.append(f"a context of {change.n_ctx:,} tokens")
    if change.cache_type_k is not None or change.cache_type_v is not None:
        flags.append((("--kv-cache-dtype",), ["auto"]))  # the model's own precision: vLLM has no q8_0 cache
        words.append("the model's own KV cache precision")
    steps: list[FixStep] = []
    if flags:
        program = ["vllm", "serve", base.model_path or "MODEL"]
        steps.append(
            FixStep(
                f"Serve the model with {', '.join(words)}:",
                corrected_command(None, program, flags, base.terminal.shell),
            )
        )
    if change.n_gpu_layers is not None:
        steps.append(FixStep("vLLM keeps the model on the GPU: a smaller quant or a shorter --max-model-len makes "
                             "it fit (--cpu-offload-gb moves some of it to RAM, slowly)."))  # fmt: skip
    if change.temperature is not None or change.repeat_penalty is not None:
        steps.append(FixStep(f"Send {change.words()} with each request (vLLM takes the sampler per request)."))
    return steps


def kv_cache_fix(cache: str, flash_attn: bool) -> list[FixStep]:
    return [FixStep("Let vLLM keep the model's own precision for the KV cache:", "--kv-cache-dtype auto")]


# --- the running engine: what its API (and process) says -------------------------------------------


def query_vllm(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """vLLM: /v1/models max_model_len and root; quantization and --kv-cache-dtype only on its command line."""
    e.version = str(a["/version"].json_dict().get("version") or "") or None
    cards = [d for d in answer_data(a, "/v1/models") if d.get("max_model_len") is not None] or answer_data(
        a, "/v1/models"
    )
    for d in cards:
        root = str(d.get("root") or "")
        e.models.append(FoundModel(str(d.get("id")), True, positive_int(d.get("max_model_len")),
                                   path=root if root and Path(root).exists() else None))  # fmt: skip
    values: dict[str, Any] = {"engine": "vllm", "source": f"vLLM at {e.url}", "unknown": []}
    if e.models and e.models[0].context:
        values["ctx"] = e.models[0].context
    if e.models and e.models[0].path:
        values["model_path"] = e.models[0].path
    e.missing.append("vLLM's API does not report the quantization or --kv-cache-dtype; they are on its command line.")
    e.setup = Setup.of(**values)


ENGINE = Engine(
    id="vllm",
    name="vLLM",
    default_ctx=None,
    # kept as before this module existed; vLLM's fp8 cache does not depend on flash attention
    without_flash_attn=NoFlashAttnCache.REFUSES,
    without_flash_attn_note="llama.cpp refuses a quantized V cache without flash attention: the model will not load",
    kv_cache_fix=kv_cache_fix,
    context_command=lambda ctx: f"--max-model-len {ctx}",
    spell=spell,
    gpu_layers_fix=lambda n: layers_step(f"-ngl {n}", n),
    live=(LiveApi("vllm", "vLLM", (8000,), query_vllm),),
)
