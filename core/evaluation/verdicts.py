"""What a comparison's numbers mean, in words, from a published reference table (resources/verdicts.json).

A mean KL divergence of 0.07 means nothing to most people; "noticeable loss, like a Q4_0 of LLaMA 3
8B" does. The table ships as data with a source for every figure (llama.cpp's
tools/perplexity/README.md), and the thresholds live only there: `bands` maps mean KLD and the
same-top-token share to five verdicts, worst of the two wins; `types` holds the loss published for
each quant type, which tells a file that is bad *for its label* (a broken upload) from one that is
simply a low-bit type. docs/VERDICTS.md explains how the boundaries were placed.

The overall verdict of a comparison (`overall`) is the verdict most of the scored tokens get, with
every domain that reads worse named on its own line: the rule, and why, is in docs/VERDICTS.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core import jsonfile
from core.errors import EvaluationSetupError
from core.numbers import percent, plain

TABLE_FILE = "verdicts.json"


@dataclass(frozen=True)
class Band:
    id: str
    words: str
    kld_below: float | None  # None: the last band, no upper bound
    top1_at_least: float | None
    why: str = ""


@dataclass(frozen=True)
class Typical:
    """The loss a published measurement found for one quant type, against FP16."""

    type: str
    kld_mean: float
    same_top: float | None
    source: str
    row: str


@dataclass(frozen=True)
class Table:
    bands: tuple[Band, ...]
    types: dict[str, Typical]
    sources: dict[str, dict[str, str]]
    far_above_typical: float
    reference_precision: str
    reference_note: str
    noise_floor: float


@dataclass(frozen=True)
class Verdict:
    """One domain's (or the whole comparison's) verdict: the band, and which number put it there."""

    band: str  # a Band id: identical, small, noticeable, heavy, damaged
    words: str
    by: str  # "KL divergence" or "top-token agreement": the worse of the two decides

    def to_dict(self) -> dict[str, str]:
        return {"verdict": self.band, "words": self.words, "decided_by": self.by}


OVERALL_RULE = "the verdict most of the scored tokens get (a token-weighted median over domains)"


@dataclass(frozen=True)
class Overall:
    """A comparison's overall verdict, and the domains that read worse than it (never hidden)."""

    verdict: Verdict
    share: float  # the share of scored tokens whose domain reads this verdict or better
    domains: tuple[str, ...]  # the domains that read this verdict or better
    worse: tuple[tuple[str, Verdict], ...]  # the domains that read worse, worst first

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.verdict.to_dict(), "rule": OVERALL_RULE, "share": round(self.share, 4),
            "domains": list(self.domains), "worse": {d: v.to_dict() for d, v in self.worse},
            "worst_domain": self.worse[0][0] if self.worse else None,
        }  # fmt: skip


@lru_cache(maxsize=1)
def table() -> Table:
    from core.paths import resources_dir

    path = resources_dir() / TABLE_FILE
    try:
        data: dict[str, Any] = jsonfile.load(path, "verdict table", EvaluationSetupError)
    except EvaluationSetupError as exc:
        raise EvaluationSetupError(
            f"The verdict table {path} is missing or damaged.", "Reinstall Quant Doctor: its resources are incomplete."
        ) from exc
    bands = tuple(
        Band(b["id"], b["words"], b.get("kld_below"), b.get("top1_at_least"), b.get("why", "")) for b in data["bands"]
    )
    types = {
        name.upper(): Typical(name, float(t["kld_mean"]), t.get("same_top"), t["source"], t["row"])
        for name, t in data["types"].items()
    }
    return Table(
        bands, types, data["sources"], float(data["far_above_typical"]), data["reference_precision"],
        data["reference_note"], float(data["noise_floor"]["kld_mean"]),
    )  # fmt: skip


def _band_index(value: float, bound: str, bands: tuple[Band, ...]) -> int:
    for i, b in enumerate(bands):
        limit = getattr(b, bound)
        if limit is None:
            return i
        if (value < limit) if bound == "kld_below" else (value >= limit):
            return i
    return len(bands) - 1


