"""Measured evidence the checks can use: what the side-by-side comparison found.

Kept independent of the evaluation engine's own classes so the checks can be tested with plain
numbers, and fed from a `Comparison` (or a saved report) by `from_comparison`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DomainMetrics:
    ppl_reference: float
    ppl_candidate: float
    kld_mean: float
    top1_agreement: float
    tokens: int = 0

    @property
    def ppl_ratio(self) -> float:
        return self.ppl_candidate / self.ppl_reference if self.ppl_reference else float("inf")


@dataclass
class Measurements:
    """`quant`: the quant against a higher-precision reference, per domain (prose, code, ...).
    `kv_cache`: the same file with the person's cache type against an f16 cache, per domain."""

    quant: dict[str, DomainMetrics] = field(default_factory=dict)
    kv_cache: dict[str, DomainMetrics] = field(default_factory=dict)
    kv_baseline: dict[str, DomainMetrics] = field(default_factory=dict)  # f16 cache vs reference, if measured

    @staticmethod
    def from_metrics(metrics: dict[str, dict[str, Any]]) -> dict[str, DomainMetrics]:
        """From the `metrics` mapping of a comparison's JSON ({domain: {ppl_reference, ...}})."""
        return {
            domain: DomainMetrics(
                ppl_reference=float(m["ppl_reference"]),
                ppl_candidate=float(m["ppl_candidate"]),
                kld_mean=float(m["kld_mean"]),
                top1_agreement=float(m["top1_agreement"]),
                tokens=int(m.get("tokens", 0)),
            )
            for domain, m in metrics.items()
        }


# The evaluation engine calls the everyday-prose domain "general"; the checks call it "prose".
_DOMAIN_NAMES = {"general": "prose"}


def measurements_from_comparison(comparison: dict[str, Any], kind: str | None = None) -> Measurements:
    """A comparison's JSON (`compare --json`, `Comparison.to_dict()`) as evidence for the checks.

    `kind` "settings" (the same file with an f16 cache against the person's cache) is evidence about
    the KV cache; a comparison of two files, or with a server, is evidence about the quant.
    """
    metrics = {_DOMAIN_NAMES.get(d, d): m for d, m in comparison.get("metrics", {}).items()}
    domains = Measurements.from_metrics(metrics)
    if (kind or comparison.get("what")) == "settings":
        return Measurements(kv_cache=domains)
    return Measurements(quant=domains)
