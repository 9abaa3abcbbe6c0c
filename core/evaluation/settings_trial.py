""" "Is it the file or my settings?": the person's file run twice in our llama.cpp, measured.

Once with their settings (cache types, flash attention, their context) and once with safe ones (an
f16 cache), both against the same reference: a higher-precision file when there is one, else the
file itself with the safe settings. Texts are scored at the person's own context (capped by this
machine's memory, and said so), because a q4 cache that is fine at 512 tokens can fail at 16K.

- their run much worse than the safe run → the settings are the cause;
- the safe run itself bad against a higher-precision reference (or far above what is typical for
  the file's label) → the file is;
- both, or neither.

The two comparisons become measured evidence for the kv-cache check (core.checks.measurements).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import EvaluationSetupError
from core.evaluation.compare import Comparison, compare
from core.evaluation.domains import Prompt
from core.evaluation.long_context import long_chunk
from core.evaluation.scoring import EVAL_DEFAULT_CTX, EvalSettings
from core.evaluation.verdicts import Verdict, far_above_typical, judge, table
from core.files import real_path, user_path
from core.numbers import plain
from core.progress import Job, Progress
from core.settings.run import RunSettings, is_quantized_cache

SAFE_CACHE = "f16"
KLD_RATIO_SETTINGS = 2.0  # their loss at least this many times the safe run's: the settings cost accuracy


@dataclass
class SettingsTrial:
    """The two runs and what they say."""

    theirs: Comparison  # the file with the person's settings against the reference
    safe: Comparison | None  # the file with safe settings against a separate reference (None: the file is its own)
    answer: str  # settings | file | both | neither | not-settings
    explanation: str
    context: int  # the context the texts were scored at
    capped: str | None = None  # why the context is below the person's, when it is

    def baselines(self) -> dict[str, tuple[float, float]]:
        """{domain: (safe run's mean KLD, its perplexity)}; KLD 0 when the reference is the file itself."""
        if self.safe is not None:
            return {d: (m.kld_mean, m.ppl_candidate) for d, m in self.safe.metrics.items()}
        return {d: (0.0, m.ppl_reference) for d, m in self.theirs.metrics.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer, "explanation": self.explanation, "context": self.context, "capped": self.capped,
            "theirs": self.theirs.to_dict(), "safe": self.safe.to_dict() if self.safe else None,
        }  # fmt: skip


def safe_settings(theirs: RunSettings) -> RunSettings:
    """The person's settings with an f16 cache (flash attention left to llama.cpp)."""
    from core.settings.run import FlashAttn

    return theirs.replace(cache_type_k=SAFE_CACHE, cache_type_v=SAFE_CACHE, flash_attn=FlashAttn.AUTO)


def _real(path: str) -> Path:
    return real_path(user_path(path, EvaluationSetupError), EvaluationSetupError)


def file_or_settings(
    model: str,
    theirs: RunSettings,
    reference: str | None = None,
    eval_settings: EvalSettings | None = None,
    domains: list[str] | None = None,
    texts: dict[str, str] | None = None,
    own_prompts: list[Prompt] | None = None,
    available_memory: int | None = None,
) -> Job[SettingsTrial]:
    """Run the file with the person's settings and with safe ones, against one reference; say which is to blame."""
    ev = eval_settings or EvalSettings()
    ctx = theirs.n_ctx or EVAL_DEFAULT_CTX
    models = [model, *([reference] if reference and Path(reference).is_file() else [])]
    context, capped = long_chunk(models, ctx, available_memory)
    ev = replace(ev, long_chunk=context)
    ref_source = reference or model
    # a loop of links, a NUL or `~nosuchuser` is a plain error here (core.files), not a traceback
    separate = reference is not None and _real(reference) != _real(model)
    safe = safe_settings(theirs)
    wanted = ["long"] if domains is None else domains
    yield Progress("Your settings: scoring your file as you run it")
    theirs_cmp: Comparison = yield from compare(
        ref_source, model, safe, theirs, wanted, False, ev, samples_per_domain=0, with_samples=False,
        texts=texts, own_prompts=own_prompts, full=True,  # two runs weighed against each other: the same chunks
    )  # fmt: skip
    safe_cmp = None
    if separate:
        yield Progress("Safe settings: scoring your file with an f16 cache")
        safe_cmp = yield from compare(
            ref_source, model, safe, safe, wanted, False, ev, samples_per_domain=0, with_samples=False, texts=texts,
            full=True,
        )  # fmt: skip
    answer, explanation = _judge(theirs_cmp, safe_cmp, theirs)
    if capped:
        theirs_cmp.notes.append(capped)
    return SettingsTrial(theirs_cmp, safe_cmp, answer, explanation, context, capped)


def _band(v: Verdict) -> int:
    order = [b.id for b in table().bands]
    return order.index(v.band) if v.band in order else 0


def _judge(theirs: Comparison, safe: Comparison | None, settings: RunSettings) -> tuple[str, str]:
    settings_cost: list[str] = []
    file_bad: list[str] = []
    for d, m in theirs.metrics.items():
        v = judge(m.kld_mean, m.top1_agreement)
        base_kld = 0.0
        base_band = 0
        if safe is not None and d in safe.metrics:
            s = safe.metrics[d]
            base_kld = s.kld_mean
            sv = judge(s.kld_mean, s.top1_agreement)
            base_band = _band(sv)
            if _band(sv) >= 2 or far_above_typical(safe.candidate_type, s.kld_mean):
                file_bad.append(f"{d}: {sv.words} with safe settings (mean KL divergence {plain(s.kld_mean)})")
        worse = _band(v) > base_band and (base_kld == 0 or m.kld_mean >= KLD_RATIO_SETTINGS * base_kld)
        if worse and _band(v) >= 1:
            base = f"{plain(base_kld)} with an f16 cache" if safe is not None else "0 with an f16 cache, the reference"
            settings_cost.append(f"{d}: {v.words} with your settings (mean KL divergence {plain(m.kld_mean)}; {base})")
    yours = settings.describe()
    if settings_cost and file_bad:
        return "both", f"Both: your settings ({yours}) cost accuracy, and the file is bad even with safe ones. " + (
            "; ".join(settings_cost + file_bad)
        )
    if settings_cost:
        cache = " (a quantized KV cache)" if is_quantized_cache(settings.cache_type_v) or is_quantized_cache(
            settings.cache_type_k) else ""  # fmt: skip
        return "settings", (
            f"Your settings are the cause{cache}: with an f16 cache the same file is fine. " + "; ".join(settings_cost)
        )
    if file_bad:
        return "file", "The file is the cause: it is bad even with safe settings. " + "; ".join(file_bad)
    if safe is None:
        return "not-settings", (
            "Your settings are not the cause: with them the file gives the same answers as with an f16 cache. To judge "
            "the file itself, run this with a higher-precision file of the same model as the reference."
        )
    return "neither", "Neither: with your settings and with safe ones the file stays close to the reference."
