"""The model Hub, through the one door: better quants of the person's model, the reference to compare
with, a download, and model ids suggested as they type. Every call here degrades to a plain note or a
typed error when the Hub cannot be reached; the front ends never talk to the Hub themselves."""

from __future__ import annotations

from core.app.case import Case
from core.checks import registry as checks
from core.engines.registry import effective_ctx
from core.hub import Alternatives, Downloaded, download, fetch_card, find_alternatives, reference_file
from core.hub.download import _format_bytes as format_bytes
from core.hub.fit import default_fit, memory_fit, parse_gpu_budget, simple_fit
from core.hub.search import MIN_QUERY, is_offline, search_model_ids
from core.progress import Job, Progress

__all__ = [
    "MIN_QUERY",
    "Alternatives",
    "Downloaded",
    "alternatives_job",
    "default_fit",
    "download",
    "effective_ctx",
    "fetch_card",
    "find_alternatives",
    "fixes",
    "format_bytes",
    "is_offline",
    "memory_fit",
    "parse_gpu_budget",
    "reference_file",
    "search_model_ids",
    "simple_fit",
]


def fixes(finding_id: str) -> bool:
    """Whether a better download from the Hub fixes what this check found (its `hub_fixable`)."""
    return finding_id in checks.hub_fixable()


def alternatives_job(case: Case, expected: str | None) -> Job[Alternatives]:
    """Quants of the model the person expected (None: what this file quantizes) that fit their machine
    (or a default budget before the machine is known), at the context their engine really uses."""
    yield Progress("Asking the Hub for quants of " + (expected or "this model"))
    if case.profile is None:
        raise ValueError("no model in the case")
    fits = memory_fit(case.hardware) if case.hardware is not None else default_fit
    ctx = effective_ctx(case.setup, case.profile.context_length)
    return find_alternatives(case.profile, expected, ctx=ctx, workload=case.setup.workload, fits=fits)
