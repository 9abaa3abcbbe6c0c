"""Find the engines running on this machine and ask each what it runs: the person's settings, untyped.

People run Ollama, LM Studio, koboldcpp, text-generation-webui, TabbyAPI, vLLM or llama-server;
their running app knows its settings exactly. The scan knocks on each engine's default port (and
any the person adds) on loopback only, identifies the engine by the *shape* of its answers — not
the port: TabbyAPI answers like koboldcpp and like llama-server, and text-generation-webui shares
port 5000 with it — and turns what it reports into a `Setup`, the model file on disk where it can
be found, and a plain list of what the API does not say (with where that setting lives instead).

Every answer shape below follows the engine's own source or documentation; each fixture in
tests/fixtures/engines/<engine>/ cites the file it follows (SOURCES.md there). The whole scan takes
at most `SCAN_SECONDS`, each request at most one second, and only reads (GET, and Ollama's
read-only POST /api/show): nothing is loaded, unloaded or generated.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.engines.llamacpp import from_command
from core.engines.lmstudio import from_lmstudio
from core.engines.loopback import Answer, Loopback, parse_url, port_open
from core.engines.process import EngineProcess, engine_process
from core.errors import EngineNotFoundError, QuantDoctorError
from core.settings.run import FlashAttn, normalise_cache_type
from core.settings.sampling import Sampling
from core.settings.setup import Setup

SCAN_SECONDS = 2.0
PROBE_SECONDS = 1.0
GIB = 1024**3


@dataclass
class FoundModel:
    name: str
    loaded: bool = False
    context: int | None = None  # what one conversation gets, where the engine says
    n_ctx_train: int | None = None
    path: str | None = None  # the model file on disk, where it was found
    quantization: str | None = None
    size_bytes: int | None = None
    size_vram: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FoundEngine:
    """One engine that answered: what it is, what it runs, and what it would not say."""

    key: str  # "ollama", "llama-server", "lm-studio", "koboldcpp", "text-generation-webui", "tabbyapi", "vllm"...
    label: str
    url: str
    version: str | None = None
    models: list[FoundModel] = field(default_factory=list)
    setup: Setup | None = None  # the settings of the loaded (or asked-for) model
    facts: list[str] = field(default_factory=list)  # what its API and process said
    missing: list[str] = field(default_factory=list)  # settings its API does not report, and where they live
    warnings: list[str] = field(default_factory=list)  # worth a look (a model partly in system RAM...)
    process: EngineProcess | None = None

    @property
    def loaded(self) -> FoundModel | None:
        return next((m for m in self.models if m.loaded), None)

    @property
    def model_path(self) -> str | None:
        return self.setup.model_path if self.setup else None

    def summary(self) -> str:
        m = self.loaded
        what = (
            f"{m.name}" + (f", {m.context:,} tokens of context" if m and m.context else "") if m else "no model loaded"
        )
        return f"{self.label} at {self.url}: {what}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.key,
            "label": self.label,
            "url": self.url,
            "version": self.version,
            "models": [m.to_dict() for m in self.models],
            "setup": self.setup.to_dict() if self.setup else None,
            "facts": list(self.facts),
            "missing": list(self.missing),
            "warnings": list(self.warnings),
            "process": self.process.to_dict() if self.process else None,
        }


@dataclass
class ScanResult:
    found: list[FoundEngine]
    problems: list[str]  # ports that answered badly, in words
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"engines": [e.to_dict() for e in self.found], "problems": list(self.problems),
                "seconds": round(self.seconds, 3)}  # fmt: skip


# --- identification by shape ----------------------------------------------------------------------------

IDENTIFY_PATHS = (
    "/.well-known/serviceinfo", "/api/version", "/api/tags", "/props", "/api/extra/version", "/api/v1/model",
    "/api/v0/models", "/api/v1/models", "/v1/internal/model/info", "/v1/models", "/version",
)  # fmt: skip

Answers = dict[str, Answer]


def _data(a: Answers, path: str) -> list[dict[str, Any]]:
    items = a[path].json_dict().get("data") if path in a else None
    return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []


def _owned_by(a: Answers) -> set[str]:
    return {str(d.get("owned_by")) for d in _data(a, "/v1/models")}


def identify(a: Answers) -> str | None:
    """Which engine gave these answers (SUMMARY of tests/fixtures/engines: probe order matters)."""
    software = a["/.well-known/serviceinfo"].json_dict().get("software")
    kobold_model = str(a["/api/v1/model"].json_dict().get("result", ""))
    if (isinstance(software, dict) and software.get("name") == "TabbyAPI") or kobold_model.startswith("tabbyAPI/") \
            or "tabbyAPI" in _owned_by(a):  # fmt: skip
        return "tabbyapi"
    tags = a["/api/tags"].json_dict().get("models")
    if isinstance(a["/api/version"].json_dict().get("version"), str) and isinstance(tags, list):
        return "ollama"
    props = a["/props"].json_dict()
    if isinstance(props.get("default_generation_settings"), dict) and ("model_path" in props or "build_info" in props):
        return "llama-server"
    if "llamacpp" in _owned_by(a):
        return "llama-server"
    if a["/api/extra/version"].json_dict().get("result") == "KoboldCpp" and (
        kobold_model.startswith("koboldcpp/") or kobold_model == "inactive" or "koboldcpp" in _owned_by(a)
    ):
        return "koboldcpp"
    v0 = _data(a, "/api/v0/models")
    v1 = a["/api/v1/models"].json_dict().get("models")
    if any("compatibility_type" in d or "state" in d for d in v0) or (
        isinstance(v1, list) and any(isinstance(m, dict) and "loaded_instances" in m for m in v1)
    ):
        return "lm-studio"
    if "organization_owner" in _owned_by(a):
        return "lm-studio"
    info = a["/v1/internal/model/info"].json_dict()
    if "model_name" in info and "loader" in info:
        return "text-generation-webui"
    if "vllm" in _owned_by(a):
        return "vllm"
    if "me" in _owned_by(a):
        return "llama-cpp-python"
    return None


# --- each engine: its answers -> FoundEngine ---------------------------------------------------------------

Query = Callable[[Loopback, Answers, FoundEngine, str | None], None]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def query_llama_server(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """llama-server: /props (per-slot context, model path, template, BOS/EOS, sampling, build),
    /v1/models meta (training context, vocabulary, parameters), /slots; cache types, flash attention
    and GPU layers only from its command line (server-context.cpp get_res_props has no such key)."""
    props = a["/props"].json_dict()
    dgs = _dict(props.get("default_generation_settings"))
    params = _dict(dgs.get("params"))
    meta = next((_dict(d.get("meta")) for d in _data(a, "/v1/models") if isinstance(d.get("meta"), dict)), {})
    per_slot = _int(dgs.get("n_ctx")) or _int(meta.get("n_ctx"))
    slots_total = _int(props.get("total_slots"))
    e.version = props.get("build_info") if isinstance(props.get("build_info"), str) else None
    path = props.get("model_path") if isinstance(props.get("model_path"), str) else None
    name = str(props.get("model_alias") or (Path(path).stem if path else "") or "model")
    model = FoundModel(name, True, per_slot, _int(meta.get("n_ctx_train")), path,
                       str(props.get("model_ftype") or meta.get("ftype") or "") or None, _int(meta.get("size")))  # fmt: skip
    e.models = [model]
    if per_slot:
        e.facts.append(f"context per conversation (slot): {per_slot:,} tokens" +
                       (f", {slots_total} slot(s)" if slots_total else ""))  # fmt: skip
    if model.n_ctx_train:
        e.facts.append(f"the model was trained for {model.n_ctx_train:,} tokens")
    for key in ("bos_token", "eos_token"):
        if isinstance(props.get(key), str):
            e.facts.append(f"{key.replace('_token', '').upper()} token: {props[key]!r}")
    if isinstance(props.get("chat_template"), str):
        e.facts.append(f"chat template: {len(props['chat_template']):,} characters")
    if props.get("endpoint_slots") is True:
        slots = client.get("/slots").json()
        if isinstance(slots, list):
            ctxs = sorted({n for s in slots if isinstance(s, dict) and (n := _int(s.get("n_ctx")))})
            e.facts.append(f"/slots: {len(slots)} slot(s), context {', '.join(f'{c:,}' for c in ctxs)} each")
    elif props:
        e.facts.append("/slots is turned off on this server (--no-slots)")
    proc = e.process
    base = Setup.of(engine="llama.cpp", source=f"llama-server at {e.url}")
    if proc and proc.cmdline and _process_is(proc, "llama", "server"):
        base = _llama_setup_from_process(proc, e)
    else:
        if proc and proc.cmdline:
            proc.notes.append(f"the process on this port ({proc.name}) is not a llama-server program")
        e.missing.append(
            "llama-server's API does not report the KV cache types, flash attention or GPU layers; they are on its "
            "command line (-ctk/-ctv/-fa/-ngl), which could not be read"
            + (f" ({'; '.join(proc.notes)})" if proc and proc.notes else "")
            + ". Import its log to read them."
        )
    sampling = Sampling.from_mapping(params, "llama-server /props")
    changes: dict[str, Any] = {"source": f"llama-server at {e.url}", "sampling": sampling}
    if path:
        changes["model_path"] = path
    e.setup = Setup.of(**{**base.to_dict(), "ctx": per_slot or base.run.n_ctx, **changes})


def _llama_setup_from_process(proc: EngineProcess, e: FoundEngine) -> Setup:
    env_flags = []
    for var, flag in (("LLAMA_ARG_CTX_SIZE", "-c"), ("LLAMA_ARG_CACHE_TYPE_K", "-ctk"),
                      ("LLAMA_ARG_CACHE_TYPE_V", "-ctv"), ("LLAMA_ARG_FLASH_ATTN", "-fa"),
                      ("LLAMA_ARG_N_GPU_LAYERS", "-ngl"), ("LLAMA_ARG_N_PARALLEL", "-np"),
                      ("LLAMA_ARG_MODEL", "-m")):  # fmt: skip
        if proc.env.get(var):
            env_flags += [flag, proc.env[var]]
    # the command line wins over LLAMA_ARG_* (common/arg.cpp reads the variables only for flags not given)
    command = shlex.join([proc.cmdline[0], *env_flags, *proc.cmdline[1:]])
    try:
        setup = from_command(command)
    except QuantDoctorError as err:
        e.missing.append(f"llama-server's command line could not be read ({err.message}); import its log instead.")
        return Setup.of(engine="llama.cpp", source=f"llama-server at {e.url}")
    e.facts.append(f"process {proc.pid} ({proc.name}): {setup.run.describe()}")
    return setup


def query_ollama(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """Ollama: /api/ps (loaded models, size vs size in VRAM, context), /api/show (Modelfile parameters,
    GGUF metadata), the blob on disk via the manifests; cache type and flash attention only from OLLAMA_*."""
    e.version = str(a["/api/version"].json_dict().get("version") or "") or None
    tags = [m for m in a["/api/tags"].json_dict().get("models", []) if isinstance(m, dict)]
    ps = [m for m in client.get("/api/ps").json_dict().get("models", []) if isinstance(m, dict)]
    loaded = {str(m.get("name") or m.get("model")): m for m in ps}
    for m in tags:
        name = str(m.get("name") or m.get("model") or "")
        details = _dict(m.get("details"))
        running = loaded.get(name)
        e.models.append(FoundModel(
            name, running is not None, _int(running.get("context_length")) if running else None, None, None,
            str(details.get("quantization_level") or "") or None,
            _int(running.get("size")) if running else _int(m.get("size")),  # loaded: weights + cache + buffers
            _int(running.get("size_vram")) if running else None,
        ))  # fmt: skip
    for name, m in loaded.items():
        if name not in {x.name for x in e.models}:
            e.models.append(FoundModel(name, True, _int(m.get("context_length")), size_bytes=_int(m.get("size")),
                                       size_vram=_int(m.get("size_vram"))))  # fmt: skip
    for fm in e.models:
        if fm.loaded and fm.size_bytes and fm.size_vram is not None and fm.size_vram < fm.size_bytes:
            share = fm.size_vram / fm.size_bytes
            e.warnings.append(
                f"{fm.name} is only {share:.0%} on the GPU ({_gib(fm.size_vram)} of {_gib(fm.size_bytes)}): the rest "
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
    params = _ollama_parameters(str(show.get("parameters") or ""))
    info = _dict(show.get("model_info"))
    arch = info.get("general.architecture")
    model.n_ctx_train = _int(info.get(f"{arch}.context_length")) if arch else None
    env = dict(e.process.env) if e.process and _process_is(e.process, "ollama") else {}
    model.path = _ollama_blob(model.name, env, str(show.get("modelfile") or ""))
    values: dict[str, Any] = {"engine": "ollama", "source": f"Ollama at {e.url}", "unknown": []}
    num_ctx = (
        model.context or _int(_first_int(params.get("num_ctx"))) or _int(_first_int(env.get("OLLAMA_CONTEXT_LENGTH")))
    )
    if num_ctx:
        values["n_ctx"] = num_ctx
    if model.context:
        e.facts.append(f"{model.name} runs with {model.context:,} tokens of context (/api/ps)")
    if "num_ctx" in params:
        e.facts.append(f"its Modelfile sets num_ctx {params['num_ctx'][0]}")
    if (gpu := _first_int(params.get("num_gpu"))) is not None:
        values["n_gpu_layers"] = gpu
    if env.get("OLLAMA_KV_CACHE_TYPE") is not None:
        values["cache_type_k"] = values["cache_type_v"] = env["OLLAMA_KV_CACHE_TYPE"] or "f16"
        e.facts.append(
            f"OLLAMA_KV_CACHE_TYPE={env['OLLAMA_KV_CACHE_TYPE'] or '(unset: f16)'} in the server's environment"
        )
    else:
        e.missing.append("Ollama's API does not report the KV cache type; it is set by OLLAMA_KV_CACHE_TYPE in the "
                         "server's environment" + _unreadable(e) + " — import the server log to read it.")  # fmt: skip
    if env.get("OLLAMA_FLASH_ATTENTION") is not None:
        values["flash_attn"] = FlashAttn.ON if env["OLLAMA_FLASH_ATTENTION"].lower() in ("1", "true") else FlashAttn.OFF
    else:
        e.missing.append("Ollama's API does not report flash attention; it is set by OLLAMA_FLASH_ATTENTION"
                         + _unreadable(e) + " — import the server log to read it.")  # fmt: skip
    if not model.context and "num_ctx" not in params and "OLLAMA_CONTEXT_LENGTH" not in env:
        e.missing.append("The model is not loaded and sets no num_ctx: it will get Ollama's default context "
                         "(4096 tokens in most versions, more on large GPUs since 0.15.5).")  # fmt: skip
    if "stop" in params:
        e.facts.append(f"stop strings: {', '.join(params['stop'])}")
    values["sampling"] = Sampling.from_mapping({k: v[0] for k, v in params.items()}, "Ollama Modelfile")
    if model.path:
        values["model_path"] = model.path
    e.setup = Setup.of(**values)


def _process_is(proc: EngineProcess, *words: str) -> bool:
    """Whether the process on the port is the engine's own program (not a proxy or a test's Python)."""
    name = " ".join([proc.name, Path(proc.cmdline[0]).name if proc.cmdline else ""]).lower()
    return any(w in name for w in words)


def _unreadable(e: FoundEngine) -> str:
    if e.process and e.process.notes:
        return f" ({'; '.join(e.process.notes)})"
    return " (its process was not found)" if e.process is None else ""


def _first_int(value: Any) -> int | None:
    text = value[0] if isinstance(value, list) and value else value
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


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


def _ollama_blob(name: str, env: dict[str, str], modelfile: str, home: Path | None = None) -> str | None:
    """The GGUF of an Ollama model: manifests/<host>/<namespace>/<model>/<tag> -> the image.model layer's blob."""
    for folder in ollama_models_dirs(env, home):
        manifest = folder / "manifests" / Path(*ollama_name_parts(name))
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
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


