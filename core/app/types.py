"""The value types the front ends may hold and show, in one list (docs/ARCHITECTURE.md, "What the front
ends may touch").

`gui` and `core.cli` import the session layer (`core.app.*`) and these types, never the domain
packages themselves (`core.checks`, `core.engines`, `core.memory`, `core.hub`, `core.evaluation`:
an import-linter contract in pyproject.toml). They are plain data: holding one decides nothing.
"""

from __future__ import annotations

from core.checks.finding import CONFIDENCE_WORDS, Finding, FixStep
from core.checks.measurements import Measurements
from core.diagnosis import Diagnosis
from core.engines.base import COPY_KIND_WORDS, CopyKind
from core.engines.evidence import EngineEvidence
from core.engines.found import FoundEngine, ScanResult
from core.evaluation.compare import Comparison, DomainResult
from core.evaluation.domains import Prompt
from core.evaluation.scoring import EvalSettings
from core.evaluation.settings_trial import SettingsTrial
from core.hardware.machine import HardwareProfile
from core.hub import Alternatives, Downloaded
from core.memory.plan import FitReport
from core.model.discovery import FoundModel
from core.model.profile import ModelProfile
from core.settings.run import CACHE_TYPES, FlashAttn, RunSettings
from core.settings.sampling import Sampling
from core.settings.setup import WORKLOADS, Setup
from core.settings.symptoms import Symptom, symptom_ids, symptoms

__all__ = [
    "CACHE_TYPES",
    "CONFIDENCE_WORDS",
    "COPY_KIND_WORDS",
    "WORKLOADS",
    "Alternatives",
    "Comparison",
    "CopyKind",
    "Diagnosis",
    "DomainResult",
    "Downloaded",
    "EngineEvidence",
    "EvalSettings",
    "Finding",
    "FitReport",
    "FixStep",
    "FlashAttn",
    "FoundEngine",
    "FoundModel",
    "HardwareProfile",
    "Measurements",
    "ModelProfile",
    "Prompt",
    "RunSettings",
    "Sampling",
    "ScanResult",
    "SettingsTrial",
    "Setup",
    "Symptom",
    "symptom_ids",
    "symptoms",
]
