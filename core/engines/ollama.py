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

from core import jsonfile
from core.engines.base import Change, CopyKind, Engine, FixBase, FixStep, NoFlashAttnCache, ReadsFrom, SettingsReader
from core.engines.found import (
    Answers,
    FoundEngine,
    FoundModel,
    LiveApi,
    as_dict,
    dicts,
    first_int,
    gib,
    positive_int,
    process_is,
    text_of,
    unreadable,
)
from core.engines.loopback import Loopback
from core.engines.reading import read_settings_text, whole_number
from core.errors import EngineNotFoundError
from core.settings.run import FlashAttn
from core.settings.sampling import Sampling
from core.settings.setup import Setup
from core.shells import env_lines
from core.textnum import BATCH, BYTES, CONTEXT, LAYERS, VERSION_PART, whole_or_none

# The Modelfile's sampler parameters (ollama docs/modelfile.md, "Valid Parameters and Values").
SAMPLER_PARAMETERS = ("temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty", "repeat_last_n",
                      "presence_penalty", "frequency_penalty", "mirostat", "seed")  # fmt: skip


def from_ollama(env: Mapping[str, str] | None = None, modelfile: str | Path | None = None, **overrides: Any) -> Setup:
    """Ollama's settings: OLLAMA_* environment variables and a Modelfile's PARAMETER lines."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {"source": "Ollama settings", "engine": "ollama"}
    unknown: list[str] = []
    sampler: dict[str, str] = {}
    kv = env.get("OLLAMA_KV_CACHE_TYPE")
    if kv:
        values["cache_type_k"] = values["cache_type_v"] = kv
    fa = env.get("OLLAMA_FLASH_ATTENTION")
    if fa is not None and fa != "":
        values["flash_attn"] = FlashAttn.ON if fa.strip().lower() in ("1", "true", "on", "yes") else FlashAttn.OFF
    ctx = env.get("OLLAMA_CONTEXT_LENGTH")
    if ctx:
        values["n_ctx"] = whole_number("OLLAMA_CONTEXT_LENGTH", ctx, CONTEXT)
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
                values["n_ctx"] = whole_number("num_ctx", val, CONTEXT)
            elif key == "num_gpu":
                values["n_gpu_layers"] = whole_number("num_gpu", val, LAYERS)
            elif key == "num_batch":
                values["n_batch"] = whole_number("num_batch", val, BATCH)
            elif key in SAMPLER_PARAMETERS:
                sampler[key] = val
            else:
                unknown.append(f"PARAMETER {key} {val}")
    if sampler:  # PARAMETER temperature 0.6, repeat_penalty 1.1 ... (Ollama's Modelfile reference)
        values["sampling"] = read = Sampling.from_mapping(sampler, "your Modelfile")
        unknown += [f"PARAMETER {k} {v}: not a number" for k, v in sampler.items() if getattr(read, k) is None]
    values["unknown"] = unknown
    values.update(overrides)
    return Setup.of(**values)




# --- the running engine: what its API (and process) says -------------------------------------------


def query_ollama(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """Ollama: /api/ps (loaded models, size vs size in VRAM, context), /api/show (Modelfile parameters,
    GGUF metadata), the blob on disk via the manifests; cache type and flash attention only from OLLAMA_*."""
    e.version = text_of(a["/api/version"].json_dict().get("version"), 100)
    tags = dicts(a["/api/tags"].json_dict().get("models"))
    ps_answer = client.get("/api/ps")
    ps_models = ps_answer.json_dict().get("models")
    if ps_answer.ok and ps_models is not None and not isinstance(ps_models, list):
        e.warnings.append(f"Ollama's /api/ps answered models of the wrong kind ({type(ps_models).__name__}): "
                          "which model is loaded could not be read.")  # fmt: skip
    # a model's name is text; an entry without one names nothing (ollama api/types.go ProcessModelResponse)
    loaded = {n: m for m in dicts(ps_models) if (n := text_of(m.get("name")) or text_of(m.get("model")))}
    for m in tags:
        name = text_of(m.get("name")) or text_of(m.get("model"))
        if name is None:
            continue
        details = as_dict(m.get("details"))
        running = loaded.get(name)
        e.models.append(FoundModel(
            name, running is not None, positive_int(running.get("context_length"), CONTEXT) if running else None,
            None, None, text_of(details.get("quantization_level"), 100),
            positive_int((running or m).get("size"), BYTES),  # loaded: weights + cache + buffers
            positive_int(running.get("size_vram"), BYTES) if running else None,
        ))  # fmt: skip
    for name, m in loaded.items():
        if name not in {x.name for x in e.models}:
            e.models.append(FoundModel(name, True, positive_int(m.get("context_length"), CONTEXT),
                                       size_bytes=positive_int(m.get("size"), BYTES),
                                       size_vram=positive_int(m.get("size_vram"), BYTES)))  # fmt: skip
    for fm in e.models:
        if fm.loaded and fm.size_bytes and fm.size_vram is not None and fm.size_vram < fm.size_bytes:
            share = fm.size_vram / fm.size_bytes
            e.warnings.append(
                f"{fm.name} is only {share:.0%} on the GPU ({gib(fm.size_vram)} of {gib(fm.size_bytes)}): the rest "
                "runs from system RAM, which is slow. A smaller context or quant would fit it whole."
            )
    target = want or (e.loaded.name if e.loaded else None)
    if target is None:
        e.missing.append("No model is loaded in Ollama: name one (ollama:MODEL) to read its settings.")
        return
    model = next((m for m in e.models if m.name in (target, f"{target}:latest")), None)
    if model is None:
        raise EngineNotFoundError(f"Ollama has no model called '{target}'.",
                                  "Run `ollama list` to see the names, then give one as ollama:NAME.")  # fmt: skip
    show = client.post_json("/api/show", {"model": model.name}).json_dict()
    params = _ollama_parameters(text_of(show.get("parameters"), 1 << 20) or "")
    info = as_dict(show.get("model_info"))
    arch = text_of(info.get("general.architecture"), 100)
    model.n_ctx_train = positive_int(info.get(f"{arch}.context_length"), CONTEXT) if arch else None
    env = dict(e.process.env) if e.process and process_is(e.process, "ollama") else {}
    model.path = ollama_blob(model.name, env, text_of(show.get("modelfile"), 1 << 20) or "")
    values: dict[str, Any] = {"engine": "ollama", "source": f"Ollama at {e.url}", "unknown": []}
    num_ctx = (
        model.context
        or positive_int(first_int(params.get("num_ctx"), CONTEXT), CONTEXT)
        or positive_int(first_int(env.get("OLLAMA_CONTEXT_LENGTH"), CONTEXT), CONTEXT)
    )
    if num_ctx:
        values["n_ctx"] = num_ctx
    if model.context:
        e.facts.append(f"{model.name} runs with {model.context:,} tokens of context (/api/ps)")
    if "num_ctx" in params:
        e.facts.append(f"its Modelfile sets num_ctx {params['num_ctx'][0]}")
    if (gpu := first_int(params.get("num_gpu"), LAYERS)) is not None:
        values["n_gpu_layers"] = gpu
    if env.get("OLLAMA_KV_CACHE_TYPE") is not None:
        values["cache_type_k"] = values["cache_type_v"] = env["OLLAMA_KV_CACHE_TYPE"] or "f16"
        e.facts.append(
            f"OLLAMA_KV_CACHE_TYPE={env['OLLAMA_KV_CACHE_TYPE'] or '(unset: f16)'} in the server's environment"
        )
    else:
        e.missing.append("Ollama's API does not report the KV cache type; it is set by OLLAMA_KV_CACHE_TYPE in the "
                         "server's environment" + unreadable(e) + " — import the server log to read it.")  # fmt: skip
    if env.get("OLLAMA_FLASH_ATTENTION") is not None:
        values["flash_attn"] = FlashAttn.ON if env["OLLAMA_FLASH_ATTENTION"].lower() in ("1", "true") else FlashAttn.OFF
    else:
        e.missing.append("Ollama's API does not report flash attention; it is set by OLLAMA_FLASH_ATTENTION"
                         + unreadable(e) + " — import the server log to read it.")  # fmt: skip
    if not model.context and "num_ctx" not in params and "OLLAMA_CONTEXT_LENGTH" not in env:
        e.missing.append("The model is not loaded and sets no num_ctx: it will get Ollama's default context "
                         "(4096 tokens in most versions, more on large GPUs since 0.15.5).")  # fmt: skip
    if "stop" in params:
        e.facts.append(f"stop strings: {', '.join(params['stop'])}")
    values["sampling"] = Sampling.from_mapping({k: v[0] for k, v in params.items()}, "Ollama Modelfile")
    if model.path:
        values["model_path"] = model.path
    e.setup = Setup.of(**values)


def _ollama_parameters(text: str) -> dict[str, list[str]]:
    """/api/show `parameters`: one `key<padding>value` line per value, strings in Go %#v quotes."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out.setdefault(key, []).append(value)
    return out


