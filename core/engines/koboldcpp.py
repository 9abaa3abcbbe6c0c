"""koboldcpp: settings from its launcher file (.kcpps, JSON), fixes as its own command-line flags.

It runs llama.cpp underneath with a 4096-token default context, spells the cache type as a number
(`--quantkv 0|1|2`), and with flash attention off quantizes only the K cache (its documented
behaviour), keeping V at f16.
"""

from __future__ import annotations

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
    owned_by,
    positive_int,
    process_is,
    text_of,
    unreadable,
)
from core.engines.loopback import Loopback
from core.engines.paste import Flag, corrected_command
from core.engines.reading import read_json, setup_from
from core.errors import SetupError
from core.settings.setup import Setup
from core.textnum import BATCH, CONTEXT, LAYERS, whole_or_none

# --quantkv's values: the one table, read both ways.
QUANTKV = {0: "f16", 1: "q8_0", 2: "q4_0"}
_QUANTKV_OF = {cache: n for n, cache in QUANTKV.items()}
_DEFAULT_QUANTKV = 1  # a cache type koboldcpp cannot set: recommend its q8_0


def from_kcpps(path: str | Path, **overrides: Any) -> Setup:
    """A koboldcpp launcher file (.kcpps, JSON): contextsize, quantkv, flashattention, gpulayers."""
    data = read_json(Path(path), "koboldcpp settings file")
    values: dict[str, Any] = {"source": f"koboldcpp file {Path(path).name}", "engine": "koboldcpp"}
    if isinstance(data.get("contextsize"), int):
        values["n_ctx"] = data["contextsize"]
    q = data.get("quantkv")
    if isinstance(q, int):
        if q not in QUANTKV:
            raise SetupError(f"quantkv {q} is not a koboldcpp cache setting (0, 1 or 2).", "Check the .kcpps file.")
        values["cache_type_k"] = values["cache_type_v"] = QUANTKV[q]
    if "flashattention" in data:
        values["flash_attn"] = bool(data["flashattention"])
    if isinstance(data.get("gpulayers"), int):
        values["n_gpu_layers"] = None if data["gpulayers"] < 0 else data["gpulayers"]
    if isinstance(data.get("blasbatchsize"), int) and data["blasbatchsize"] > 0:
        values["n_batch"] = data["blasbatchsize"]
    values["unknown"] = []
    values.update(overrides)
    return setup_from(values, Path(path).name)




def spell(change: Change, base: FixBase) -> list[FixStep]:
    """koboldcpp's own flags (koboldcpp.py's argparse) on a command that starts it with the model and the
    person's other settings."""
    flags = _flags(change)
    steps: list[FixStep] = []
    if flags:
        program = ["koboldcpp", "--model", base.model_path or "model.gguf"]
        kept = _flags(base.current) if base.current is not None else []
        steps.append(
            FixStep(
                f"Start koboldcpp with {change.words()}:",
                corrected_command(None, program, [*kept, *flags], base.terminal.shell),
            )
        )
    lines = [f"{name}: {value:g}" for name, value in (("Temperature", change.temperature),
             ("Repetition Penalty", change.repeat_penalty)) if value is not None]  # fmt: skip
    if change.stop is not None:
        lines.append(f"Extra Stopping Sequences: {change.stop}")
    if lines:
        steps.append(FixStep(f"Set {change.words()} in koboldcpp's Settings → Samplers:", "\n".join(lines),
                             CopyKind.SETTING))  # fmt: skip
    return steps


def _flags(change: Change) -> list[Flag]:
    flags: list[Flag] = []
    if change.n_ctx is not None:
        flags.append((("--contextsize",), [str(change.n_ctx)]))
    cache = change.cache_type_v or change.cache_type_k
    if cache is not None:
        flags.append((("--quantkv",), [str(_QUANTKV_OF.get(cache, _DEFAULT_QUANTKV))]))
    if change.flash_attn:
        flags.append((("--flashattention",), []))
    if change.n_gpu_layers is not None:
        flags.append((("--gpulayers",), [str(change.n_gpu_layers)]))
    if change.rope_none:
        flags.append((("--ropeconfig",), ["0", "0"]))
    return flags


