"""What a check concludes: a `Finding` with its evidence, why it matters, and a fix to apply."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from core.engines.base import FixStep
from core.severity import SEVERITIES

__all__ = ["CONFIDENCES", "SEVERITIES", "Finding", "FixStep"]  # SEVERITIES: core.severity

CONFIDENCES = ("suspected", "likely", "confirmed-by-measurement")


@dataclass
class Finding:
    """`id` is the id of the check that found it (core.checks.registry), which also places it in the ranking."""

    id: str
    severity: str
    title: str
    evidence: list[str] = field(default_factory=list)
    why: str = ""
    fix: list[FixStep] = field(default_factory=list)
    confidence: str = "suspected"
    rank: int = 0

    def __post_init__(self) -> None:
        assert self.severity in SEVERITIES, self.severity
        assert self.confidence in CONFIDENCES, self.confidence

    @property
    def is_problem(self) -> bool:
        return self.severity != "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
