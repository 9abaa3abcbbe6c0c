"""TabbyAPI (ExLlamaV2/V3): fixes as keys of its config.yml.

Its cache is set as a mode (FP16, Q8, Q6, Q4) rather than llama.cpp's type names.
"""

from __future__ import annotations

from typing import Any

from core.engines.base import Change, CopyKind, Engine, FixBase, FixStep, NoFlashAttnCache
from core.engines.found import (
    Answers,
    FoundEngine,
    FoundModel,
    LiveApi,
    answer_data,
    as_dict,
    owned_by,
    positive_int,
    text_of,
)
from core.engines.loopback import Loopback
from core.settings.setup import Setup
from core.textnum import CONTEXT

_CACHE_MODE = {"f16": "FP16", "q8_0": "Q8", "q4_0": "Q4"}




def spell(change: Change, base: FixBase) -> list[FixStep]:
    """Keys of config.yml's model section (config_sample.yml); ExLlama has no layer split by count."""
    lines = []
    if change.n_ctx is not None:
        lines.append(f"max_seq_len: {change.n_ctx}")
    cache = change.cache_type_v or change.cache_type_k
    if cache is not None:
        lines.append(f"cache_mode: {_CACHE_MODE.get(cache, 'Q8')}")
    steps = []
    if lines:
        what = Change(n_ctx=change.n_ctx, cache_type_k=cache, cache_type_v=cache).words()
        steps.append(FixStep(f"Set {what} in TabbyAPI's config.yml, under model:, then restart it.",
                             "\n".join(lines), CopyKind.CONFIG))  # fmt: skip
    if change.n_gpu_layers is not None:
        steps.append(FixStep("TabbyAPI keeps the whole model on the GPU: a smaller quant or a shorter "
                             "max_seq_len makes it fit (or split it over GPUs with gpu_split in config.yml)."))  # fmt: skip
    if change.temperature is not None or change.repeat_penalty is not None:
        steps.append(FixStep(f"Send {change.words()} with each request (TabbyAPI takes the sampler per request)."))
    return steps


# --- the running engine: what its API (and process) says -------------------------------------------


_TABBY_CACHE = {"FP16": "f16", "Q8": "q8_0", "Q6": "q5_1", "Q4": "q4_0"}


_TABBY_BITS = {"16": "f16", "8": "q8_0", "6": "q5_1", "5": "q5_0", "4": "q4_0", "3": "q4_0", "2": "q4_0"}


def query_tabbyapi(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """TabbyAPI: /v1/model (max_seq_len, cache_mode, cache_size); needs an API key unless auth is off."""
    card = client.get("/v1/model")
    data = card.json_dict()
    params = as_dict(data.get("parameters"))
    name = text_of(data.get("id")) or next((n for d in answer_data(a, "/v1/models") if (n := text_of(d.get("id")))),
                                           "model")  # fmt: skip
    ctx = positive_int(params.get("max_seq_len"), CONTEXT)
    e.models = [FoundModel(name, bool(data), ctx)]
    values: dict[str, Any] = {"engine": "tabbyapi", "source": f"TabbyAPI at {e.url}", "unknown": []}
    if ctx:
        values["ctx"] = ctx
    mode = text_of(params.get("cache_mode"), 100) or ""
    if mode:
        if "," in mode:
            k, _, v = mode.partition(",")
            values["cache_type_k"], values["cache_type_v"] = _TABBY_BITS.get(k.strip()), _TABBY_BITS.get(v.strip())
        else:
            values["cache_type_k"] = values["cache_type_v"] = _TABBY_CACHE.get(mode.upper())
        values = {k: v for k, v in values.items() if v is not None}
        e.facts.append(f"cache_mode {mode} (scored as llama.cpp's nearest cache type)")
    if card.status in (401, 403):
        e.missing.append("TabbyAPI wants an API key for /v1/model: its context and cache mode were not read.")
    e.missing.append("TabbyAPI does not report the model's bits per weight (the EXL2/EXL3 folder name usually does).")
    e.setup = Setup.of(**values)


def recognise(a: Answers) -> bool:
    """TabbyAPI names itself in its service info, or in the model names of its Kobold and OpenAI APIs."""
    software = a["/.well-known/serviceinfo"].json_dict().get("software")
    kobold_model = str(a["/api/v1/model"].json_dict().get("result", ""))
    return (isinstance(software, dict) and software.get("name") == "TabbyAPI") or kobold_model.startswith(
        "tabbyAPI/"
    ) or "tabbyAPI" in owned_by(a)


ENGINE = Engine(
    id="tabbyapi",
    name="TabbyAPI",
    default_ctx=None,
    # ExLlama dequantizes its Q4/Q6/Q8 cache before attention (exllamav2/attn.py, cache.get_kv_state) and
    # runs without flash-attn (SDPA or matmul attention, turboderp-org/exllamav2#493)
    without_flash_attn=NoFlashAttnCache.UNAFFECTED,
    without_flash_attn_note=(
        "TabbyAPI (ExLlama) runs a quantized cache with or without flash attention: your cache setting is in effect"
    ),
    spell=spell,
    live=(LiveApi(
        "tabbyapi", "TabbyAPI", (5000,), query_tabbyapi, ("tabby",), recognise,
        ("/.well-known/serviceinfo", "/api/v1/model", "/v1/models"), precedence=10, programs=("tabbyapi",),
    ),),
)
