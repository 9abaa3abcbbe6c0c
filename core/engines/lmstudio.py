"""LM Studio: settings from its per-model config (JSON with load.fields), fixes as its own setting names.

It runs llama.cpp underneath with a 4096-token default context, so a quantized V cache without
flash attention fails to load as in llama.cpp.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from core.engines.base import (
    CARD_FORMAT,
    Change,
    CopyKind,
    Engine,
    FixBase,
    FixStep,
    NoFlashAttnCache,
    ReadsFrom,
    SettingsReader,
)
from core.engines.found import (
    Answers,
    FoundEngine,
    FoundModel,
    LiveApi,
    answer_data,
    as_dict,
    dicts,
    owned_by,
    positive_int,
    text_of,
)
from core.engines.loopback import Loopback
from core.engines.reading import read_json, setup_from
from core.errors import EngineNotFoundError, SetupError
from core.settings.run import is_quantized_cache
from core.settings.sampling import Sampling
from core.settings.setup import Setup
from core.textnum import BYTES, CONTEXT, SLOTS

# LM Studio stores per-model load settings as a list of {key, value} fields.
_LMSTUDIO_KEYS = {
    "llm.load.contextLength": "n_ctx",
    "llm.load.llama.kCacheQuantizationType": "cache_type_k",
    "llm.load.llama.vCacheQuantizationType": "cache_type_v",
    "llm.load.llama.flashAttention": "flash_attn",
    "llm.load.numGpuLayers": "n_gpu_layers",
}
# ... and its sampler in the same file's "operation" fields (lmstudio-js kvConfigToLLMPredictionConfig:
# temperature and topKSampling plain, the others {"checked": bool, "value": n}, unchecked meaning off).
_LMSTUDIO_SAMPLING = {
    "llm.prediction.temperature": "temperature",
    "llm.prediction.topKSampling": "top_k",
    "llm.prediction.topPSampling": "top_p",
    "llm.prediction.minPSampling": "min_p",
    "llm.prediction.repeatPenalty": "repeat_penalty",
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
    sampler: dict[str, Any] = {}
    operation = data.get("operation", {}).get("fields", []) if isinstance(data.get("operation"), dict) else []
    for item in operation if isinstance(operation, list) else []:
        key = item.get("key") if isinstance(item, dict) else None
        if key not in _LMSTUDIO_SAMPLING:
            continue
        val = item.get("value")
        if isinstance(val, dict):
            if not val.get("checked", True):  # off: a repeat penalty unticked is 1.0 (none)
                val = 1.0 if key == "llm.prediction.repeatPenalty" else None
            else:
                val = val.get("value")
        sampler[_LMSTUDIO_SAMPLING[key]] = val
    if sampler:
        values["sampling"] = Sampling.from_mapping(sampler, f"LM Studio config {Path(path).name}")
    values["unknown"] = unknown
    values.update(overrides)
    return setup_from(values, f"{Path(path).name}")




# --- the running engine: what its API (and process) says -------------------------------------------


def query_lm_studio(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """LM Studio: /api/v1/models (0.4+: loaded instances with context and flash attention) or /api/v0/models;
    KV cache quantization and GPU offload only in its per-model settings file on disk."""
    v1_models = a["/api/v1/models"].json_dict().get("models")
    if a["/api/v1/models"].ok and v1_models is not None and not isinstance(v1_models, list):
        e.warnings.append(f"LM Studio's /api/v1/models answered models of the wrong kind ({type(v1_models).__name__}).")
    v1 = dicts(v1_models)
    configs: dict[str, dict[str, Any]] = {}  # the loaded instance's config, by model key
    publishers: dict[str, str | None] = {}
    for m in v1:
        key = text_of(m.get("key")) or text_of(m.get("display_name")) or "model"
        instances = m.get("loaded_instances")
        if instances is not None and not isinstance(instances, list):
            e.warnings.append(f"LM Studio answered loaded_instances of the wrong kind for {key} "
                              f"({type(instances).__name__}): whether it is loaded could not be read.")  # fmt: skip
        inst = next(iter(dicts(instances)), None)
        cfg = as_dict(inst.get("config")) if inst else {}
        q = m.get("quantization")
        e.models.append(FoundModel(key, inst is not None,
                                   positive_int(cfg.get("context_length"), CONTEXT),
                                   positive_int(m.get("max_context_length"), CONTEXT),
                                   quantization=text_of(q.get("name"), 100) if isinstance(q, dict) else None,
                                   size_bytes=positive_int(m.get("size_bytes"), BYTES)))  # fmt: skip
        publishers.setdefault(key, text_of(m.get("publisher"), 200))
        if inst is not None:
            configs.setdefault(key, cfg)
        if inst is not None and isinstance(cfg.get("flash_attention"), bool):
            slots = positive_int(cfg.get("parallel"), SLOTS) or 1
            e.facts.append(f"{key}: flash attention {'on' if cfg['flash_attention'] else 'off'}, "
                           f"{slots} parallel slot(s)")  # fmt: skip
    if not v1:
        for d in answer_data(a, "/api/v0/models"):
            ident = text_of(d.get("id"))
            if ident is None:
                continue
            e.models.append(FoundModel(ident, d.get("state") == "loaded", None,
                                       positive_int(d.get("max_context_length"), CONTEXT),
                                       quantization=text_of(d.get("quantization"), 100)))  # fmt: skip
            publishers[ident] = text_of(d.get("publisher"), 200)
        e.missing.append("This LM Studio (before 0.4) does not report the loaded context length.")
    target = next((m for m in e.models if m.name == want), None) if want else e.loaded
    if want and target is None:
        raise EngineNotFoundError(f"LM Studio has no model called '{want}'.", "Give the model's key as lmstudio:KEY.")
    if target is None:
        e.missing.append("No model is loaded in LM Studio: load one, or name it (lmstudio:KEY).")
        return
    values: dict[str, Any] = {"engine": "lm-studio", "source": f"LM Studio at {e.url}", "unknown": []}
    target.path, why_not = _lm_studio_file(target, publishers.get(target.name))
    if why_not:
        e.missing.append(why_not)
    saved = _lm_studio_config(Path(target.path)) if target.path else None
    if saved is not None:
        imported = from_lmstudio(saved)
        values.update({k: v for k, v in imported.to_dict().items() if k in ("cache_type_k", "cache_type_v", "ctx",
                                                                               "flash_attn", "n_gpu_layers")})  # fmt: skip
        e.facts.append(f"per-model settings file: {saved}")
    else:
        e.missing.append("LM Studio's API does not report the KV cache quantization or the GPU offload; they are in "
                         "its per-model settings (~/.lmstudio/.internal/user-concrete-model-default-config), not found "
                         "for this model — import its developer log to read them.")  # fmt: skip
    if target.context:
        values["ctx"] = target.context
    cfg = configs.get(target.name, {})
    if isinstance(cfg.get("flash_attention"), bool):
        values["flash_attn"] = cfg["flash_attention"]
    if target.path:
        values["model_path"] = target.path
    e.setup = Setup.of(**values)


def _lm_studio_home() -> Path:
    return Path.home() / ".lmstudio"


MAX_CANDIDATES = 2000  # model files looked at under ~/.lmstudio/models


def _lm_studio_file(model: FoundModel, publisher: str | None) -> tuple[str | None, str | None]:
    """The one file LM Studio loaded for `model`, or (None, why not). A model key names a repository, not a
    file: the folder of `llama-3.2-3b-instruct` can hold its Q8_0 and its IQ2_XXS side by side. So a file is
    taken only when what LM Studio said pins it down: its exact size in bytes (`size_bytes`, 0.4+) or, where
    no size is given, its quantization as a whole word of the file name; otherwise none is guessed."""
    root = _lm_studio_home() / "models"
    stem = model.name.lower().rsplit("/", 1)[-1].partition("@")[0]
    try:
        if not root.is_dir() or not stem:
            return None, None
        found = [p for p in itertools.islice(root.glob("*/*/*.gguf"), MAX_CANDIDATES)
                 if stem in p.name.lower() or stem in p.parent.name.lower()]  # fmt: skip
    except OSError:
        return None, f"LM Studio's models folder ({root}) could not be read: the model file was not looked for."
    if publisher:
        found = [p for p in found if p.parent.parent.name.lower() == publisher.lower()] or found
    if not found:
        return None, None
    if model.size_bytes:
        same = [p for p in found if _size(p) == model.size_bytes]
        if len(same) == 1:
            return str(same[0]), None
        how = f"{model.size_bytes:,} bytes"
    else:
        quant = (model.quantization or "").lower()
        same = [p for p in found if quant and quant in re.split(r"[^a-z0-9_]+", p.stem.lower().replace("-", " "))]
        if len(same) == 1:
            return str(same[0]), None
        how = f"quantization {model.quantization}" if model.quantization else "no size or quantization"
    names = ", ".join(sorted(p.name for p in found)[:4]) + (" …" if len(found) > 4 else "")
    return None, (f"LM Studio's answer ({how}) does not pin down which file of {model.name} it loaded "
                  f"({len(same) if same else 'none'} of {len(found)} match: {names}): open the model file yourself, "
                  "so the diagnosed file is the one LM Studio runs.")  # fmt: skip


def _size(p: Path) -> int | None:
    try:
        return p.stat().st_size
    except OSError:
        return None


def _lm_studio_config(model_file: Path) -> Path | None:
    """The per-model settings LM Studio keeps for exactly this file: the same <publisher>/<repo>/<file>
    path under .internal/user-concrete-model-default-config, with .json added."""
    models = _lm_studio_home() / "models"
    try:
        rel = model_file.relative_to(models)
    except ValueError:
        return None
    p = _lm_studio_home() / ".internal" / "user-concrete-model-default-config" / rel.parent / (rel.name + ".json")
    try:
        return p if p.is_file() else None
    except OSError:
        return None


# The names LM Studio's model load settings and inference settings show (0.3.x/0.4.x), as people copy
# them out of its window, e.g. "Flash Attention: ON · K Cache Quantization Type: Q8_0 · V Cache
# Quantization Type: Q8_0 · GPU Offload: Max" and "RoPE Frequency Base: Auto"; they label the load
# config keys llm.load.contextLength, llm.load.llama.kCacheQuantizationType / vCacheQuantizationType,
# llm.load.llama.flashAttention, llm.load.numGpuLayers (lmstudio-js LLMLoadModelConfig: contextLength,
# llamaKCacheQuantizationType, flashAttention, ropeFrequencyBase; read with the search tool).
SETTING_NAMES = {
    "n_ctx": "Context Length",
    "n_gpu_layers": "GPU Offload",
    "flash_attn": "Flash Attention",
    "cache_type_k": "K Cache Quantization Type",
    "cache_type_v": "V Cache Quantization Type",
    "temperature": "Temperature",
    "repeat_penalty": "Repeat Penalty",
    "stop": "Stop Strings",
}


def _cache_value(cache: str) -> str:
    """LM Studio shows a quantized cache by its type (Q8_0) and an unquantized one as the setting off."""
    return cache.upper() if is_quantized_cache(cache) else "Off"


def spell(change: Change, base: FixBase) -> list[FixStep]:
    load: list[str] = []
    if change.n_ctx is not None:
        load.append(f"{SETTING_NAMES['n_ctx']}: {change.n_ctx}")
    if change.n_gpu_layers is not None:
        load.append(f"{SETTING_NAMES['n_gpu_layers']}: {change.n_gpu_layers}")
    if change.flash_attn is not None:
        load.append(f"{SETTING_NAMES['flash_attn']}: {'On' if change.flash_attn else 'Off'}")
    if change.cache_type_k is not None:
        load.append(f"{SETTING_NAMES['cache_type_k']}: {_cache_value(change.cache_type_k)}")
    if change.cache_type_v is not None:
        load.append(f"{SETTING_NAMES['cache_type_v']}: {_cache_value(change.cache_type_v)}")
    if change.rope_none:
        load += ["RoPE Frequency Base: Auto", "RoPE Frequency Scale: Auto"]
    steps: list[FixStep] = []
    if load:
        steps.append(
            FixStep(
                f"Set {change.words()} in LM Studio: My Models → the model's gear (load settings), then reload "
                "the model.",
                "\n".join(load),
                CopyKind.SETTING,
            )
        )
    infer: list[str] = []
    if change.temperature is not None:
        infer.append(f"{SETTING_NAMES['temperature']}: {change.temperature:g}")
    if change.repeat_penalty is not None:
        infer.append(f"{SETTING_NAMES['repeat_penalty']}: {change.repeat_penalty:g}")
    if change.stop is not None:
        infer.append(f"{SETTING_NAMES['stop']}: {change.stop}")
    if infer:
        steps.append(
            FixStep(
                f"Set {change.words()} in LM Studio's inference settings for the model (the chat's right panel).",
                "\n".join(infer),
                CopyKind.SETTING,
            )
        )
    if change.jinja and change.chat_template is None:
        steps.append(FixStep("Send the BOS token once: remove the BOS text from the start of the Prompt "
                             "Template's 'Before System' field."))  # fmt: skip
    return steps




def recognise(a: Answers) -> bool:
    """LM Studio: its own REST API's model fields, or "organization_owner" as the models' owner."""
    v0 = answer_data(a, "/api/v0/models")
    v1 = a["/api/v1/models"].json_dict().get("models")
    if any("compatibility_type" in d or "state" in d for d in v0) or (
        isinstance(v1, list) and any(isinstance(m, dict) and "loaded_instances" in m for m in v1)
    ):
        return True
    return "organization_owner" in owned_by(a)


ENGINE = Engine(
    id="lm-studio",
    name="LM Studio",
    default_ctx=4096,
    without_flash_attn=NoFlashAttnCache.REFUSES,
    without_flash_attn_note="llama.cpp refuses a quantized V cache without flash attention: the model will not load",
    live=(LiveApi(
        "lm-studio", "LM Studio", (1234,), query_lm_studio, ("lmstudio",), recognise,
        ("/api/v0/models", "/api/v1/models", "/v1/models"), precedence=50,
        programs=("lm studio", "lm-studio", "lmstudio"),
    ),),
    template_fix=lambda fmt: [
        FixStep(f"In LM Studio: My Models → the model's settings → 'Prompt Template': choose {fmt or CARD_FORMAT}.")
    ],
    spell=spell,
    readers=(
        SettingsReader(
            "lmstudio", ReadsFrom.FILE, "An LM Studio model config…", "import an LM Studio per-model config",
            from_lmstudio, file_filter="JSON (*.json)", file_title="LM Studio model config",
        ),
    ),
    log_kinds=("lm-studio",),
)
