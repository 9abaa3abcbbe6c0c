"""What the person's own engine told us — from its API and process, or from its log — for the diagnosis.

The settings themselves go into the `Setup`; this keeps the rest: where they came from, what the
engine would not say (and where that setting lives), the log's warnings that point away from the
quant, and the estimate-vs-reality table. Checks that weigh log warnings read `warnings`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace
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
    # Set when what the app or log said is about another model than the file diagnosed (`about_model`):
    # then its warnings, layer counts and memory figures are not applied, and every view says so first.
    other_model: str | None = None
    # Set when it only names another file than the one diagnosed (nothing it said contradicts the file):
    # it is applied, and every view says so first.
    other_file: str | None = None

    @property
    def warnings(self) -> list[LogWarning]:
        return list(self.log.warnings) if self.log and self.other_model is None else []

    def lines(self) -> list[str]:
        """Plain sentences for the diagnosis notes."""
        if self.other_model is not None:
            return [self.other_model, f"Settings read from {self.source}.", *self.notes]
        out = [self.other_file] if self.other_file else []
        out.append(f"Settings read from {self.source}.")
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
            "other_model": self.other_model,
            "other_file": self.other_file,
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
    return path if path and _size(path) is not None else None


# --- is the evidence about the file diagnosed? ------------------------------------------------------------


@dataclass(frozen=True)
class ModelCheck:
    """How what an app or a log said relates to the file diagnosed: `proven` when a fact of the model it
    ran contradicts the file (its layer count, its training context, a file of another size at the path
    it names); otherwise `note` says only that it names another file, where that is so."""

    proven: bool
    note: str | None  # the flag every view shows first (None: nothing to say)
    refusal: str | None = None  # the plain message where the evidence is refused instead (proven only)


def about_model(evidence: EngineEvidence, profile: ModelProfile) -> ModelCheck:
    """Whether `evidence` is about `profile`'s file. Never a substring match: a path is the same file
    (or a file of the same size where the path exists here), a layer count and a training context are equal."""
    said_path, facts = _what_it_ran(evidence)
    if said_path and _same_file(said_path, profile):
        return ModelCheck(False, None)  # the very file: the strongest identity there is
    here = Path(profile.path).name
    differs: list[str] = []
    own = {"layers": profile.block_count, "tokens of training context": profile.context_length}
    for what, theirs in facts:
        ours = own[what]
        if theirs is not None and ours is not None and theirs != ours:
            differs.append(f"{theirs:,} {what} (this file: {ours:,})")
    if said_path:
        size = _size(said_path)
        if size is not None and size != profile.file_size:
            differs.append(f"a file of {size:,} bytes (this file: {profile.file_size:,})")
    source = evidence.source
    if differs:
        ran = f"it ran {said_path}" if said_path else "it ran another model"
        what = f"{source} is from another model ({ran}: {'; '.join(differs)})"
        return ModelCheck(True, (
            f"Not about this model: {what}. Its warnings, layer counts and memory figures were not applied to "
            f"{here}; import the log or connect the app that runs {here}, or open the model it names."
        ), f"{what[0].upper()}{what[1:]}, not from {here}.")  # fmt: skip
    if said_path and Path(said_path).name != here:
        return ModelCheck(False, (
            f"{source[0].upper()}{source[1:]} names another file ({said_path}); nothing it said contradicts {here}, so it was applied. "
            f"If it is another model, import the log of {here}'s run instead."
        ))  # fmt: skip
    return ModelCheck(False, None)


def for_model(evidence: EngineEvidence | None, profile: ModelProfile) -> EngineEvidence | None:
    """The evidence as the diagnosis of `profile` may use it: unchanged when it is about this file, with a
    note when it only names another file, and without its model-specific parts (log warnings, the estimate
    beside its buffers) — flagged first in every view — when it is about another model."""
    if evidence is None:
        return None
    check = about_model(evidence, profile)
    if check.note is None:
        return evidence
    if not check.proven:
        return evidence if evidence.other_file == check.note else replace(evidence, other_file=check.note)
    # refused as evidence: nothing of it reaches a check (the log's lines, the app's answers), only the flag
    return replace(evidence, log=None, engine=None, vs_estimate=None, other_model=check.note)


def _what_it_ran(evidence: EngineEvidence) -> tuple[str | None, list[tuple[str, int | None]]]:
    """(the model path it names, [(what, its number)]): what a log or an app says of the model it ran."""
    if evidence.log is not None:
        r = evidence.log
        return r.model_path, [("layers", r.n_layer), ("tokens of training context", r.n_ctx_train)]
    if evidence.engine is not None:
        e = evidence.engine
        loaded = next((m for m in e.models if m.path and m.path == e.model_path), None) or e.loaded
        return e.model_path, [("tokens of training context", loaded.n_ctx_train if loaded else None)]
    return None, []


def _same_file(path: str, profile: ModelProfile) -> bool:
    if path == profile.path:
        return True
    try:
        return os.path.samefile(path, profile.path)
    except (OSError, ValueError):
        return False


def _size(path: str) -> int | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None
