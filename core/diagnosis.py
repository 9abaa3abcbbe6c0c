"""Run the checks and rank what they found: the heart of Quant Doctor.

Problems come first, by severity; ties keep the diagnostic order (the most likely cause first).
The checks that found nothing follow as "checked — fine" with their evidence, so the person sees
what was ruled out, not only what was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.checks import registry
from core.checks.base import CheckInput, Outcome
from core.checks.finding import Finding
from core.checks.measurements import Measurements
from core.hardware.machine import HardwareProfile
from core.memory.plan import FitReport
from core.model.profile import ModelProfile
from core.settings.setup import Setup
from core.severity import SEVERITIES


@dataclass
class Diagnosis:
    model: ModelProfile
    setup: Setup
    findings: list[Finding]
    hardware: HardwareProfile | None = None
    memory: FitReport | None = None
    comparison: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    engine: Any = None  # core.engines.evidence.EngineEvidence: what the person's engine or its log said

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.is_problem]

    @property
    def ruled_out(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_problem]

    @property
    def top(self) -> Finding | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "setup": self.setup.to_dict(),
            "hardware": _as_dict(self.hardware),
            "findings": [f.to_dict() for f in self.findings],
            "memory": _as_dict(self.memory),
            "comparison": self.comparison,
            "notes": self.notes,
            "engine": _as_dict(self.engine),
        }


def _as_dict(obj: Any) -> Any:
    if obj is None:
        return None
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else obj


def rank(findings: list[Finding]) -> list[Finding]:
    ordered = sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), registry.order_of(f.id)))
    for i, f in enumerate(ordered, start=1):
        f.rank = i
    return ordered


def diagnose(
    profile: ModelProfile,
    setup: Setup,
    hardware: HardwareProfile | None = None,
    measurements: Measurements | None = None,
    hub_evidence: list[str] | None = None,
    comparison: dict[str, Any] | None = None,
    engine: Any = None,
) -> Diagnosis:
    """Run every registered check (core.checks.registry) on what is known, and rank what they found."""
    given = CheckInput(profile, setup, hardware, measurements, hub_evidence)
    findings: list[Finding] = []
    memory = None
    notes: list[str] = []
    for check in registry.ordered():
        if given.missing(check.requires):
            notes.append(
                check.skipped_note or f"The {check.id} check was skipped: {', '.join(check.requires)} missing."
            )
            continue
        result = check.run(given.only(check.needs))
        if isinstance(result, Outcome):
            memory = result.memory if result.memory is not None else memory
            result = result.finding
        findings.append(result)
    if setup.unknown:
        notes.append("Settings not understood (ignored): " + "; ".join(setup.unknown))
    if engine is not None:
        notes.extend(engine.lines())
    return Diagnosis(profile, setup, rank(findings), hardware, memory, comparison, notes, engine)
