"""What the person's own engine told us — from its API and process, or from its log — for the diagnosis.

The settings themselves go into the `Setup`; this keeps the rest: where they came from, what the
engine would not say (and where that setting lives), the log's warnings that point away from the
quant, and the estimate-vs-reality table. Checks that weigh log warnings read `warnings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.engines.found import FoundEngine
from core.engines.log_vs_estimate import EstimateVsLog, compare_with_log
from core.engines.logs import LogReading, LogWarning
from core.errors import QuantDoctorError
from core.model.profile import ModelProfile


@dataclass
class EngineEvidence:
    source: str
    engine: FoundEngine | None = None
    log: LogReading | None = None
    vs_estimate: EstimateVsLog | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[LogWarning]:
        return list(self.log.warnings) if self.log else []

    def lines(self) -> list[str]:
        """Plain sentences for the diagnosis notes."""
        out = [f"Settings read from {self.source}."]
        if self.engine:
            out += [f"{self.engine.label} says: {f}" for f in self.engine.facts]
            out += self.engine.missing + self.engine.warnings
        if self.log:
            r = self.log
            if r.offloaded:
                out.append(f"The log says {r.offloaded[0]} of {r.offloaded[1]} layers were offloaded to the GPU.")
            if r.n_ctx_seq and r.n_ctx and r.n_ctx != r.n_ctx_seq:
                out.append(f"The log's context: {r.n_ctx_seq:,} tokens per conversation, {r.n_ctx:,} in all "
                           f"({r.n_seq_max} slots).")  # fmt: skip
            out += [f"Log warning ({w.kind}, {w.count}x): {w.meaning} — e.g. line {w.first_line}: {w.lines[0]}"
                    for w in r.warnings]  # fmt: skip
            out += r.notes
        if self.vs_estimate is not None:
            out.append(self.vs_estimate.verdict)
            out += self.vs_estimate.notes
        out += self.notes
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "engine": self.engine.to_dict() if self.engine else None,
            "log": self.log.to_dict() if self.log else None,
            "estimate_vs_log": self.vs_estimate.to_dict() if self.vs_estimate else None,
            "notes": list(self.notes),
        }


def log_evidence(reading: LogReading, profile: ModelProfile | None) -> EngineEvidence:
    ev = EngineEvidence(source=f"the log {reading.name}", log=reading)
    if profile is not None and reading.buffers:
        try:
            ev.vs_estimate = compare_with_log(reading, profile)
        except QuantDoctorError as err:
            ev.notes.append(f"The estimate could not be set beside the log: {err.message}")
    elif reading.buffers:
        ev.notes.append("The model file the log names is not on this machine: the estimate was not compared.")
    return ev


def engine_evidence(found: FoundEngine) -> EngineEvidence:
    return EngineEvidence(source=f"{found.label} at {found.url}", engine=found)


def model_on_disk(path: str | None) -> str | None:
    return path if path and Path(path).is_file() else None
