"""llama.cpp (llama-server, llama-cli and the other llama.cpp tools): the reference engine.

Its settings are read from a pasted command line; with no -c it uses the model's own training
context (-c 0); it refuses a quantized V cache without flash attention. Every other engine's
behaviour is described relative to this one.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from core.engines.base import CARD_FORMAT, Change, Engine, FixBase, FixStep, NoFlashAttnCache, ReadsFrom, SettingsReader
from core.engines.found import (
    Answers,
    FoundEngine,
    FoundModel,
    LiveApi,
    answer_data,
    as_dict,
    owned_by,
    positive_int,
    process_is,
    text_of,
)
from core.engines.llama_args import from_command
from core.engines.loopback import Loopback
from core.engines.paste import Flag, corrected_command
from core.engines.process import EngineProcess
from core.errors import QuantDoctorError
from core.settings.sampling import Sampling
from core.settings.setup import Setup
from core.shells import Shell
from core.textnum import BYTES, CONTEXT, SLOTS

# --- the running engine: what its API (and process) says -------------------------------------------


def query_llama_server(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """llama-server: /props (per-slot context, model path, template, BOS/EOS, sampling, build),
    /v1/models meta (training context, vocabulary, parameters), /slots; cache types, flash attention
    and GPU layers only from its command line (server-context.cpp get_res_props has no such key)."""
    props = a["/props"].json_dict()
    dgs = as_dict(props.get("default_generation_settings"))
    params = as_dict(dgs.get("params"))
    meta = next((as_dict(d.get("meta")) for d in answer_data(a, "/v1/models") if isinstance(d.get("meta"), dict)), {})
    per_slot = positive_int(dgs.get("n_ctx"), CONTEXT) or positive_int(meta.get("n_ctx"), CONTEXT)
    slots_total = positive_int(props.get("total_slots"), SLOTS)
    e.version = text_of(props.get("build_info"), 200)
    path = text_of(props.get("model_path"), 4096)
    name = Path(text_of(props.get("model_alias")) or path or "model").name or "model"  # newer builds alias the path itself
    model = FoundModel(name, True, per_slot, positive_int(meta.get("n_ctx_train"), CONTEXT), path,
                       text_of(props.get("model_ftype"), 100) or text_of(meta.get("ftype"), 100),
                       positive_int(meta.get("size"), BYTES))  # fmt: skip
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
            ctxs = sorted({n for s in slots if isinstance(s, dict) and (n := positive_int(s.get("n_ctx"), CONTEXT))})
            e.facts.append(f"/slots: {len(slots)} slot(s), context {', '.join(f'{c:,}' for c in ctxs)} each")
    elif props:
        e.facts.append("/slots is turned off on this server (--no-slots)")
    proc = e.process
    base = Setup.of(engine="llama.cpp", source=f"llama-server at {e.url}")
    if proc and proc.cmdline and process_is(proc, "llama", "server"):
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
        setup = from_command(command, Shell.POSIX)
    except QuantDoctorError as err:
        e.missing.append(f"llama-server's command line could not be read ({err.message}); import its log instead.")
        return Setup.of(engine="llama.cpp", source=f"llama-server at {e.url}")
    e.facts.append(f"process {proc.pid} ({proc.name}): {setup.run.describe()}")
    return setup


def query_llama_cpp_python(client: Loopback, a: Answers, e: FoundEngine, want: str | None) -> None:
    """llama-cpp-python's own server (`python -m llama_cpp.server`): only model ids; settings on its command line."""
    e.models = [FoundModel(text_of(d.get("id")) or "model", True) for d in answer_data(a, "/v1/models")]
    setup = Setup.of(engine="llama.cpp", source=f"llama-cpp-python server at {e.url}")
    if e.process and e.process.cmdline:
        cmd = [t.replace("--n_ctx", "-c").replace("--model", "-m") for t in e.process.cmdline]
        setup = from_command(shlex.join(cmd[cmd.index("-m") - 1 :] if "-m" in cmd else cmd[:1]), Shell.POSIX)
        setup = Setup.of(**{**setup.to_dict(), "source": f"llama-cpp-python server at {e.url}", "unknown": []})
    else:
        e.missing.append(
            "llama-cpp-python's server reports only the model's name; its settings are on its command line."
        )
    e.setup = setup


# llama.cpp's built-in template names (src/llama-chat.cpp LLM_CHAT_TEMPLATES) for the formats we recognise.
TEMPLATE_NAMES = {
    "ChatML": "chatml",
    "Llama 3": "llama3",
    "Gemma": "gemma",
    "Phi-3": "phi3",
    "Command-R": "command-r",
    "Granite": "granite",
    "DeepSeek": "deepseek3",
    "Mistral [INST]": "mistral-v7",
    "Zephyr": "zephyr",
    "Vicuna": "vicuna",
    "gpt-oss Harmony": "gpt-oss",
}


def template_fix(format_name: str | None) -> list[FixStep]:
    return spell(Change(chat_template=format_name or CARD_FORMAT, jinja=True), FixBase())


def _program(base: FixBase) -> list[str]:
    return ["llama-server", "-m", base.model_path or "model.gguf"]