_DIGEST = re.compile(r"^sha256[:-]([0-9a-fA-F]{64})$")


def ollama_models_dirs(env: dict[str, str] | None = None, home: Path | None = None) -> list[Path]:
    """Where Ollama keeps models: $OLLAMA_MODELS, ~/.ollama/models, the Linux service's home (docs/faq.md)."""
    env = env or {}
    dirs = [Path(p) for p in (env.get("OLLAMA_MODELS"), os.environ.get("OLLAMA_MODELS")) if p]
    dirs += [(home or Path.home()) / ".ollama" / "models", Path("/usr/share/ollama/.ollama/models")]
    return list(dict.fromkeys(dirs))


def ollama_blob(name: str, env: dict[str, str], modelfile: str, home: Path | None = None) -> str | None:
    """The GGUF of an Ollama model: manifests/<host>/<namespace>/<model>/<tag> -> the image.model layer's blob."""
    for folder in ollama_models_dirs(env, home):
        manifest = folder / "manifests" / Path(*ollama_name_parts(name))
        try:  # a regular file only (a FIFO is refused, not waited on), through the bounded loader
            data = jsonfile.load(manifest, "Ollama manifest", EngineNotFoundError, max_bytes=1 << 20)
        except EngineNotFoundError:
            continue
        layers = data.get("layers") if isinstance(data, dict) else None
        for layer in layers if isinstance(layers, list) else []:
            if isinstance(layer, dict) and layer.get("mediaType") == "application/vnd.ollama.image.model":
                m = _DIGEST.match(str(layer.get("digest", "")))
                blob = folder / "blobs" / f"sha256-{m.group(1)}" if m else None
                if blob is not None and blob.is_file():
                    return str(blob)
    m = re.search(r"^FROM (\S+)", modelfile, re.MULTILINE)  # the server's own path, if it is readable here
    if m and Path(m.group(1)).is_file():
        return m.group(1)
    return None


