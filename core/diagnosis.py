"""Run the checks and rank what they found: the heart of Quant Doctor.

Problems come first, by severity; ties keep the diagnostic order (the most likely cause first).
The checks that found nothing follow as "checked — fine" with their evidence, so the person sees
what was ruled out, not only what was found; the checks that could not look say so themselves
(`Finding.status`), and are never counted as fine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.checks import registry
from core.checks.base import CheckInput, Outcome
from core.checks.engine_observations import from_engine
from core.checks.finding import CONFIDENCE_RANK, NOT_CHECKED, Finding
from core.checks.measurements import Measured, Measurements
from core.engines import registry as engines
from core.hardware.machine import HardwareProfile
from core.memory.plan import FitReport
from core.model.profile import ModelProfile
from core.settings import symptoms as vocabulary
from core.settings.observations import Observations
from core.settings.setup import Setup
from core.severity import SEVERITIES

if TYPE_CHECKING:
    from core.evaluation.compare import Comparison


@dataclass
class Diagnosis:
    model: ModelProfile
    setup: Setup
    findings: list[Finding]
    hardware: HardwareProfile | None = None
    memory: FitReport | None = None
    # What was measured, as the comparison made it (a Comparison, or the file-or-settings trial): the
    # checks read the Measurements derived from it, the reports show it.
    comparison: Measured | None = None
    notes: list[str] = field(default_factory=list)
    engine: Any = None  # core.engines.evidence.EngineEvidence: what the person's engine or its log said
    symptoms: tuple[str, ...] = ()  # what went wrong, in the person's words (core.settings.symptoms ids)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.is_problem]

    @property
    def ruled_out(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_problem]

    def is_unchecked(self, f: Finding) -> bool:
        """A check that could not look is "not checked", never "fine": the check says so (`Finding.status`)."""
        return f.status == NOT_CHECKED

    @property
    def unchecked(self) -> list[Finding]:
        """The checks that could not look (shown as "Not checked", in grey, in every view)."""
        return [f for f in self.ruled_out if self.is_unchecked(f)]

    @property
    def fine(self) -> list[Finding]:
        """The checks that looked and found nothing wrong."""
        return [f for f in self.ruled_out if not self.is_unchecked(f)]

    @property
    def compared(self) -> Comparison | None:
        """The comparison the reports show: the one measured, or in a file-or-settings trial the file with
        the person's settings (what the window's Compare page shows too); None when nothing was measured."""
        if self.comparison is None:
            return None
        from core.evaluation.settings_trial import SettingsTrial

        return self.comparison.theirs if isinstance(self.comparison, SettingsTrial) else self.comparison

    @property
    def measurements(self) -> Measurements | None:
        """The evidence the checks read, derived from the comparison."""
        return Measurements.of(self.comparison) if self.comparison is not None else None

    @property
    def top(self) -> Finding | None:
        return self.problems[0] if self.problems else None

    @property
    def headline(self) -> str | None:
        """One line saying where to look first — and, when the top cause is not the quant, that the quant is
        probably not the problem ("Your quant looks fine; the prompt is being cut to 4,096 tokens")."""
        return headline(self.findings, self.symptoms)

    @property
    def explains(self) -> list[Finding]:
        """The problems whose cause produces what the person saw, most likely first."""
        return [f for f in self.problems if explains(f, self.symptoms)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "setup": self.setup.to_dict(),
            "hardware": _as_dict(self.hardware),
            "findings": [f.to_dict() for f in self.findings],
            "memory": _as_dict(self.memory),
            "comparison": _as_dict(self.comparison),
            "notes": self.notes,
            "engine": _as_dict(self.engine),
            "headline": self.headline,
            "symptoms": list(self.symptoms),
        }


def _as_dict(obj: Any) -> Any:
    if obj is None:
        return None
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else obj


def blames_quant(f: Finding) -> bool:
    """Whether the check that found `f` blames the quant itself (its `Check.blames_quant`)."""
    check = registry.CHECKS.get(f.id)
    return check is not None and check.blames_quant


def explains(f: Finding, symptoms: tuple[str, ...]) -> bool:
    """Whether this finding's check declares that its causes produce one of these symptoms."""
    return bool(symptoms) and f.id in registry.CHECKS and registry.get(f.id).explains_any(symptoms)


