"""The llama.cpp run options every command shares, spelled as llama.cpp spells them.

`diagnose`, `fit` and `compare` all take `-c -ctk -ctv -fa on|off|auto -ngl -b -ub -t`; the older
spellings (`--ctx`, a bare `-fa`, `--no-flash-attn`, `--batch`, `--ubatch`, `--n-gpu-layers -1`)
keep working, so scripts written for earlier versions still run.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any

from core.errors import SetupError
from core.settings.run import (
    CACHE_TYPES,
    MAX_BATCH,
    MAX_CONTEXT,
    MAX_GPU_LAYERS,
    MAX_THREADS,
    FlashAttn,
    RunSettings,
)
from core.textnum import Quantity, read_whole, shown

_FA_FLAGS = ("-fa", "--flash-attn")
_FA_WORDS = {"on", "off", "auto", "true", "false", "1", "0", "enabled", "disabled"}


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """A bare `-fa` (older llama.cpp, older Quant Doctor) means on; `--no-flash-attn` means off."""
    out: list[str] = []
    for i, tok in enumerate(argv):
        if tok == "--no-flash-attn":
            out += ["--flash-attn", "off"]
            continue
        out.append(tok)
        if tok in _FA_FLAGS:
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is None or nxt.lower() not in _FA_WORDS:
                out.append("on")
    return out


def _at_most(what: str, maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number no larger than `maximum` (RunSettings' own bound), else a usage
    error, so `-c 1000000000000000000000` never reaches the estimate. A value too small is left to
    RunSettings, which says why it is not possible (`-c -5`). The reading is the numbers door's
    (core.textnum): ASCII digits only, and no more digits than any real quantity has."""
    written = Quantity(f"a number of {what}", what, -math.inf, math.inf)  # the range is checked below

    def parse(text: str) -> int:
        parsed = read_whole(text, written)
        if parsed.value is None:
            why = "" if parsed.reason == "is not a whole number" else f": it {parsed.reason}"
            raise argparse.ArgumentTypeError(f"'{shown(text)}' is not a whole number of {what}{why}")
        if parsed.value > maximum:
            raise argparse.ArgumentTypeError(
                f"{parsed.value:,} {what} is not possible: the most that means anything is {maximum:,}"
            )
        return parsed.value

    parse.__name__ = "number"
    return parse


_LAYER_COUNT = _at_most("layers", MAX_GPU_LAYERS)


def _layers(text: str) -> int:
    if text.strip().lower() in ("all", "auto", "-1"):
        return -1
    try:
        return _LAYER_COUNT(text)
    except argparse.ArgumentTypeError as exc:
        if "not a whole number" in str(exc):
            raise argparse.ArgumentTypeError(f"'{shown(text)}' is not a number of layers (or 'all')") from None
        raise


def add_run_arguments(p: argparse.ArgumentParser, *, title: str = "how llama.cpp runs the model") -> None:
    """Every default is None: "not given", so imported settings and each command's own defaults apply."""
    g = p.add_argument_group(title)
    g.add_argument("-c", "--ctx-size", "--ctx", dest="ctx", type=_at_most("tokens", MAX_CONTEXT), metavar="N",
                   help="context length in tokens (default: the engine's; llama.cpp uses the model's own)")  # fmt: skip
    g.add_argument("-ctk", "--cache-type-k", dest="cache_type_k", choices=CACHE_TYPES, metavar="T",
                   help="KV cache type for K: " + ", ".join(CACHE_TYPES) + " (default f16)")  # fmt: skip
    g.add_argument("-ctv", "--cache-type-v", dest="cache_type_v", choices=CACHE_TYPES, metavar="T",
                   help="KV cache type for V (default f16)")  # fmt: skip
    g.add_argument("-fa", "--flash-attn", dest="flash_attn", choices=[f.value for f in FlashAttn], metavar="on|off|auto",
                   type=str.lower, help="flash attention (default auto, llama.cpp's default)")  # fmt: skip
    g.add_argument("-ngl", "--n-gpu-layers", "--gpu-layers", dest="n_gpu_layers", type=_layers, metavar="N|all",
                   help="layers offloaded to the GPU (default: all that fit; 0: CPU only)")  # fmt: skip
    g.add_argument("-b", "--batch-size", "--batch", dest="n_batch", type=_at_most("tokens", MAX_BATCH), metavar="N",
                   help="logical batch size (default 2048)")  # fmt: skip
    g.add_argument("-ub", "--ubatch-size", "--ubatch", dest="n_ubatch", type=_at_most("tokens", MAX_BATCH), metavar="N",
                   help="physical batch size (default 512)")  # fmt: skip
    g.add_argument("-t", "--threads", dest="n_threads", type=_at_most("threads", MAX_THREADS), metavar="N",
                   help="CPU threads (default: the physical cores)")  # fmt: skip


def given_run_values(args: argparse.Namespace) -> dict[str, Any]:
    """The run options the person actually gave, by RunSettings field name."""
    names = ("cache_type_k", "cache_type_v", "flash_attn", "n_gpu_layers", "n_batch", "n_ubatch", "n_threads")
    values = {n: getattr(args, n, None) for n in names}
    values["n_ctx"] = getattr(args, "ctx", None)
    if values["n_ctx"] is not None and values["n_ctx"] < 0:
        raise SetupError(f"A context of {values['n_ctx']} tokens is not possible.", "Give -c 0 or more.")
    if values["n_ctx"] == 0:  # llama.cpp's -c 0: the model's own context
        values["n_ctx"] = None
    return {k: v for k, v in values.items() if v is not None}


def run_settings_from_args(args: argparse.Namespace, **defaults: Any) -> RunSettings:
    """RunSettings from the shared options; `defaults` fill what the person did not give."""
    values = given_run_values(args)
    return RunSettings(**{**defaults, **values})