def query_lm_studio(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """LM Studio: /api/v1/models (0.4+: loaded instances with context and flash attention) or /api/v0/models;
    KV cache quantization and GPU offload only in its per-model settings file on disk."""
    v1 = [m for m in a["/api/v1/models"].json_dict().get("models", []) if isinstance(m, dict)]
    for m in v1:
        inst = next((i for i in m.get("loaded_instances") or [] if isinstance(i, dict)), None)
        cfg = _dict(inst.get("config")) if inst else {}
        q = m.get("quantization")
        e.models.append(FoundModel(str(m.get("key") or m.get("display_name") or "model"), inst is not None,
                                   _int(cfg.get("context_length")), _int(m.get("max_context_length")),
                                   quantization=str(q.get("name")) if isinstance(q, dict) else None,
                                   size_bytes=_int(m.get("size_bytes"))))  # fmt: skip
        if inst is not None and "flash_attention" in cfg:
            e.facts.append(f"{m.get('key')}: flash attention {'on' if cfg['flash_attention'] else 'off'}, "
                           f"{cfg.get('parallel', 1)} parallel slot(s)")  # fmt: skip
    if not v1:
        for d in _data(a, "/api/v0/models"):
            e.models.append(FoundModel(str(d.get("id")), d.get("state") == "loaded", None,
                                       _int(d.get("max_context_length")), quantization=d.get("quantization")))  # fmt: skip
        e.missing.append("This LM Studio (before 0.4) does not report the loaded context length.")
    target = next((m for m in e.models if m.name == want), None) if want else e.loaded
    if want and target is None:
        raise EngineNotFoundError(f"LM Studio has no model called '{want}'.", "Give the model's key as lmstudio:KEY.")
    if target is None:
        e.missing.append("No model is loaded in LM Studio: load one, or name it (lmstudio:KEY).")
        return
    saved = _lm_studio_config(target.name)
    values: dict[str, Any] = {"engine": "lm-studio", "source": f"LM Studio at {e.url}", "unknown": []}
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
    instance = next((m for m in a["/api/v1/models"].json_dict().get("models", []) if isinstance(m, dict)
                     and m.get("key") == target.name), {})  # fmt: skip
    configs = [_dict(i.get("config")) for i in instance.get("loaded_instances") or [] if isinstance(i, dict)]
    cfg = configs[0] if configs else {}
    if isinstance(cfg.get("flash_attention"), bool):
        values["flash_attn"] = cfg["flash_attention"]
    target.path = _lm_studio_file(target.name)
    if target.path:
        values["model_path"] = target.path
    e.setup = Setup.of(**values)


def _lm_studio_home() -> Path:
    return Path.home() / ".lmstudio"


def _lm_studio_config(key: str) -> Path | None:
    root = _lm_studio_home() / ".internal" / "user-concrete-model-default-config"
    if not root.is_dir():
        return None
    stem = key.lower().replace(" ", "-")
    for p in sorted(root.glob("*/*/*.json"))[:500]:
        if stem in p.name.lower() or stem in p.parent.name.lower():
            return p
    return None


def _lm_studio_file(key: str) -> str | None:
    root = _lm_studio_home() / "models"
    if not root.is_dir():
        return None
    stem = key.lower()
    for p in sorted(root.glob("*/*/*.gguf"))[:2000]:
        if stem in p.name.lower() or stem in p.parent.name.lower():
            return str(p)
    return None


def query_koboldcpp(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """koboldcpp: /api/v1/model and /api/extra/true_max_context_length (= --contextsize); the rest is on its
    command line (--quantkv, --flashattention, --gpulayers) and console."""
    e.version = str(a["/api/extra/version"].json_dict().get("version") or "") or None
    name = str(a["/api/v1/model"].json_dict().get("result", "")).removeprefix("koboldcpp/")
    ctx = _int(client.get("/api/extra/true_max_context_length").json_dict().get("value"))
    loaded = bool(name) and name != "inactive"
    e.models = [FoundModel(name or "model", loaded, ctx)]
    values: dict[str, Any] = {"engine": "koboldcpp", "source": f"koboldcpp at {e.url}", "unknown": []}
    if ctx:
        values["ctx"] = ctx
    proc = e.process
    args = _kobold_cmdline(proc.cmdline) if proc and proc.cmdline and _process_is(proc, "kobold") else None
    if args is not None:
        values.update(args)
        e.facts.append(f"process {proc.pid if proc else '?'}: {', '.join(f'{k}={v}' for k, v in args.items())}")
    else:
        e.missing.append("koboldcpp's API does not report flash attention, --quantkv or GPU layers; its console prints "
                         "them (the Namespace(...) line)" + _unreadable(e) + " — import the console log.")  # fmt: skip
    e.setup = Setup.of(**values)


_KOBOLD_FLAGS = {"--contextsize": "ctx", "--gpulayers": "n_gpu_layers", "--blasbatchsize": "n_batch"}


def _kobold_cmdline(cmdline: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, tok in enumerate(cmdline):
        nxt = cmdline[i + 1] if i + 1 < len(cmdline) else ""
        if tok in _KOBOLD_FLAGS and nxt.lstrip("-").isdigit():
            out[_KOBOLD_FLAGS[tok]] = int(nxt)
        elif tok == "--quantkv" and nxt in ("0", "1", "2"):
            out["cache_type_k"] = out["cache_type_v"] = {"0": "f16", "1": "q8_0", "2": "q4_0"}[nxt]
        elif tok == "--flashattention":
            out["flash_attn"] = True
        elif tok in ("--model", "--model_param") and nxt:
            out["model_path"] = nxt
        elif tok.endswith(".gguf") and "model_path" not in out:
            out["model_path"] = tok
    if isinstance(out.get("n_gpu_layers"), int) and out["n_gpu_layers"] < 0:
        out["n_gpu_layers"] = None
    return out


def query_textgen(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """text-generation-webui: model name and loader; for GGUF it runs llama-server as a child process
    (modules/llama_cpp_server.py), whose command line holds the settings."""
    info = a["/v1/internal/model/info"].json_dict()
    name = str(info.get("model_name") or "")
    loaded = bool(name) and name != "None"
    e.models = [FoundModel(name or "none", loaded)]
    e.facts.append(f"loader: {info.get('loader')}")
    child = _child_llama_server(e.process)
    if child is not None:
        setup = from_command(shlex.join(child))
        e.facts.append(f"its llama-server child: {setup.run.describe()}")
        e.setup = Setup.of(**{**setup.to_dict(), "engine": "text-generation-webui",
                              "source": f"text-generation-webui at {e.url}"})  # fmt: skip
        e.models[0].path = setup.model_path
        e.models[0].context = setup.run.n_ctx
    else:
        e.missing.append("text-generation-webui's API reports only the model name and loader; its llama-server child's "
                         "command line (context, cache type) could not be read — import its console log.")  # fmt: skip
        e.setup = Setup.of(engine="text-generation-webui", source=f"text-generation-webui at {e.url}")


def _child_llama_server(proc: EngineProcess | None) -> list[str] | None:
    if proc is None:
        return None
    import psutil

    try:
        for child in psutil.Process(proc.pid).children(recursive=True):
            cmd = child.cmdline()
            if cmd and "llama-server" in Path(cmd[0]).name:
                return list(cmd)
    except (psutil.Error, OSError):
        return None
    return None


_TABBY_CACHE = {"FP16": "f16", "Q8": "q8_0", "Q6": "q5_1", "Q4": "q4_0"}
_TABBY_BITS = {"16": "f16", "8": "q8_0", "6": "q5_1", "5": "q5_0", "4": "q4_0", "3": "q4_0", "2": "q4_0"}


def query_tabbyapi(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """TabbyAPI: /v1/model (max_seq_len, cache_mode, cache_size); needs an API key unless auth is off."""
    card = client.get("/v1/model")
    data = card.json_dict()
    params = _dict(data.get("parameters"))
    name = str(data.get("id") or next((d.get("id") for d in _data(a, "/v1/models")), "") or "model")
    ctx = _int(params.get("max_seq_len"))
    e.models = [FoundModel(name, bool(data), ctx)]
    values: dict[str, Any] = {"engine": "tabbyapi", "source": f"TabbyAPI at {e.url}", "unknown": []}
    if ctx:
        values["ctx"] = ctx
    mode = str(params.get("cache_mode") or "")
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


def query_vllm(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """vLLM: /v1/models max_model_len and root; quantization and --kv-cache-dtype only on its command line."""
    e.version = str(a["/version"].json_dict().get("version") or "") or None
    cards = [d for d in _data(a, "/v1/models") if d.get("max_model_len") is not None] or _data(a, "/v1/models")
    for d in cards:
        root = str(d.get("root") or "")
        e.models.append(FoundModel(str(d.get("id")), True, _int(d.get("max_model_len")),
                                   path=root if root and Path(root).exists() else None))  # fmt: skip
    values: dict[str, Any] = {"engine": "vllm", "source": f"vLLM at {e.url}", "unknown": []}
    if e.models and e.models[0].context:
        values["ctx"] = e.models[0].context
    if e.models and e.models[0].path:
        values["model_path"] = e.models[0].path
    e.missing.append("vLLM's API does not report the quantization or --kv-cache-dtype; they are on its command line.")
    e.setup = Setup.of(**values)


def query_llama_cpp_python(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """llama-cpp-python's own server (`python -m llama_cpp.server`): only model ids; settings on its command line."""
    e.models = [FoundModel(str(d.get("id")), True) for d in _data(a, "/v1/models")]
    setup = Setup.of(engine="llama.cpp", source=f"llama-cpp-python server at {e.url}")
    if e.process and e.process.cmdline:
        cmd = [t.replace("--n_ctx", "-c").replace("--model", "-m") for t in e.process.cmdline]
        setup = from_command(shlex.join(cmd[cmd.index("-m") - 1 :] if "-m" in cmd else cmd[:1]))
        setup = Setup.of(**{**setup.to_dict(), "source": f"llama-cpp-python server at {e.url}", "unknown": []})
    else:
        e.missing.append(
            "llama-cpp-python's server reports only the model's name; its settings are on its command line."
        )
    e.setup = setup


@dataclass(frozen=True)
class EngineKind:
    key: str
    label: str
    ports: tuple[int, ...]
    query: Query
    aliases: tuple[str, ...] = ()


KINDS: dict[str, EngineKind] = {k.key: k for k in (
    EngineKind("ollama", "Ollama", (11434,), query_ollama),
    EngineKind("lm-studio", "LM Studio", (1234,), query_lm_studio, ("lmstudio",)),
    EngineKind("llama-server", "llama-server", (8080,), query_llama_server, ("llama.cpp", "llamacpp")),
    EngineKind("koboldcpp", "koboldcpp", (5001,), query_koboldcpp, ("kobold",)),
    EngineKind("text-generation-webui", "text-generation-webui", (5000,), query_textgen, ("textgen", "oobabooga")),
    EngineKind("tabbyapi", "TabbyAPI", (5000,), query_tabbyapi, ("tabby",)),
    EngineKind("vllm", "vLLM", (8000,), query_vllm),
    EngineKind("llama-cpp-python", "llama-cpp-python server", (8000,), query_llama_cpp_python),
)}  # fmt: skip
DEFAULT_PORTS = tuple(sorted({p for k in KINDS.values() for p in k.ports}))


def kind_named(name: str) -> EngineKind:
    n = name.strip().lower()
    for k in KINDS.values():
        if n == k.key or n in k.aliases:
            return k
    raise EngineNotFoundError(f"'{name}' is not an engine Quant Doctor can connect to.",
                              f"Use one of: {', '.join(KINDS)}.")  # fmt: skip


# --- asking one port -----------------------------------------------------------------------------------------


def probe_port(host: str, port: int, deadline: float, want: str | None = None, read_process: bool = True,
               probe_seconds: float = PROBE_SECONDS) -> tuple[FoundEngine | None, str | None]:  # fmt: skip
    """(the engine on this port, or None; a problem in words, or None)."""
    if not port_open(host, port, min(0.3, deadline - time.monotonic())):
        return None, None
    client = Loopback(host, port, deadline=min(deadline, time.monotonic() + probe_seconds), timeout=probe_seconds)
    with ThreadPoolExecutor(max_workers=len(IDENTIFY_PATHS)) as pool:
        answers = dict(zip(IDENTIFY_PATHS, pool.map(client.get, IDENTIFY_PATHS), strict=True))
    key = identify(answers)
    if key is None:
        said = sorted({a.describe() for a in answers.values() if a.error or a.status == 200})[:3]
        return None, f"port {port}: something answered, but not like an engine Quant Doctor knows ({'; '.join(said)})"
    kind = KINDS[key]
    client = Loopback(host, port, deadline=deadline, timeout=probe_seconds)
    found = FoundEngine(key, kind.label, client.url)
    if read_process:
        found.process = engine_process(port)
    try:
        kind.query(client, answers, found, want)
    except EngineNotFoundError:
        raise
    except QuantDoctorError as err:
        found.warnings.append(f"Its settings could not be used: {err.message}")
    return found, None


def scan(ports: Iterable[int] = (), seconds: float = SCAN_SECONDS, host: str = "127.0.0.1",
         read_process: bool = True, defaults: bool = True) -> ScanResult:  # fmt: skip
    """Every engine answering on this machine's default ports (plus `ports`), within `seconds`."""
    start = time.monotonic()
    deadline = start + seconds
    todo = list(dict.fromkeys([*(DEFAULT_PORTS if defaults else ()), *ports]))
    found: list[FoundEngine] = []
    problems: list[str] = []
    pool = ThreadPoolExecutor(max_workers=len(todo))
    futures = {pool.submit(probe_port, host, p, deadline, None, read_process): p for p in todo}
    done, late = wait(futures, timeout=max(0.0, deadline - time.monotonic()) + 0.05)
    pool.shutdown(wait=False, cancel_futures=True)  # a straggler's own deadline ends it soon after
    for fut in sorted(done, key=lambda f: futures[f]):
        try:
            engine, problem = fut.result()
        except QuantDoctorError as err:
            engine, problem = None, f"port {futures[fut]}: {err.message}"
        if engine is not None:
            found.append(engine)
        if problem:
            problems.append(problem)
    problems += [f"port {futures[f]}: no answer in time" for f in late]
    return ScanResult(found, problems, time.monotonic() - start)


def connect(spec: str, seconds: float = 5.0) -> FoundEngine:
    """One engine, from `ollama`, `ollama:llama3.2:3b`, `lmstudio`, `llama-server:http://127.0.0.1:8081`, ..."""
    name, _, rest = spec.partition(":")
    kind = kind_named(name)
    url: str | None = None
    model: str | None = None
    if rest.startswith(("http://", "https://", "//", "[", "127.", "localhost")) or rest.isdigit():
        url = rest
    elif rest:
        model = rest
    ports = [parse_url(url, kind.ports[0])] if url else [("127.0.0.1", p) for p in kind.ports]
    deadline = time.monotonic() + seconds
    said: list[str] = []
    for host, port in ports:
        # asked for by name: no 2-second scan budget, but each request still ends by the deadline
        found, problem = probe_port(host, port, deadline, model, probe_seconds=seconds)
        if found is not None and (
            found.key == kind.key or (kind.key == "llama-server" and found.key == "llama-cpp-python")
        ):
            return found
        if found is not None:
            said.append(f"port {port} runs {found.label}, not {kind.label}")
        elif problem:
            said.append(problem)
    where = ", ".join(f"{h}:{p}" for h, p in ports)
    raise EngineNotFoundError(
        f"No {kind.label} answered at {where}" + (f" ({'; '.join(said)})" if said else "") + ".",
        f"Start {kind.label} and load the model, or give its address ({kind.key}:http://127.0.0.1:PORT).",
    )


def cache_type_or_none(name: str | None) -> str | None:
    try:
        return normalise_cache_type(name) if name else None
    except QuantDoctorError:
        return None
