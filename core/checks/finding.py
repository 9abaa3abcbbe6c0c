"""What a check concludes: a `Finding` with its evidence, why it matters, and a fix to apply."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.engines.base import FixStep
from core.severity import SEVERITIES

__all__ = [
    "CONFIDENCES",
    "CONFIDENCE_RANK",
    "CONFIDENCE_WORDS",
    "QUANT_CHECKS",
    "SEVERITIES",
    "Finding",
    "FixStep",
]  # SEVERITIES: core.severity

# "confirmed": a log line or a setting the running engine reported shows the cause;
# "confirmed-by-measurement": the comparison measured it; "likely": the file's metadata says so;
# "suspected": a rule of thumb.
CONFIDENCES = ("suspected", "likely", "confirmed", "confirmed-by-measurement")
# How sure a finding is, in plain words: the badge the window shows and the report prints.
CONFIDENCE_WORDS = {
    "confirmed-by-measurement": "Confirmed by measurement",
    "confirmed": "Confirmed by your app",
    "likely": "Likely",
    "suspected": "Suspected",
}
CONFIDENCE_RANK = {"confirmed-by-measurement": 0, "confirmed": 0, "likely": 1, "suspected": 2}

QUANT_CHECKS = ("quant-tier",)  # the checks that blame the quant itself (see core.diagnosis.rank)


@dataclass
class Finding:
    """`id` is the id of the check that found it (core.checks.registry), which also places it in the ranking."""

    id: str
    severity: str
    title: str
    evidence: list[str] = field(default_factory=list)  # in plain words, for the person
    why: str = ""
    fix: list[FixStep] = field(default_factory=list)
    confidence: str = "suspected"
    rank: int = 0
    # The technical lines behind the evidence (metadata keys, type names, devices): shown under
    # "Details", for the expert and for bug reports; plain words come first (issue 16 item 9).
    details: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.severity in SEVERITIES, self.severity
        assert self.confidence in CONFIDENCES, self.confidence

    @property
    def is_problem(self) -> bool:
        return self.severity != "ok"

    @property
    def confirmed(self) -> bool:
        return self.confidence in ("confirmed", "confirmed-by-measurement")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
