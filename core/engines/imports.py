"""Read a `Setup` from what the person already has, so nobody retypes their settings.

Sources: a pasted llama.cpp command line (llama-server / llama-cli), Ollama's environment and a
Modelfile, a koboldcpp `.kcpps` file, an LM Studio per-model config. Anything we do not
understand is noted in `Setup.unknown`, never fatal: people paste whole shell lines.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.errors import SetupError
from core.settings.run import FlashAttn
from core.settings.setup import Setup

_FA_WORDS = {"on", "off", "auto", "true", "false", "1", "0", "enabled", "disabled"}

# llama.cpp options that take a value but do not matter to the diagnosis (common/arg.cpp); their
# values are skipped so they are not mistaken for unknown flags.
_VALUE_FLAGS = {
    "-t", "--threads", "-tb", "--threads-batch", "--host", "--port", "-n", "--n-predict", "--predict",
    "-p", "--prompt", "-f", "--file", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
    "--repeat-last-n", "-s", "--seed", "--chat-template", "--chat-template-file", "-a", "--alias",
    "--api-key", "--mmproj", "-sm", "--split-mode", "-ts", "--tensor-split", "-mg", "--main-gpu",
    "--rope-scaling", "--rope-freq-base", "--rope-freq-scale", "--yarn-orig-ctx", "-hf", "--hf-repo",
    "-hff", "--hf-file", "--lora", "-ot", "--override-tensor", "--keep", "--timeout", "-dev", "--device",
    "-md", "--model-draft", "--reasoning-format", "--reasoning-budget", "-to", "--slot-save-path",
    "--numa", "-lcs", "--lookup-cache-static", "--cache-reuse", "--n-cpu-moe", "-ncmoe", "--grammar",
    "--grammar-file", "-j", "--json-schema", "--log-file", "-r", "--reverse-prompt", "--samplers",
    "--mirostat", "--typical", "--dry-multiplier", "--swa-checkpoints",
}  # fmt: skip
# Options that move weights or the KV cache between GPU and CPU: understood, but not modelled by the
# memory estimate, so they are kept as a note rather than silently dropped.
_PLACEMENT_FLAGS_WITH_VALUE = {"--n-cpu-moe", "-ncmoe", "-ot", "--override-tensor"}
_PLACEMENT_FLAGS = {"--cpu-moe", "-cmoe", "--no-kv-offload", "-nkvo"}
_BARE_FLAGS = {
    "--jinja", "--no-mmap", "--mlock", "--cont-batching", "-cb", "--no-cont-batching", "-nocb", "--verbose",
    "-v", "--metrics", "--no-webui", "--embedding", "--embeddings", "--interactive", "-i", "-cnv",
    "--conversation", "-no-cnv", "--no-warmup", "--log-disable", "--color", "--kv-unified", "-kvu",
    "--swa-full", "--check-tensors", "--simple-io",
}  # fmt: skip


def from_command(command: str, **overrides: Any) -> Setup:
    """Settings from a llama-server / llama-cli command line (or any llama.cpp tool)."""
    try:
        tokens = shlex.split(command.replace("\\\n", " "))
    except ValueError as exc:
        raise SetupError(
            f"The command could not be read ({exc}).", "Paste the whole command, quotes included."
        ) from exc
    values: dict[str, Any] = {"source": "llama.cpp command line", "engine": "llama.cpp"}
    unknown: list[str] = []
    overrides_kv: list[str] = []
    model: str | None = None
    parallel = 1
    i = 0
    if tokens and not tokens[0].startswith("-"):
        i = 1  # the program itself (llama-server, ./llama-cli, ...)
    while i < len(tokens):
        tok = tokens[i]
        flag, eq, inline = tok.partition("=") if tok.startswith("--") else (tok, "", "")
        nxt = inline if eq else (tokens[i + 1] if i + 1 < len(tokens) else None)
        step = 1 if eq else 2

        def value(flag: str = flag, nxt: str | None = nxt) -> str:
            if nxt is None:
                raise SetupError(f"{flag} needs a value.", f"Add the value after {flag}.")
            return nxt

        if flag in ("-m", "--model"):
            model = value()
        elif flag in ("-c", "--ctx-size"):
            values["n_ctx"] = _int(flag, value())
        elif flag in ("-ctk", "--cache-type-k"):
            values["cache_type_k"] = value()
        elif flag in ("-ctv", "--cache-type-v"):
            values["cache_type_v"] = value()
        elif flag in ("-ngl", "--gpu-layers", "--n-gpu-layers"):
            v = value()
            values["n_gpu_layers"] = None if v in ("all", "auto") else _int(flag, v)
        elif flag in ("-b", "--batch-size"):
            values["n_batch"] = _int(flag, value())
        elif flag in ("-ub", "--ubatch-size"):
            values["n_ubatch"] = _int(flag, value())
        elif flag in ("-np", "--parallel"):
            parallel = max(1, _int(flag, value()))
        elif flag in ("-fa", "--flash-attn"):
            if nxt is not None and nxt.lower() in _FA_WORDS:
                values["flash_attn"] = FlashAttn.parse(nxt)
            else:  # older llama.cpp: a bare flag
                values["flash_attn"] = FlashAttn.ON
                step = 1
        elif flag == "--override-kv":
            overrides_kv.append(value())
        elif flag in _PLACEMENT_FLAGS_WITH_VALUE:
            unknown.append(f"{flag} {value()}: moves weights to the CPU; the memory estimate does not model it")
        elif flag in _PLACEMENT_FLAGS:
            unknown.append(f"{flag}: moves weights or the KV cache to the CPU; the memory estimate does not model it")
            step = 1
        elif flag in _VALUE_FLAGS:
            pass
        elif flag in _BARE_FLAGS:
            step = 1
        elif tok.startswith("-"):
            if nxt is not None and not nxt.startswith("-") and not eq:
                unknown.append(f"{tok} {nxt}")
            else:
                unknown.append(tok)
                step = 1
        else:
            unknown.append(tok)
            step = 1
        i += step
    if parallel > 1 and values.get("n_ctx"):
        unknown.append(f"--parallel {parallel}: each of the {parallel} slots gets {values['ctx'] // parallel} tokens")
    for kv in overrides_kv:
        unknown.append(f"--override-kv {kv}")
    if model:
        values["model_path"] = model
    values["unknown"] = unknown
    values.update(overrides)
    return Setup.of(**values)


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
        values["n_ctx"] = _int("OLLAMA_CONTEXT_LENGTH", ctx)
    if modelfile is not None:
        text = Path(modelfile).read_text(encoding="utf-8") if Path(str(modelfile)).is_file() else str(modelfile)
        for line in text.splitlines():
            m = re.match(r"\s*PARAMETER\s+(\S+)\s+(.+?)\s*$", line, re.IGNORECASE)
            if not m:
                continue
            key, val = m.group(1).lower(), m.group(2).strip().strip('"')
            if key == "num_ctx":
                values["n_ctx"] = _int("num_ctx", val)
            elif key == "num_gpu":
                values["n_gpu_layers"] = _int("num_gpu", val)
            elif key == "num_batch":
                values["n_batch"] = _int("num_batch", val)
            else:
                unknown.append(f"PARAMETER {key} {val}")
    values["unknown"] = unknown
    values.update(overrides)
    return Setup.of(**values)


_KOBOLD_QUANTKV = {0: "f16", 1: "q8_0", 2: "q4_0"}


def from_kcpps(path: str | Path, **overrides: Any) -> Setup:
    """A koboldcpp launcher file (.kcpps, JSON): contextsize, quantkv, flashattention, gpulayers."""
    data = _read_json(Path(path), "koboldcpp settings file")
    values: dict[str, Any] = {"source": f"koboldcpp file {Path(path).name}", "engine": "koboldcpp"}
    if isinstance(data.get("contextsize"), int):
        values["n_ctx"] = data["contextsize"]
    q = data.get("quantkv")
    if isinstance(q, int):
        if q not in _KOBOLD_QUANTKV:
            raise SetupError(f"quantkv {q} is not a koboldcpp cache setting (0, 1 or 2).", "Check the .kcpps file.")
        values["cache_type_k"] = values["cache_type_v"] = _KOBOLD_QUANTKV[q]
    if "flashattention" in data:
        values["flash_attn"] = bool(data["flashattention"])
    if isinstance(data.get("gpulayers"), int):
        values["n_gpu_layers"] = None if data["gpulayers"] < 0 else data["gpulayers"]
    if isinstance(data.get("blasbatchsize"), int) and data["blasbatchsize"] > 0:
        values["n_batch"] = data["blasbatchsize"]
    values["unknown"] = []
    values.update(overrides)
    return _setup(values, Path(path).name)


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
    data = _read_json(Path(path), "LM Studio model config")
    fields = data.get("load", {}).get("fields", []) if isinstance(data.get("load"), dict) else []
    values: dict[str, Any] = {"source": f"LM Studio config {Path(path).name}", "engine": "lm-studio"}
    unknown: list[str] = []
    for item in fields if isinstance(fields, list) else []:
        if not isinstance(item, dict):
            raise SetupError(
                f"{Path(path).name} is not an LM Studio model config (odd entry {item!r}).",
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
    return _setup(values, f"{Path(path).name}")


def _setup(values: dict[str, Any], where: str) -> Setup:
    """A Setup from imported values, with wrongly typed values (a context given as text) as a plain error."""
    for key in ("n_ctx", "n_gpu_layers", "n_batch"):
        value = values.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise SetupError(f"In {where}, {key} should be a whole number, not {value!r}.", f"Fix {key} in {where}.")
    for key in ("cache_type_k", "cache_type_v"):
        if key in values and not isinstance(values[key], str):
            raise SetupError(
                f"In {where}, {key} should be a cache type name, not {values[key]!r}.", f"Fix {key} in {where}."
            )
    return Setup.of(**values)


def _int(what: str, text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise SetupError(f"{what} should be a whole number, not '{text}'.", f"Fix the value of {what}.") from exc


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SetupError(f"{path} does not exist.", f"Pick your {what} again.") from exc
    except OSError as exc:  # a folder, no permission...
        raise SetupError(f"{path} could not be read ({exc.strerror}).", f"Pick your {what} file again.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SetupError(f"{path.name} is not a readable {what} ({exc}).", f"Save the {what} again and retry.") from exc
    if not isinstance(data, dict):
        raise SetupError(f"{path.name} is not a {what}.", f"Pick your {what} again.")
    return data