def rank(findings: list[Finding], symptoms: tuple[str, ...] = ()) -> list[Finding]:
    """What the person saw first: a warning or worse whose cause produces one of their symptoms comes
    before everything else (core.checks.base.Explains, with its sources). Then severity, confidence and
    the diagnostic order. A cause that a log line or the live engine confirms outranks a quant that is
    only suspected from the file: an unmeasured quant-tier finding ranks no higher than the most severe
    confirmed non-quant problem (warning or worse)."""
    weighed = vocabulary.weighed(symptoms)
    confirmed = [
        SEVERITIES.index(f.severity)
        for f in findings
        if not blames_quant(f) and f.confirmed and f.severity in ("critical", "warning")
    ]
    floor = min(confirmed) if confirmed else 0

    def key(f: Finding) -> tuple[int, int, int, int, int]:
        # found, then fine, then not checked: every view shows them in this order, so the numbers run on
        group = 0 if f.is_problem else 2 if f.status == NOT_CHECKED else 1
        sev = SEVERITIES.index(f.severity)
        if blames_quant(f) and f.is_problem and f.confidence != "confirmed-by-measurement":
            sev = max(sev, floor)
        heard = 0 if f.severity in ("critical", "warning") and explains(f, weighed) else 1
        return group, heard, sev, CONFIDENCE_RANK[f.confidence] if f.is_problem else 0, registry.order_of(f.id)

    ordered = sorted(findings, key=key)
    for i, f in enumerate(ordered, start=1):
        f.rank = i
    return ordered


def _lower_first(text: str) -> str:
    """ "The prompt..." -> "the prompt...", but "YaRN", "KV" and "Q4_K_M" keep their capitals."""
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if len(first) == 1 or first[1:].islower() else text


def headline(findings: list[Finding], symptoms: tuple[str, ...] = ()) -> str | None:
    """Where to look first. With the person's symptoms: the cause that explains them ("For loops, the
    most likely cause: …"), or plainly that nothing seen explains them, with the one input that would."""
    problems = [f for f in findings if f.severity in ("critical", "warning")]
    weighed = vocabulary.weighed(symptoms)
    if weighed:
        said = vocabulary.short_words(weighed)
        heard = [f for f in problems if explains(f, weighed)]
        if heard:
            return f"For {said}, the most likely cause: {_lower_first(heard[0].title)}"
        missing = next((f for f in findings if f.status == NOT_CHECKED and explains(f, weighed) and f.fix), None)
        ask = missing.fix[0].text if missing is not None else vocabulary.symptoms()[weighed[0]].ask
        return f"Nothing found so far explains {said}. {ask.rstrip('.')}."
    if not problems:
        return None
    top = problems[0]
    if blames_quant(top):
        return top.title
    if top.confidence == "suspected":
        return f"Worth checking first: {_lower_first(top.title)}"
    quant = next((f for f in findings if blames_quant(f)), None)
    if quant is None or quant.severity in ("ok", "info"):
        return f"Your quant looks fine; {_lower_first(top.title)}"
    return f"Look here before the quant: {_lower_first(top.title)}"


def diagnose(
    profile: ModelProfile,
    setup: Setup,
    hardware: HardwareProfile | None = None,
    comparison: Measured | None = None,
    hub_evidence: list[str] | None = None,
    engine: Any = None,
    observations: Observations | None = None,
    symptoms: tuple[str, ...] = (),
) -> Diagnosis:
    """Run every registered check (core.checks.registry) on what is known, and rank what they found,
    the causes of what the person saw (`symptoms`) first.

    `comparison` is what a comparison measured, as it made it (core.evaluation's Comparison, or its
    file-or-settings trial); the checks read the Measurements derived from it."""
    # What the person's engine or its log said (live's EngineEvidence) joins what they typed or pasted.
    seen = from_engine(engine, observations or Observations())
    # Nothing set: the fixes are written for the engine whose folder the model was found in.
    setup = engines.for_model(setup, profile.path)
    measurements = Measurements.of(comparison) if comparison is not None else None
    given = CheckInput(profile, setup, hardware, measurements, hub_evidence, seen)
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
        # evidence about another file (EngineEvidence.other_model / other_file) is said before anything else
        flags = [f for f in (engine.other_model, engine.other_file) if f]
        notes = [*flags, *notes, *(line for line in engine.lines() if line not in flags)]
    return Diagnosis(profile, setup, rank(findings, symptoms), hardware, memory, comparison, notes, engine, symptoms)