def judge(kld_mean: float, top1_agreement: float | None = None) -> Verdict:
    """The verdict for a mean KLD and (optionally) a same-top-token share; the worse of the two wins."""
    bands = table().bands
    if math.isnan(kld_mean):
        return Verdict("unknown", "not measured", "")
    by_kld = _band_index(kld_mean, "kld_below", bands)
    by_top = by_kld
    if top1_agreement is not None and not math.isnan(top1_agreement):
        by_top = _band_index(top1_agreement, "top1_at_least", bands)
    i = max(by_kld, by_top)
    return Verdict(bands[i].id, bands[i].words, "KL divergence" if by_kld >= by_top else "top-token agreement")


def typical(type_name: str | None) -> Typical | None:
    """The published loss for a quant type ("Q4_K_M", "q4_k_m"); None for types the table does not hold."""
    if not type_name:
        return None
    return table().types.get(type_name.strip().upper())


def times_typical(type_name: str | None, kld_mean: float) -> float | None:
    """How many times the published loss for the file's type this loss is (None when the type is not listed)."""
    t = typical(type_name)
    if t is None or t.kld_mean <= 0 or math.isnan(kld_mean):
        return None
    return kld_mean / t.kld_mean


def far_above_typical(type_name: str | None, kld_mean: float) -> float | None:
    """The multiple when it is far above typical for the type (a broken conversion or upload), else None."""
    n = times_typical(type_name, kld_mean)
    return n if n is not None and n >= table().far_above_typical else None


def typical_sentence(type_name: str) -> str:
    """ "For a Q4_K_M, llama.cpp measured a mean KL divergence of 0.0313 against FP16 (LLaMA 3 8B)"."""
    t = typical(type_name)
    if t is None:
        return f"No published figure for {type_name}."
    top = f", the same top token {percent(t.same_top)} of the time" if t.same_top else ""
    return (
        f"For a {type_name.upper()}, llama.cpp measured a mean KL divergence of {plain(t.kld_mean)}{top} against "
        f"{table().reference_precision} (LLaMA 3 8B, in its tools/perplexity/README.md)"
    )


def _rank(v: Verdict) -> int:
    order = [b.id for b in table().bands]
    return order.index(v.band) if v.band in order else -1


def overall(per_domain: Mapping[str, tuple[Verdict, int]]) -> Overall | None:
    """The overall verdict from each domain's verdict and number of scored tokens.

    It is the weighted median of the domains' verdicts, weighted by scored tokens: the worst verdict
    that at least half of the scored tokens get or are worse than (so at least half read it or
    better, and at least half read it or worse; an exact tie goes to the worse). Verdicts are ordered
    words, not numbers, so their median is the summary that one odd domain cannot drag; the domains
    that read worse are returned so the summary can name each of them. Unmeasured domains do not
    count; None when no domain was measured. docs/VERDICTS.md says why not the worst domain, and why
    not one mean KL divergence over all tokens.
    """
    judged = {d: (v, max(0, int(n))) for d, (v, n) in per_domain.items() if _rank(v) >= 0}
    if not judged:
        return None
    if not any(n for _v, n in judged.values()):
        judged = {d: (v, 1) for d, (v, _n) in judged.items()}
    total = sum(n for _v, n in judged.values())
    ranked = sorted(judged.items(), key=lambda kv: -_rank(kv[1][0]))  # worst first
    reached = 0
    chosen = ranked[-1][1][0]
    for _d, (v, n) in ranked:
        reached += n
        if 2 * reached >= total:
            chosen = v
            break
    at = _rank(chosen)
    band = table().bands[at]
    worse = tuple((d, v) for d, (v, _n) in ranked if _rank(v) > at)
    within = tuple(d for d in per_domain if d in judged and _rank(judged[d][0]) <= at)
    share = sum(judged[d][1] for d in within) / total
    return Overall(Verdict(band.id, band.words, "most of the scored tokens"), share, within, worse)
