"""Comparing the person's model with a reference: the policy the window uses, and what both front ends
call (core.evaluation, through this one door).

The window's comparison is meant to answer in a minute or two on a laptop: a few short chunks per
domain (`QUICK`), at a context short enough for that (`quick_run_settings`). The CLI and the
benchmark run the full texts.
"""

from __future__ import annotations

from core.evaluation.compare import Comparison, DomainResult, Provisional, compare, domain_line
from core.evaluation.comparison_text import cut_short_lines, text_summary, typical_findings, verdict, verdict_lines
from core.evaluation.domains import ALIASES, DEFAULT_DOMAINS, DOMAINS, Prompt
from core.evaluation.own_inputs import OWN_PROMPTS_DOMAIN, prompts_from, read_own_texts
from core.evaluation.scoring import EVAL_DEFAULT_CTX, EvalSettings
from core.evaluation.settings_trial import SettingsTrial, file_or_settings
from core.settings.run import RunSettings
from core.settings.setup import Setup

__all__ = [
    "ALIASES",
    "DEFAULT_DOMAINS",
    "DOMAINS",
    "EVAL_DEFAULT_CTX",
    "OWN_PROMPTS_DOMAIN",
    "QUICK",
    "Comparison",
    "DomainResult",
    "EvalSettings",
    "Prompt",
    "Provisional",
    "SettingsTrial",
    "compare",
    "cut_short_lines",
    "domain_line",
    "file_or_settings",
    "prompts_from",
    "quick_run_settings",
    "read_own_texts",
    "text_summary",
    "typical_findings",
    "verdict",
    "verdict_lines",
]

QUICK = EvalSettings(chunk=256, max_chunks=4, sample_tokens=64)


def quick_run_settings(setup: Setup, cache_k: str | None = None, cache_v: str | None = None) -> RunSettings:
    """The person's settings, with a context short enough for the quick comparison (at least two chunks,
    at most llama.cpp's evaluation default), and the cache types given (the f16 reference of a
    settings comparison)."""
    r = setup.run
    return r.replace(
        n_ctx=max(QUICK.chunk * 2, min(r.n_ctx or EVAL_DEFAULT_CTX, EVAL_DEFAULT_CTX)),
        cache_type_k=cache_k or r.cache_type_k,
        cache_type_v=cache_v or r.cache_type_v,
    )