def ollama_name_parts(name: str) -> tuple[str, str, str, str]:
    """server/modelpath.go defaults: registry.ollama.ai / library / <model> / latest."""
    base, _, tag = name.partition(":")
    parts = base.split("/")
    host, namespace = "registry.ollama.ai", "library"
    if len(parts) == 3:
        host, namespace, model = parts
    elif len(parts) == 2:
        namespace, model = parts
    else:
        model = parts[0]
    return host, namespace, model, tag or "latest"


# The Modelfile TEMPLATE for the formats whose Go template is short enough to paste.
_CHATML_TEMPLATE = (
    'TEMPLATE """{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
    '{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"""'
)


def template_fix(format_name: str | None) -> list[FixStep]:
    fmt = format_name or "the model's own"
    if format_name == "ChatML":
        return [
            FixStep(
                "Give the model its ChatML template: put these lines in its Modelfile, then run `ollama create` "
                "with that Modelfile again.",
                _CHATML_TEMPLATE,
                CopyKind.MODELFILE,
            )
        ]
    return [
        FixStep(
            f'Give the model its {fmt} template: copy it from the model card into a TEMPLATE """...""" block of '
            "its Modelfile, then run `ollama create` with that Modelfile again."
        )
    ]


# How the server picks up new variables (docs/faq.md, "How do I configure Ollama server?"): the Windows and
# macOS apps read them only when they start; on Linux the systemd service is restarted.
_RESTART = {
    "windows": "quit Ollama from the taskbar and start it again (the lines with setx keep the setting).",
    "macos": "quit the Ollama app and open it again.",
    "linux": "restart it.",
}

# Ollama takes one cache type for K and V (OLLAMA_KV_CACHE_TYPE: f16, q8_0, q4_0; docs/faq.md).
_OLLAMA_CACHES = ("f16", "q8_0", "q4_0")


