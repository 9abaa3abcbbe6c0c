"""`diagnose`'s "what you saw" options → `Observations`: a pasted prompt counted with the model's own
tokenizer, sampling settings, the engine's version, llama.cpp's own warnings from a tokenizer probe."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from core.app.observe import count_prompt
from core.errors import SetupError
from core.files import read_head
from core.model.token_probe import MAX_PROMPT_CHARS, probe
from core.settings.observations import Observation, Observations, SamplingSeen
from core.textnum import SAMPLING, Quantity, decimal_argument, decimal_or_none

PROBE_SOURCE = "llama.cpp log (tokenizer probe)"


def _real(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number from `low` to `high` (`nan`, `inf`, `1e400` are usage errors)."""
    return decimal_argument(Quantity("a sampling setting", "", low, high))


def add_observation_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what you saw (checks beyond the quant)")
    g.add_argument(
        "--prompt-file",
        metavar="FILE",
        help="a prompt you send (system prompt, tools, document): counted with the model's own tokenizer",
    )
    g.add_argument("--temperature", "--temp", dest="temperature", type=_real(0, 100), metavar="T",
                   help="your temperature")  # fmt: skip
    g.add_argument("--repeat-penalty", type=_real(0, 100), metavar="P", help="your repetition penalty (1.0 = none)")
    g.add_argument(
        "--engine-version", metavar="V", help="your engine's version (Ollama's default context depends on it)"
    )
    g.add_argument(
        "--probe",
        action="store_true",
        help="load the model's vocabulary with llama.cpp to collect its own tokenizer warnings",
    )


_TEMPLATE = re.compile(r'^\s*TEMPLATE\s+(?:"""(.*?)"""|"((?:[^"\\]|\\.)*)"|(\S.*?))\s*$', re.S | re.M | re.I)
_PARAMETER = re.compile(r"^\s*PARAMETER\s+(temperature|repeat_penalty)\s+([-+0-9.eE]+)\s*$", re.M | re.I)
MAX_MODELFILE_CHARS = 1024 * 1024


def modelfile_observations(path: str, obs: Observations) -> None:
    """An Ollama Modelfile's TEMPLATE (the engine-side template) and sampling PARAMETERs."""
    if "\n" in path:  # the Modelfile's own text, as --from-ollama also takes it
        text = path[:MAX_MODELFILE_CHARS]
    else:  # through the file door: a FIFO or device named as the Modelfile is a plain SetupError, never waited on
        raw = read_head(path, 4 * MAX_MODELFILE_CHARS, "a Modelfile", SetupError)
        text = raw.decode("utf-8", "replace")[:MAX_MODELFILE_CHARS]
    m = _TEMPLATE.search(text)
    if m:
        template = next(g for g in m.groups() if g is not None)
        obs.engine_template = Observation(template, f"your Modelfile {Path(path).name} (TEMPLATE)")
    values = {k.lower(): n for k, v in _PARAMETER.findall(text) if (n := decimal_or_none(v, SAMPLING)) is not None}
    if values and obs.sampling is None:
        obs.sampling = SamplingSeen(
            f"your Modelfile {Path(path).name} (PARAMETER)",
            temperature=values.get("temperature"),
            repeat_penalty=values.get("repeat_penalty"),
        )


def observations_from_args(args: argparse.Namespace, model_path: str) -> Observations:
    obs = Observations(engine_version=getattr(args, "engine_version", None))
    temperature = getattr(args, "temperature", None)
    penalty = getattr(args, "repeat_penalty", None)
    if temperature is not None or penalty is not None:
        obs.sampling = SamplingSeen("your setting", temperature=temperature, repeat_penalty=penalty)
    if getattr(args, "modelfile", None):
        modelfile_observations(args.modelfile, obs)
    prompt_file = getattr(args, "prompt_file", None)
    text: str | None = None
    if prompt_file:
        # 4 bytes a character at most in UTF-8: the first MAX_PROMPT_CHARS characters, whatever the file's size.
        raw = read_head(prompt_file, 4 * MAX_PROMPT_CHARS, "a prompt file", SetupError)
        text = raw.decode("utf-8", errors="replace")[:MAX_PROMPT_CHARS]
    if text is not None:  # counted the one way both front ends count (core.app.observe)
        obs.prompt, warnings = count_prompt(model_path, text)
        obs.log += [Observation(line, PROBE_SOURCE) for line in warnings]
    elif getattr(args, "probe", False) and Path(model_path).is_file() and model_path.lower().endswith(".gguf"):
        obs.log += [Observation(line, PROBE_SOURCE) for line in probe(model_path, "Hello").log]
    return obs