# --- the running engine: what its API (and process) says -------------------------------------------


def query_koboldcpp(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """koboldcpp: /api/v1/model and /api/extra/true_max_context_length (= --contextsize); the rest is on its
    command line (--quantkv, --flashattention, --gpulayers) and console."""
    e.version = text_of(a["/api/extra/version"].json_dict().get("version"), 100)
    name = (text_of(a["/api/v1/model"].json_dict().get("result")) or "").removeprefix("koboldcpp/")
    ctx = positive_int(client.get("/api/extra/true_max_context_length").json_dict().get("value"), CONTEXT)
    loaded = bool(name) and name != "inactive"
    e.models = [FoundModel(name or "model", loaded, ctx)]
    values: dict[str, Any] = {"engine": "koboldcpp", "source": f"koboldcpp at {e.url}", "unknown": []}
    if ctx:
        values["ctx"] = ctx
    proc = e.process
    args = _kobold_cmdline(proc.cmdline) if proc and proc.cmdline and process_is(proc, "kobold") else None
    if args is not None:
        values.update(args)
        e.facts.append(f"process {proc.pid if proc else '?'}: {', '.join(f'{k}={v}' for k, v in args.items())}")
    else:
        e.missing.append("koboldcpp's API does not report flash attention, --quantkv or GPU layers; its console prints "
                         "them (the Namespace(...) line)" + unreadable(e) + " — import the console log.")  # fmt: skip
    e.setup = Setup.of(**values)


_KOBOLD_FLAGS = {"--contextsize": "ctx", "--gpulayers": "n_gpu_layers", "--blasbatchsize": "n_batch"}
_KOBOLD_QUANTITIES = {"--contextsize": CONTEXT, "--gpulayers": LAYERS, "--blasbatchsize": BATCH}


def _kobold_cmdline(cmdline: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, tok in enumerate(cmdline):
        nxt = cmdline[i + 1] if i + 1 < len(cmdline) else ""
        if tok in _KOBOLD_FLAGS and (n := whole_or_none(nxt, _KOBOLD_QUANTITIES[tok])) is not None:
            out[_KOBOLD_FLAGS[tok]] = n
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




def recognise(a: Answers) -> bool:
    """koboldcpp: KoboldCpp's version answer, and its own model name (TabbyAPI's Kobold API is checked first)."""
    model = str(a["/api/v1/model"].json_dict().get("result", ""))
    return a["/api/extra/version"].json_dict().get("result") == "KoboldCpp" and (
        model.startswith("koboldcpp/") or model == "inactive" or "koboldcpp" in owned_by(a)
    )


ENGINE = Engine(
    id="koboldcpp",
    name="koboldcpp",
    default_ctx=4096,
    without_flash_attn=NoFlashAttnCache.K_ONLY,
    without_flash_attn_note=(
        "koboldcpp quantizes only the K cache when flash attention is off (its documented behaviour); "
        "the V cache stays f16"
    ),
    live=(LiveApi(
        "koboldcpp", "koboldcpp", (5001,), query_koboldcpp, ("kobold",), recognise,
        ("/api/extra/version", "/api/v1/model", "/v1/models"), precedence=40, programs=("koboldcpp", "kobold"),
    ),),
    template_fix=lambda fmt: [FixStep(f"In koboldcpp: Settings → 'Instruct Tag Preset': choose {fmt or CARD_FORMAT}.")],
    spell=spell,
    readers=(
        SettingsReader(
            "kcpps", ReadsFrom.FILE, "A koboldcpp .kcpps file…", "import a koboldcpp .kcpps file", from_kcpps,
            file_filter="koboldcpp (*.kcpps *.json)", file_title="koboldcpp settings",
        ),
    ),
    log_kinds=("koboldcpp",),
)