def spell(change: Change, base: FixBase) -> list[FixStep]:
    """Per-model settings as Modelfile PARAMETER lines; the server-wide cache and flash attention as
    OLLAMA_* variables (docs/modelfile.md, docs/faq.md)."""
    steps: list[FixStep] = []
    params: list[str] = []
    if change.n_ctx is not None:
        params.append(f"PARAMETER num_ctx {change.n_ctx}")
    if change.n_gpu_layers is not None:
        params.append(f"PARAMETER num_gpu {change.n_gpu_layers}")
    if change.temperature is not None:
        params.append(f"PARAMETER temperature {change.temperature:g}")
    if change.repeat_penalty is not None:
        params.append(f"PARAMETER repeat_penalty {change.repeat_penalty:g}")
    if change.stop is not None:
        params.append(f'PARAMETER stop "{change.stop}"')
    if params:
        also = (
            f" For every model at once, start the server with OLLAMA_CONTEXT_LENGTH={change.n_ctx} instead."
            if change.n_ctx is not None
            else ""
        )
        what = Change(
            n_ctx=change.n_ctx,
            n_gpu_layers=change.n_gpu_layers,
            temperature=change.temperature,
            repeat_penalty=change.repeat_penalty,
            stop=change.stop,
        ).words()
        steps.append(
            FixStep(
                f"Set {what}: add these lines to the model's Modelfile, then run `ollama create` with it again.{also}",
                "\n".join(params),
                CopyKind.MODELFILE,
            )
        )
    env: list[tuple[str, str]] = []
    cache = change.cache_type_v or change.cache_type_k
    if cache is not None:
        env.append(("OLLAMA_KV_CACHE_TYPE", cache if cache in _OLLAMA_CACHES else "q8_0"))
    if change.flash_attn is not None:
        env.append(("OLLAMA_FLASH_ATTENTION", "1" if change.flash_attn else "0"))
    if env:
        why = " Without flash attention Ollama silently keeps an f16 cache." if change.flash_attn else ""
        steps.append(
            FixStep(
                f"Set {Change(cache_type_k=cache, cache_type_v=cache, flash_attn=change.flash_attn).words()} "
                f"for the Ollama server (its environment), then {_RESTART[base.terminal.system]}{why}",
                env_lines(env, base.terminal),
                CopyKind.ENV,
            )
        )
    if change.rope_none:
        steps.append(
            FixStep(
                "Run without the context extension: remove any rope_frequency_base or rope_frequency_scale "
                "PARAMETER from the Modelfile, or use a quant converted without YaRN."
            )
        )
    if change.jinja and change.chat_template is None:
        steps.append(
            FixStep(
                "Send the BOS token once: remove the BOS text (e.g. <s>, <|begin_of_text|>) from the start of "
                "the Modelfile's TEMPLATE."
            )
        )
    return steps




def default_ctx_for(version: str | None, vram_gib: float | None = None) -> tuple[int, str]:
    """Ollama's context when nothing sets num_ctx, by version (ollama PR #10364, issue #14073): 2048 up
    to 0.6.6, 4096 from 0.6.7, chosen by VRAM from 0.15.5 (4K under 24 GiB, 32K to 48 GiB, 256K above).
    Returns (context, how it was decided)."""
    parts = _version(version)
    if parts is None:
        return 4096, "Ollama's default context (4,096 tokens from 0.6.7; 2,048 before; by VRAM from 0.15.5)"
    if parts <= (0, 6, 6):
        return 2048, f"Ollama {version}'s default context"
    if parts < (0, 15, 5) or vram_gib is None:
        return 4096, f"Ollama {version}'s default context"
    ctx = 4096 if vram_gib < 24 else 32768 if vram_gib <= 48 else 262144
    return ctx, f"Ollama {version}'s default context for {vram_gib:.0f} GiB of VRAM"


def _version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    nums = []
    for part in text.strip().lstrip("v").split(".")[:3]:
        digits = "".join(ch for ch in part if "0" <= ch <= "9")  # ASCII digits only: "٣" is no version
        n = whole_or_none(digits, VERSION_PART)
        if n is None:
            return None
        nums.append(n)
    return tuple(nums) if nums else None


def recognise(a: Answers) -> bool:
    """Ollama: a version string and a list of tags."""
    tags = a["/api/tags"].json_dict().get("models")
    return isinstance(a["/api/version"].json_dict().get("version"), str) and isinstance(tags, list)


ENGINE = Engine(
    id="ollama",
    name="Ollama",
    default_ctx=4096,
    default_ctx_for=default_ctx_for,
    overflow_words="Ollama drops the front of an overflowing prompt first: the system prompt and tools go silently.",
    without_flash_attn=NoFlashAttnCache.F16_FALLBACK,
    without_flash_attn_note=(
        "Ollama ignores a quantized cache without flash attention and silently uses f16: "
        "your cache setting is not in effect"
    ),
    live=(LiveApi("ollama", "Ollama", (11434,), query_ollama, (), recognise, ("/api/version", "/api/tags"), precedence=20,
                  programs=("ollama",)),),
    template_fix=template_fix,
    spell=spell,
    readers=(
        SettingsReader(
            "ollama", ReadsFrom.ENVIRONMENT, "Ollama (environment and a Modelfile)…",
            "import Ollama's settings (OLLAMA_* variables)", lambda modelfile, **given: from_ollama(modelfile=modelfile, **given),
            file_title="The model's Modelfile (optional: Cancel to skip)", file_option="modelfile",
        ),
    ),
    log_kinds=("ollama",),
)
