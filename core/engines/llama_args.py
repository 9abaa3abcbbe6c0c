"""The llama.cpp command line, read as llama.cpp's own argument parser (common/arg.cpp) reads it.

Shared by every engine that starts llama-server or takes its flags (llama.cpp itself; the llama-server
child of text-generation-webui), so that no engine module imports another.
"""

from __future__ import annotations

import shlex
from typing import Any

from core import shells
from core.engines.reading import whole_number
from core.errors import SetupError
from core.settings.run import FlashAttn
from core.settings.sampling import Sampling
from core.settings.setup import Setup
from core.shells import Shell, Terminal
from core.textnum import BATCH, CONTEXT, LAYERS, SLOTS

_FA_WORDS = {"on", "off", "auto", "true", "false", "1", "0", "enabled", "disabled"}

# llama.cpp options that take a value but do not matter to the diagnosis (common/arg.cpp); their
# values are skipped so they are not mistaken for unknown flags.
_VALUE_FLAGS = {
    "-t", "--threads", "-tb", "--threads-batch", "--host", "--port", "-n", "--n-predict", "--predict",
    "-p", "--prompt", "-f", "--file", "--chat-template", "--chat-template-file", "-a", "--alias",
    "--api-key", "--mmproj", "-sm", "--split-mode", "-ts", "--tensor-split", "-mg", "--main-gpu",
    "--rope-scaling", "--rope-freq-base", "--rope-freq-scale", "--yarn-orig-ctx", "-hf", "--hf-repo",
    "-hff", "--hf-file", "--lora", "-ot", "--override-tensor", "--keep", "--timeout", "-dev", "--device",
    "-md", "--model-draft", "--reasoning-format", "--reasoning-budget", "-to", "--slot-save-path",
    "--numa", "-lcs", "--lookup-cache-static", "--cache-reuse", "--n-cpu-moe", "-ncmoe", "--grammar",
    "--grammar-file", "-j", "--json-schema", "--log-file", "-r", "--reverse-prompt", "--samplers",
    "--mirostat", "--typical", "--dry-multiplier", "--swa-checkpoints",
}  # fmt: skip
# The sampler's options (common/arg.cpp), read into Setup.sampling: the commonest "it loops" is a sampler.
SAMPLING_FLAGS = {
    "--temp": "temperature", "--top-k": "top_k", "--top-p": "top_p", "--min-p": "min_p",
    "--typical": "typical_p", "--repeat-penalty": "repeat_penalty", "--repeat-last-n": "repeat_last_n",
    "--presence-penalty": "presence_penalty", "--frequency-penalty": "frequency_penalty",
    "--mirostat": "mirostat", "-s": "seed", "--seed": "seed",
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


def from_command(command: str, shell: Shell | None = None, **overrides: Any) -> Setup:
    """Settings from a llama-server / llama-cli command line (or any llama.cpp tool), as `shell` reads it:
    by default the shell of the OS Quant Doctor runs on, so `-m C:\\models\\x.gguf` pasted on Windows keeps
    its backslashes (POSIX rules would drop them). Kept as POSIX-quoted tokens (Setup.command)."""
    try:
        tokens = shells.split(command, shell or Terminal.here().shell)
    except ValueError as exc:
        raise SetupError(
            f"The command could not be read ({exc}).", "Paste the whole command, quotes included."
        ) from exc
    values: dict[str, Any] = {"source": "llama.cpp command line", "engine": "llama.cpp", "command": shlex.join(tokens)}
    unknown: list[str] = []
    overrides_kv: list[str] = []
    model: str | None = None
    sampling: dict[str, tuple[str, str]] = {}  # setting -> (flag, value)
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
            values["n_ctx"] = whole_number(flag, value(), CONTEXT)
        elif flag in ("-ctk", "--cache-type-k"):
            values["cache_type_k"] = value()
        elif flag in ("-ctv", "--cache-type-v"):
            values["cache_type_v"] = value()
        elif flag in ("-ngl", "--gpu-layers", "--n-gpu-layers"):
            v = value()
            values["n_gpu_layers"] = None if v in ("all", "auto") else whole_number(flag, v, LAYERS)
        elif flag in ("-b", "--batch-size"):
            values["n_batch"] = whole_number(flag, value(), BATCH)
        elif flag in ("-ub", "--ubatch-size"):
            values["n_ubatch"] = whole_number(flag, value(), BATCH)
        elif flag in ("-np", "--parallel"):
            parallel = max(1, whole_number(flag, value(), SLOTS))
        elif flag in ("-fa", "--flash-attn"):
            if nxt is not None and nxt.lower() in _FA_WORDS:
                values["flash_attn"] = FlashAttn.parse(nxt)
            else:  # older llama.cpp: a bare flag
                values["flash_attn"] = FlashAttn.ON
                step = 1
        elif flag in SAMPLING_FLAGS:
            sampling[SAMPLING_FLAGS[flag]] = (flag, value())
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
        unknown.append(f"--parallel {parallel}: each of the {parallel} slots gets {values['n_ctx'] // parallel} tokens")
    for kv in overrides_kv:
        unknown.append(f"--override-kv {kv}")
    if model:
        values["model_path"] = model
    if sampling:
        read = Sampling.from_mapping({k: v for k, (_, v) in sampling.items()}, "your llama.cpp command")
        values["sampling"] = read
        unknown += [f"{flag} {v}: not a number" for k, (flag, v) in sampling.items() if getattr(read, k) is None]
    values["unknown"] = unknown
    values.update(overrides)
    return Setup.of(**values)




# --- the running engine: what its API (and process) says -------------------------------------------
