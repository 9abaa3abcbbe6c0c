"""text-generation-webui (oobabooga) with its llama.cpp loader: fixes as its loader flags.

Its settings live in its own UI; nothing is read from a file, the person types them.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from core.engines.base import CARD_FORMAT, Change, CopyKind, Engine, FixBase, FixStep, NoFlashAttnCache
from core.engines.found import (
    Answers,
    FoundEngine,
    FoundModel,
    LiveApi,
    text_of,
)
from core.engines.llama_args import from_command
from core.engines.loopback import Loopback
from core.engines.paste import Flag, corrected_command
from core.engines.process import EngineProcess, child_command_line
from core.settings.setup import Setup
from core.shells import Shell


def spell(change: Change, base: FixBase) -> list[FixStep]:
    """Its llama.cpp loader's flags (modules/shared.py) on the command that starts it with the model."""
    flags: list[Flag] = []
    if change.n_ctx is not None:
        flags.append((("--ctx-size",), [str(change.n_ctx)]))
    cache = change.cache_type_v or change.cache_type_k
    if cache is not None:
        flags.append((("--cache-type",), [cache]))
    if change.flash_attn:
        flags.append((("--flash-attn",), []))
    if change.n_gpu_layers is not None:
        flags.append((("--gpu-layers",), [str(change.n_gpu_layers)]))
    steps: list[FixStep] = []
    if flags:
        model = Path(base.model_path).name if base.model_path else "model.gguf"
        program = ["python", "server.py", "--loader", "llama.cpp", "--model", model]
        steps.append(FixStep(f"Start text-generation-webui with {change.words()} (or set the same in the Model "
                             "tab):", corrected_command(None, program, flags, base.terminal.shell)))  # fmt: skip
    lines = [f"{name}: {value:g}" for name, value in (("temperature", change.temperature),
             ("repetition_penalty", change.repeat_penalty)) if value is not None]  # fmt: skip
    if change.stop is not None:
        lines.append(f'Custom stopping strings: "{change.stop}"')
    if lines:
        steps.append(FixStep(f"Set {change.words()} in Parameters → Generation:", "\n".join(lines), CopyKind.SETTING))
    return steps


# --- the running engine: what its API (and process) says -------------------------------------------


def query_textgen(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """text-generation-webui: model name and loader; for GGUF it runs llama-server as a child process
    (modules/llama_cpp_server.py), whose command line holds the settings."""
    info = a["/v1/internal/model/info"].json_dict()
    name = text_of(info.get("model_name")) or ""
    loaded = bool(name) and name != "None"
    e.models = [FoundModel(name or "none", loaded)]
    e.facts.append(f"loader: {text_of(info.get('loader'), 100) or 'not said'}")
    child = _child_llama_server(e.process)
    if child is not None:
        setup = from_command(shlex.join(child), Shell.POSIX)
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
    """Its llama-server child's command line, redacted (core.engines.process reads it)."""
    return None if proc is None else child_command_line(proc.pid, "llama-server")


def recognise(a: Answers) -> bool:
    """text-generation-webui: its internal model info names the model and the loader."""
    info = a["/v1/internal/model/info"].json_dict()
    return "model_name" in info and "loader" in info


ENGINE = Engine(
    id="text-generation-webui",
    name="text-generation-webui",
    default_ctx=None,
    without_flash_attn=NoFlashAttnCache.REFUSES,
    without_flash_attn_note="llama.cpp refuses a quantized V cache without flash attention: the model will not load",
    live=(LiveApi(
        "text-generation-webui", "text-generation-webui", (5000,), query_textgen, ("textgen", "oobabooga"),
        recognise, ("/v1/internal/model/info",), precedence=60,
        programs=("text-generation-webui", "text_generation_webui", "oobabooga"),
    ),),
    template_fix=lambda fmt: [
        FixStep(f"In Parameters → Instruction template: choose {fmt or CARD_FORMAT} (or load it from the model).")
    ],
    spell=spell,
)
