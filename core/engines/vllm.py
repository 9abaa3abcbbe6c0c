"""vLLM: fixes as its server flags. It uses the model's own context when none is set."""

from __future__ import annotations

from typing import Any

from core.engines.base import Change, Engine, FixBase, FixStep, NoFlashAttnCache
from core.engines.found import (
    Answers,
    FoundEngine,
    FoundModel,
    LiveApi,
    answer_data,
    exists_here,
    owned_by,
    positive_int,
    text_of,
)
from core.engines.loopback import Loopback
from core.engines.paste import Flag, corrected_command
from core.settings.setup import Setup
from core.textnum import CONTEXT


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




# --- the running engine: what its API (and process) says -------------------------------------------


def query_vllm(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """vLLM: /v1/models max_model_len and root; quantization and --kv-cache-dtype only on its command line."""
    e.version = text_of(a["/version"].json_dict().get("version"), 100)
    cards = [d for d in answer_data(a, "/v1/models") if d.get("max_model_len") is not None] or answer_data(
        a, "/v1/models"
    )
    for d in cards:
        root = text_of(d.get("root"))
        e.models.append(FoundModel(text_of(d.get("id")) or "model", True, positive_int(d.get("max_model_len"), CONTEXT),
                                   path=root if root and exists_here(root) else None))  # fmt: skip
    values: dict[str, Any] = {"engine": "vllm", "source": f"vLLM at {e.url}", "unknown": []}
    if e.models and e.models[0].context:
        values["ctx"] = e.models[0].context
    if e.models and e.models[0].path:
        values["model_path"] = e.models[0].path
    e.missing.append("vLLM's API does not report the quantization or --kv-cache-dtype; they are on its command line.")
    e.setup = Setup.of(**values)


def recognise(a: Answers) -> bool:
    """vLLM owns its models as "vllm"."""
    return "vllm" in owned_by(a)


ENGINE = Engine(
    id="vllm",
    name="vLLM",
    default_ctx=None,
    # vLLM picks an attention backend that reads its fp8 cache (FlashInfer for --kv-cache-dtype fp8,
    # vllm-project/vllm#7798): there is no flash-attention switch to get wrong
    without_flash_attn=NoFlashAttnCache.UNAFFECTED,
    without_flash_attn_note=(
        "vLLM chooses an attention backend that reads its quantized (fp8) cache: flash attention does not matter"
    ),
    spell=spell,
    live=(LiveApi("vllm", "vLLM", (8000,), query_vllm, (), recognise, ("/v1/models", "/version"), precedence=70, programs=("vllm",)),),
)
