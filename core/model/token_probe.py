"""Ask llama.cpp itself how it tokenizes a prompt for this model, and what it warns about.

Counting a pasted prompt with the model's own tokenizer is the only count that matches what the
engine sees; and llama.cpp, while loading the vocabulary and tokenizing, prints the warnings that
point away from the quant (a missing pre-tokenizer, a doubled BOS). The probe loads the vocabulary
only (no weights: fast, little memory) in a child process, since llama.cpp may abort() on a broken
file. Where llama-cpp-python is missing or the child fails, the count falls back to a bounded
approximation and says so.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from core import jsonfile
from core.children import child_env, module_command
from core.errors import QuantDoctorError

MAX_PROMPT_CHARS = 4 * 1024 * 1024  # a pasted prompt beyond 4 MiB is cut before counting
CHARS_PER_TOKEN = 4.0  # English prose on BPE tokenizers; the approximation says it is one
TIMEOUT_S = 60.0


@dataclass
class ProbeResult:
    tokens: int | None
    exact: bool
    method: str
    log: list[str] = field(default_factory=list)  # llama.cpp's warnings and errors, as printed
    error: str | None = None


def approximate_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN)) if text else 0


def probe(model_path: str | os.PathLike[str], text: str, timeout: float = TIMEOUT_S) -> ProbeResult:
    """Tokenize `text` as llama.cpp would for this model (BOS added as the model asks, special tokens
    parsed), in a child; never raises for llama.cpp trouble."""
    text = text[:MAX_PROMPT_CHARS]
    with tempfile.TemporaryDirectory(prefix="qd-probe-") as tmp:
        prompt = Path(tmp) / "prompt.txt"
        prompt.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run(
                module_command("core.model.token_probe_child", str(model_path), str(prompt)),
                capture_output=True,
                timeout=timeout,
                env=child_env(),
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return _approx(text, f"the tokenizer probe did not finish ({exc.__class__.__name__})")
    log = [ln.rstrip() for ln in done.stderr.decode("utf-8", "replace").splitlines() if _worth_keeping(ln)]
    last = done.stdout.decode("utf-8", "replace").strip().splitlines()[-1:] if done.stdout else []
    try:  # the child's one answer line (token_probe_child), through the one JSON loader
        answer = jsonfile.loads(last[0], "the tokenizer probe's answer") if last else {}
    except QuantDoctorError:
        answer = {}
    if done.returncode != 0 or "tokens" not in answer:
        result = _approx(text, answer.get("error") or f"the tokenizer probe failed (exit code {done.returncode})")
        result.log = log
        return result
    return ProbeResult(int(answer["tokens"]), True, "the model's own tokenizer (llama.cpp)", log)


def _approx(text: str, why: str) -> ProbeResult:
    return ProbeResult(
        approximate_tokens(text), False, f"an approximation (~{CHARS_PER_TOKEN:g} characters a token; {why})", error=why
    )


# llama.cpp's own warnings that matter to the diagnosis (LOG_FORMATS.md, section 5), and its errors.
_KEEP = (
    "pre-tokenizer",
    "generation quality will be degraded",
    "2 bos tokens",
    "added a bos token",
    "added a eos token",
    "special_eos_id is not in special_eog_ids",
    "error loading",
    "failed to",
)


def _worth_keeping(line: str) -> bool:
    low = line.lower()
    if "- kv " in low or low.startswith("model metadata"):
        return False
    return any(k in low for k in _KEEP) and len(line) < 2000
