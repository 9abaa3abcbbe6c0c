"""What a check declares about itself (`Check`) and what it is given (`CheckInput`).

A check module is one entry point, `run(inputs: CheckInput)`, and one `CHECK = Check(...)` that says
everything else about it: its id, its place in the diagnostic order, which inputs it reads, whether
what it finds blames the quant itself, and whether the Hub can fix it. `core.checks.registry` lists
the modules; `core.diagnosis.diagnose` runs them. A check only sees the optional inputs it declares,
so the declaration is true by construction; a check that `requires` an input is skipped, with a
note, when that input is missing (the memory check without a machine profile). A check that runs
without an input it reads says so itself: its finding's status is "not checked" (finding.NOT_CHECKED),
never "fine".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from core.checks.finding import Finding
from core.checks.measurements import Measurements
from core.hardware.machine import HardwareProfile
from core.memory.plan import FitReport
from core.model.profile import ModelProfile
from core.settings.observations import Observations
from core.settings.setup import Setup

Need = Literal["profile", "setup", "hardware", "measurements", "hub_evidence", "observations"]
OPTIONAL_INPUTS: tuple[Need, ...] = ("hardware", "measurements", "hub_evidence", "observations")


@dataclass(frozen=True)
class CheckInput:
    """Everything a diagnosis knows; each check gets the parts it declared."""

    profile: ModelProfile
    setup: Setup
    hardware: HardwareProfile | None = None
    measurements: Measurements | None = None
    hub_evidence: list[str] | None = None
    observations: Observations | None = None  # log lines, live settings, a counted prompt (with sources)

    def only(self, needs: frozenset[Need]) -> CheckInput:
        """This input with every optional part the check did not declare left out."""
        return replace(
            self,
            hardware=self.hardware if "hardware" in needs else None,
            measurements=self.measurements if "measurements" in needs else None,
            hub_evidence=self.hub_evidence if "hub_evidence" in needs else None,
            observations=self.observations if "observations" in needs else None,
        )

    def missing(self, required: frozenset[Need]) -> list[Need]:
        return [name for name in OPTIONAL_INPUTS if name in required and getattr(self, name) is None]


@dataclass(frozen=True)
class Outcome:
    """A finding with what the check computed on the way that the diagnosis keeps (the memory fit)."""

    finding: Finding
    memory: FitReport | None = None


@dataclass(frozen=True)
class Explains:
    """One link from a cause this check finds to a symptom a person sees (core.settings.symptoms), with
    where that link is documented: the ranking weighs it against the person's complaint."""

    symptom: str  # a core.settings.symptoms id: "loops", "forgets", ...
    cause: str  # the cause, in plain words: "greedy decoding on a thinking model"
    source: str  # where the link is documented (a URL)


@dataclass(frozen=True)
class Check:
    id: str  # Finding.id of what it finds; the key of the JSON and of the window's cards
    order: int  # the diagnostic order: most likely cause first; ties in severity keep it
    run: Callable[[CheckInput], Finding | Outcome]
    needs: frozenset[Need] = field(default_factory=lambda: frozenset(("profile", "setup")))
    requires: frozenset[Need] = frozenset()  # needs without which it cannot run at all
    hub_fixable: bool = False  # a better download from the Hub fixes what it finds
    # What it finds blames the quant itself: a cause that a log line or the running engine confirms
    # outranks such a finding while it is only suspected from the file (core.diagnosis.rank), and the
    # headline says "Your quant looks fine" when the top cause is not one of these.
    blames_quant: bool = False
    skipped_note: str = ""  # the diagnosis note when a required input is missing
    explains: tuple[Explains, ...] = ()  # the symptoms its causes produce, each with a source

    def explains_any(self, symptoms: tuple[str, ...]) -> bool:
        return any(e.symptom in symptoms for e in self.explains)

    def __post_init__(self) -> None:
        from core.settings.symptoms import symptom_ids

        unknown = {e.symptom for e in self.explains} - set(symptom_ids())
        if unknown:
            raise ValueError(f"check {self.id}: explains unknown symptoms {sorted(unknown)}")
        if not all(e.source.startswith("https://") and e.cause for e in self.explains):
            raise ValueError(f"check {self.id}: every symptom link needs a cause and a source URL")
        if not self.requires <= self.needs:
            raise ValueError(f"check {self.id}: requires {set(self.requires - self.needs)} without needing it")
