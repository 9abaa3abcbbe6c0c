"""The person's case: everything known about one model on one machine with one setup.

Both front ends hold one `Case` (inside a `core.app.session.Session`); what they show is derived
from it, never kept beside it. The comparison lives here once, beside the model it was made for:
the checks' measurements are derived from it, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.app.observe import with_pasted
from core.checks.measurements import Measured, Measurements
from core.diagnosis import Diagnosis, diagnose
from core.engines.evidence import EngineEvidence, for_model
from core.evaluation.compare import Comparison
from core.evaluation.settings_trial import SettingsTrial
from core.hardware.machine import HardwareProfile
from core.model.profile import ModelProfile
from core.settings.observations import Observations, PromptCount
from core.settings.setup import Setup


@dataclass(frozen=True)
class Case:
    """One snapshot of what is known. Frozen: an operation that changes the case makes a new one, so a
    job running off the UI thread reads a snapshot that nothing changes under it."""

    profile: ModelProfile | None = None
    setup: Setup = field(default_factory=Setup)
    hardware: HardwareProfile | None = None
    engine: EngineEvidence | None = None  # what the person's app or its log said beside its settings
    comparison: Comparison | None = None
    trial: SettingsTrial | None = None  # "is it the file or my settings?": two comparisons
    observations: Observations | None = None  # a counted prompt, log lines typed in (CLI)
    hub_evidence: list[str] | None = None  # what the Hub says this file quantizes
    symptoms: tuple[str, ...] = ()  # what went wrong, in the person's words (core.settings.symptoms)
    prompt: PromptCount | None = None  # the prompt the person pasted, counted with the model's tokenizer
    prompt_text: str = ""  # that prompt, kept to count it again for another model
    app_template: str | None = None  # the chat template the person's app applies, pasted

    @property
    def measured(self) -> Measured | None:
        """What was measured, as it was measured: the file-or-settings trial, else the comparison."""
        return self.trial if self.trial is not None else self.comparison

    @property
    def measurements(self) -> Measurements | None:
        """The evidence the checks read, derived from what was measured (never held beside it)."""
        measured = self.measured
        return Measurements.of(measured) if measured is not None else None

    def with_(self, **changes: Any) -> Case:
        return replace(self, **changes)

    def with_model(self, profile: ModelProfile) -> Case:
        """A new model: what was measured on the previous one no longer applies."""
        return replace(self, profile=profile, comparison=None, trial=None, prompt=None)

    def diagnose(self) -> Diagnosis:
        """Run every registered check on what is known (the profile must be known)."""
        if self.profile is None:
            raise ValueError("no model in the case")
        setup, engine = self.setup, for_model(self.engine, self.profile)
        if engine is not self.engine:
            # What the app or log said names another file: the fixes name the file diagnosed, never that one
            # (its command line, -m included, was the other model's run).
            setup = replace(setup, model_path=self.profile.path, command=None)
        return diagnose(
            self.profile, setup, self.hardware, self.measured, hub_evidence=self.hub_evidence,
            engine=engine, observations=with_pasted(self.observations, self.prompt, self.app_template),
            symptoms=self.symptoms,
        )  # fmt: skip
