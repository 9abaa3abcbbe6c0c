"""The person's app, through the engine registry: what can be read from it and how.

Everything here comes from the engines' own declarations (core.engines.registry): the readers the
CLI's `--from-…` options and the Setup page's "Import from…" menu are made of, the servers a scan
knocks on, the logs it understands. A new engine module appears here without an edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.engines import registry
from core.engines.base import COPY_KIND_WORDS, FixStep, ReadsFrom, SettingsReader
from core.engines.evidence import EngineEvidence, about_model, engine_evidence, log_evidence, model_on_disk
from core.engines.found import FoundEngine, ScanResult
from core.engines.live import PROBE_SECONDS, SCAN_SECONDS, connect, parse_address, scan
from core.engines.logs import read_log, usual_log_files
from core.engines.paste import is_number
from core.errors import EngineLogError, EngineNotFoundError, QuantDoctorError, SetupError
from core.model.inspection import inspect_model
from core.model.profile import ModelProfile
from core.progress import Job, Progress
from core.settings.setup import Setup

__all__ = [
    "PROBE_SECONDS",
    "SCAN_SECONDS",
    "ReadsFrom",
    "SettingsReader",
    "connect_setup",
    "copy_words",
    "effective_ctx",
    "engine_ids",
    "engine_name",
    "evidence_of",
    "is_number",
    "log_job",
    "log_setup",
    "model_on_disk",
    "parse_address",
    "reader",
    "readers",
    "scan",
    "scan_job",
    "usual_log_files",
]


def engine_ids() -> tuple[str, ...]:
    """Every registered engine's id, in the order menus list them."""
    return registry.ids()


def engine_name(engine_id: str) -> str:
    return registry.get(engine_id).name


def effective_ctx(setup: Setup, model_ctx: int | None) -> int:
    """The context the setup's engine really uses for a model trained for `model_ctx` tokens."""
    return registry.effective_ctx(setup, model_ctx)


def copy_words(step: FixStep) -> str:
    """What a fix's copy field holds, for the label above it: "Command for Ollama", "Modelfile lines";
    empty when the step has nothing to paste."""
    kind = step.copy_kind
    if kind is None:
        return ""
    engine = registry.ENGINES.get(step.engine or "")
    return COPY_KIND_WORDS[kind] + (f" for {engine.name}" if engine else "")


def readers() -> list[SettingsReader]:
    """Every way any registered engine's settings can be read, in registry order."""
    return [r for engine in registry.ENGINES.values() for r in engine.readers]


def reader(option: str) -> SettingsReader:
    found = next((r for r in readers() if r.option == option), None)
    if found is None:
        raise SetupError(
            f"'{option}' is not a kind of settings Quant Doctor can import.",
            f"Use one of: {', '.join(r.option for r in readers())}.",
        )
    return found


def scan_job(ports: list[int], seconds: float = SCAN_SECONDS, probe_seconds: float = PROBE_SECONDS,
             addresses: list[tuple[str, int]] | None = None, everywhere: bool = True) -> Job[ScanResult]:  # fmt: skip
    """Every app answering on this machine's loopback: each engine's default ports, the ports the person's
    own apps listen on, `ports`, and the `addresses` they typed (each checked by `parse_address`); without
    `everywhere`, only `ports` and `addresses` (a test beside engines it did not start)."""
    yield Progress("Looking for your apps on this machine")
    return scan(ports=ports, seconds=seconds, probe_seconds=probe_seconds, addresses=addresses or (),
                defaults=everywhere)  # fmt: skip


def nothing_answered(result: ScanResult, typed: str | None = None) -> str:
    """What the Connect panel says when no app answered: where it looked, and what to do next."""
    where = f"at {typed}" if typed else "on this computer"
    looked = f" (looked at ports {', '.join(str(p) for p in result.ports)})" if result.ports else ""
    lines = [f"No app answered {where}{looked}.",
             "Start yours and load the model, then try again. If it listens on another port, type its address "
             "below, or import its log instead."]  # fmt: skip
    return "\n".join(lines + result.notes)


def evidence_of(found: FoundEngine) -> EngineEvidence:
    """What a running app said beside its settings, for the checks and the notes."""
    return engine_evidence(found)


def connect_setup(
    spec: str, given: dict[str, Any], model: str | None = None
) -> tuple[Setup, EngineEvidence]:
    """One running app (`ollama[:MODEL]`, `llama-server[:URL]`…): its settings (the person's `given` win)
    and what else it said. With `model` (the file the person diagnoses), an app running another model is
    refused with a plain message: what it says is not about that file."""
    found = connect(spec)
    if found.setup is None:
        raise SetupError(f"{found.summary()}.", "Load a model in it (or name one), then try again.")
    values = {("ctx" if k == "n_ctx" else k): v for k, v in given.items()}
    evidence = engine_evidence(found)
    if model is not None:
        _refuse_other_model(evidence, inspect_model(model), EngineNotFoundError,
                            f"Load {Path(model).name} in it (or name it, e.g. ollama:MODEL), or diagnose the model "
                            "it runs (leave the file out).")  # fmt: skip
        values["model_path"] = model
    return Setup.of(**{**found.setup.to_dict(), **values}), evidence


def log_setup(path: str, given: dict[str, Any] | None = None, model: str | None = None) -> tuple[Setup, EngineEvidence]:
    """An engine's log: the settings it ran with (the person's `given` win) and what else it said, checked
    against the model file (`model`, else the one the log names when it is on this computer). A log of
    another model than `model` (its layer count, its training context, its file) is refused with a plain
    message, never applied to `model`."""
    reading = read_log(path)
    on_disk = model or model_on_disk(reading.model_path)
    profile = inspect_model(on_disk) if on_disk else None
    evidence = log_evidence(reading, profile)
    values = dict(given or {})
    if model is not None and profile is not None:
        _refuse_other_model(evidence, profile, EngineLogError,
                            f"Import the log of {Path(model).name}'s run, or diagnose the model the log names "
                            "(leave the file out).")  # fmt: skip
        values["model_path"] = model  # the fixes name the file diagnosed
    return reading.setup(**values), evidence


def _refuse_other_model(
    evidence: EngineEvidence, profile: ModelProfile, error: type[QuantDoctorError], fix: str
) -> None:
    check = about_model(evidence, profile)
    if check.proven:
        raise error(check.refusal or "What your app said is about another model.", fix)
    evidence.other_file = check.note


def log_job(path: str) -> Job[tuple[Setup, EngineEvidence]]:
    yield Progress("Reading the log")
    return log_setup(path)
