"""Measured evidence the checks read: the comparison's own per-domain numbers, with no conversion.

The numbers are `core.evaluation.metrics.DomainMetrics`, the very objects a comparison holds, under
the comparison's own domain names (general, code, multilingual, math, long, and the person's own
texts). What a comparison is evidence *about* depends on what it compared:

- two files (a quant against a higher-precision file): the quant → `quant`;
- the same file with an f16 cache as the reference and the person's cache as the candidate: the
  KV cache → `kv_cache` (the candidate's numbers) and `kv_baseline` (the reference's own: its
  perplexity, and no divergence from itself);
- "Is it the file or my settings?" (core.evaluation.settings_trial): the file with the person's
  settings → `kv_cache`, with safe ones → `kv_baseline` (and, against a separate reference, `quant`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from core.evaluation.metrics import DomainMetrics

if TYPE_CHECKING:
    from core.evaluation.compare import Comparison
    from core.evaluation.settings_trial import SettingsTrial

__all__ = ["DomainMetrics", "Measured", "Measurements", "comparison_from_dict", "load_comparison"]

# What a comparison hands the diagnosis, as the comparison made it: one Comparison (two files, or one
# file under two settings), or the "file or settings?" trial, which holds its Comparisons. The checks
# read the Measurements derived from it; the reports and the window read it directly.
Measured: TypeAlias = "Comparison | SettingsTrial"


@dataclass
class Measurements:
    """`quant`: the file against a higher-precision reference. `kv_cache`: the file with the person's
    settings; `kv_baseline`: the same file with an f16 cache, against the same reference."""

    quant: dict[str, DomainMetrics] = field(default_factory=dict)
    kv_cache: dict[str, DomainMetrics] = field(default_factory=dict)
    kv_baseline: dict[str, DomainMetrics] = field(default_factory=dict)
    quant_type: str | None = None  # the measured file's label (GGUF file type), for "N× what is typical"

    @classmethod
    def of(cls, measured: Measured) -> Measurements:
        """The evidence in a comparison or a file-or-settings trial."""
        from core.evaluation.settings_trial import SettingsTrial

        if isinstance(measured, SettingsTrial):
            return cls.from_trial(measured)
        return cls.from_comparison(measured)

    @classmethod
    def from_comparison(cls, c: Comparison) -> Measurements:
        if c.what == "settings":
            return cls(kv_cache=dict(c.metrics), kv_baseline={d: _itself(m) for d, m in c.metrics.items()})
        return cls(quant=dict(c.metrics), quant_type=c.candidate_type)

    @classmethod
    def from_trial(cls, t: SettingsTrial) -> Measurements:
        if t.safe is None:
            return cls.from_comparison(t.theirs)
        return cls(
            quant=dict(t.safe.metrics), kv_cache=dict(t.theirs.metrics), kv_baseline=dict(t.safe.metrics),
            quant_type=t.safe.candidate_type,
        )  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurements:
        """A saved `compare --json` (or `compare --file-or-settings --json`) output."""
        return cls.of(comparison_from_dict(data))


def _itself(m: DomainMetrics) -> DomainMetrics:
    """The reference's own numbers: its perplexity, and no divergence from itself."""
    return DomainMetrics.of(m.ppl_reference, m.ppl_reference, 0.0, 1.0, m.tokens)


def comparison_from_dict(data: dict[str, Any]) -> Measured:
    """A saved `compare --json` output as the comparison it was: a Comparison, or (with "theirs") the
    file-or-settings trial. Raises KeyError, TypeError or ValueError on what is not one."""
    from core.evaluation.compare import Comparison

    if "theirs" in data:
        from core.evaluation.settings_trial import SettingsTrial

        safe = Comparison.from_dict(data["safe"]) if data.get("safe") else None
        return SettingsTrial(Comparison.from_dict(data["theirs"]), safe, str(data.get("answer", "")),
                             str(data.get("explanation", "")), int(data.get("context", 0)), data.get("capped"))  # fmt: skip
    return Comparison.from_dict(data)


def load_comparison(path: str) -> Measured:
    """A comparison saved by `quantdoctor-cli compare --json` (the CLI's `diagnose --measurements FILE`);
    anything else is a SetupError with the fix."""
    from core import jsonfile
    from core.errors import SetupError
    from core.files import user_path

    fix = "Run the comparison again with --json and pass its output file."
    data = jsonfile.load(user_path(path, SetupError), "saved comparison", SetupError, fix=fix)
    try:
        return comparison_from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SetupError(f"{path} is not a comparison saved by `quantdoctor-cli compare --json` ({exc}).", fix) from exc
