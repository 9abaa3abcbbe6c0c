"""Run the checks and rank what they found: the heart of Quant Doctor.

Problems come first, by severity; ties keep the diagnostic order (the most likely cause first).
The checks that found nothing follow as "checked — fine" with their evidence, so the person sees
what was ruled out, not only what was found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.checks import architecture, calibration, finetune, kv_cache, quant_tier
from core.checks.finding import CHECK_ORDER, SEVERITIES, Finding
from core.checks.measurements import Measurements
from core.model.profile import ModelProfile
from core.settings.setup import Setup

Check = Callable[[ModelProfile, Any, Setup, Measurements | None], Finding]


@dataclass
class Diagnosis:
    model: ModelProfile
    setup: Setup
    findings: list[Finding]
    hardware: Any = None
    memory: Any = None
    comparison: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

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
        }


def _as_dict(obj: Any) -> Any:
    if obj is None:
        return None
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else obj


def rank(findings: list[Finding]) -> list[Finding]:
    ordered = sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), CHECK_ORDER.index(f.id)))
    for i, f in enumerate(ordered, start=1):
        f.rank = i
    return ordered


def diagnose(
    profile: ModelProfile,
    setup: Setup,
    hardware: Any = None,
    measurements: Measurements | None = None,
    hub_evidence: list[str] | None = None,
    comparison: dict[str, Any] | None = None,
) -> Diagnosis:
    findings = [
        quant_tier.check(profile, hardware, setup, measurements),
        kv_cache.check(profile, hardware, setup, measurements),
        architecture.check(profile, hardware, setup, measurements),
        calibration.check(profile, hardware, setup, measurements),
        finetune.check(profile, hardware, setup, measurements, hub_evidence),
    ]
    memory = None
    notes: list[str] = []
    from core.checks import vram

    vram_finding, memory = vram.check_with_estimate(profile, hardware, setup, measurements)
    if vram_finding is not None:
        findings.append(vram_finding)
    else:
        notes.append("The memory check was skipped: no machine profile was available.")
    if setup.unknown:
        notes.append("Settings not understood (ignored): " + "; ".join(setup.unknown))
    return Diagnosis(profile, setup, rank(findings), hardware, memory, comparison, notes)