def _flags(change: Change) -> tuple[list[Flag], str]:
    """common/arg.cpp's spellings of a change, and what the person must know beside the command."""
    flags: list[Flag] = []
    if change.n_ctx is not None:
        flags.append((("-c", "--ctx-size"), [str(change.n_ctx)]))
    if change.cache_type_k is not None:
        flags.append((("-ctk", "--cache-type-k"), [change.cache_type_k]))
    if change.cache_type_v is not None:
        flags.append((("-ctv", "--cache-type-v"), [change.cache_type_v]))
    if change.flash_attn is not None:
        flags.append((("-fa", "--flash-attn"), ["on" if change.flash_attn else "off"]))
    if change.n_gpu_layers is not None:
        flags.append((("-ngl", "--gpu-layers", "--n-gpu-layers"), [str(change.n_gpu_layers)]))
    if change.temperature is not None:
        flags.append((("--temp",), [f"{change.temperature:g}"]))
    if change.repeat_penalty is not None:
        flags.append((("--repeat-penalty",), [f"{change.repeat_penalty:g}"]))
    if change.rope_none:
        flags.append((("--rope-scaling",), ["none"]))
    note = ""
    if change.jinja:
        flags.append((("--jinja",), []))
        if change.chat_template is None:
            note = " llama.cpp then sends the model's own BOS once; send prompts without a BOS of their own."
    if change.chat_template is not None:
        name = TEMPLATE_NAMES.get(change.chat_template)
        if name:
            flags.append((("--chat-template",), [name]))
        else:
            flags.append((("--chat-template-file",), ["template.jinja"]))
            note = " Save the model card's template as template.jinja beside the model first."
    if change.stop is not None:
        flags.append((("-r", "--reverse-prompt"), [change.stop]))
        note = f' llama-cli stops there; llama-server takes "stop": ["{change.stop}"] in each request instead.'
    return flags, note


_MODEL_FLAGS = ("-m", "--model", "-hf", "--hf-repo", "-mu", "--model-url", "-hfr")


def _with_model(base: FixBase) -> str | None:
    """The person's command, with their model (-m PATH) added after the program when it names none."""
    if not base.command or not base.model_path:
        return base.command
    try:
        tokens = shlex.split(base.command)
    except ValueError:
        return base.command
    if any(t.partition("=")[0] in _MODEL_FLAGS for t in tokens):
        return base.command
    at = 0 if not tokens or tokens[0].startswith("-") else 1
    return shlex.join([*tokens[:at], "-m", base.model_path, *tokens[at:]])


def spell(change: Change, base: FixBase) -> list[FixStep]:
    """One step: the person's own command with only the changed flags replaced or added; without one,
    llama-server with their model and their other settings, then the change."""
    flags, note = _flags(change)
    if not flags:
        return []
    kept = _flags(base.current)[0] if base.current is not None and not base.command else []
    command = corrected_command(_with_model(base), _program(base), [*kept, *flags], base.terminal.shell)
    whose = "your command" if base.command else "llama-server"
    # written for base.terminal's shell, and said so at once: FixStep's copy door splits it in that shell
    return [FixStep(f"Start {whose} with {change.words()}:" + note, command, engine="llama.cpp",
                    shell=base.terminal.shell)]




def recognise_llama_server(a: Answers) -> bool:
    """llama-server: /props with its default generation settings, or "llamacpp" as the models' owner."""
    props = a["/props"].json_dict()
    if isinstance(props.get("default_generation_settings"), dict) and ("model_path" in props or "build_info" in props):
        return True
    return "llamacpp" in owned_by(a)


def recognise_llama_cpp_python(a: Answers) -> bool:
    """llama-cpp-python's server owns its models as "me" (checked last: the loosest shape)."""
    return "me" in owned_by(a)


ENGINE = Engine(
    id="llama.cpp",
    name="llama.cpp",
    default_ctx=None,  # -c 0: the model's own context
    strips_template_bos=True,  # common/chat.cpp drops the template's BOS when the model adds one
    stops_at_end_of_turn_names=True,  # <|im_end|>, <|eot_id|>, <end_of_turn>... are end-of-generation tokens
    without_flash_attn=NoFlashAttnCache.REFUSES,
    without_flash_attn_note="llama.cpp refuses a quantized V cache without flash attention: the model will not load",
    live=(
        LiveApi(
            "llama-server", "llama-server", (8080,), query_llama_server, ("llama.cpp", "llamacpp"),
            recognise_llama_server, ("/props", "/v1/models"), precedence=30,
            programs=("llama-server", "llama_server", "llamafile"),
        ),
        LiveApi(
            "llama-cpp-python", "llama-cpp-python server", (8000,), query_llama_cpp_python, (),
            recognise_llama_cpp_python, ("/v1/models",), precedence=80, programs=("llama_cpp.server",),
        ),
    ),
    template_fix=template_fix,
    spell=spell,
    readers=(
        SettingsReader(
            "command", ReadsFrom.TEXT, "A llama.cpp command…",
            "import settings from a llama-server / llama-cli command line", from_command,
            placeholder="llama-server -m model.gguf -c 16384 -ctk q8_0 -ctv q8_0 -fa on -ngl 99",
        ),
    ),
    log_kinds=("llama-server", "llama.cpp"),
)
