"""What a person does, as plain operations on their case: the one door both front ends use.

The window's `gui.state.AppState` is a thin Qt adapter over a `Session` (it runs the operations'
jobs off the UI thread and turns `apply` into signals); the CLI calls the same operations in line.
Neither front end decides anything about the domain: they show what the session gives them.

An operation that takes time is an `Op`: a `job` (a generator of progress events, run anywhere,
cancellable between yields) and an `apply` that puts its result into the case — unless a later
request of the same kind was made meanwhile, so an earlier answer finishing late never wins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, TypeVar

from core.app.case import Case
from core.diagnosis import Diagnosis
from core.engines.evidence import EngineEvidence
from core.evaluation.compare import Comparison
from core.evaluation.settings_trial import SettingsTrial
from core.hardware import detect_hardware
from core.hardware.machine import HardwareProfile
from core.model.inspection import inspect_model
from core.model.profile import ModelProfile
from core.progress import Job, Progress
from core.settings.observations import Observations, PromptCount
from core.settings.setup import Setup

T = TypeVar("T")


@dataclass(frozen=True)
class Op(Generic[T]):
    """A slow operation: `job()` makes the generator to run (off the UI thread in the window);
    `apply(result)` puts the result into the case and says whether it did (False: overtaken)."""

    kind: str
    job: Callable[[], Job[T]]
    apply: Callable[[T], bool]


def _inspect_job(path: str) -> Job[ModelProfile]:
    yield Progress("Reading the model file", 0, 1)
    return inspect_model(path)


def _detect_job() -> Job[HardwareProfile]:
    yield Progress("Looking at this machine's GPUs", 0, 1)
    return detect_hardware()


class Session:
    """The case and the operations on it. Not thread-safe by design: `apply` and the setters run on
    one thread (the window's UI thread, or the CLI's only one); jobs read a frozen snapshot."""

    def __init__(self, case: Case | None = None) -> None:
        self.case = case or Case()
        self.diagnosis: Diagnosis | None = None
        self.detected: HardwareProfile | None = None  # this machine, as last looked at
        self.what_if: str | None = None  # the catalog card the person is trying instead, if any
        self._latest: Counter[str] = Counter()  # the newest request of each kind
        self._running: Counter[str] = Counter()  # jobs of each kind not yet applied or dropped

    # -- requests and their tickets ---------------------------------------------------------------
    def _op(self, kind: str, job: Callable[[], Job[T]], put: Callable[[T], None]) -> Op[T]:
        self._latest[kind] += 1
        ticket = self._latest[kind]

        def apply(result: T) -> bool:
            if ticket != self._latest[kind]:
                return False
            put(result)
            return True

        return Op(kind, job, apply)

    def expire(self) -> None:
        """Nothing asked so far may report back any more (the window is closing)."""
        for kind in list(self._latest):
            self._latest[kind] += 1

    def pending(self, kind: str) -> bool:
        """Whether a request of this kind is still the newest and has not been applied: e.g. "the machine
        is being looked at right now" (the Advice page says so, and only then)."""
        return self._running[kind] > 0

    def started(self, kind: str) -> None:
        self._running[kind] += 1

    def ended(self, kind: str) -> None:
        self._running[kind] = max(0, self._running[kind] - 1)

    # -- the model -------------------------------------------------------------------------------
    def open_model(self, path: str) -> Op[ModelProfile]:
        """Read a model file or folder (read-only); applying it starts a new case for that model."""
        return self._op("open", lambda: _inspect_job(path), self.set_profile)

    def set_profile(self, profile: ModelProfile) -> None:
        self.case = self.case.with_model(profile)

    def load_model(self, path: str) -> ModelProfile:
        """The same as `open_model`, in line (the CLI)."""
        profile = inspect_model(path)
        self.set_profile(profile)
        return profile

    # -- the machine -----------------------------------------------------------------------------
    def detect_machine(self) -> Op[HardwareProfile]:
        """Look at this machine; the case takes it unless the person is trying a card from the catalog."""

        def put(hardware: HardwareProfile) -> None:
            self.detected = hardware
            if self.what_if is None:
                self.case = self.case.with_(hardware=hardware)

        return self._op("machine", _detect_job, put)

    def choose_machine(self, gpu_name: str | None) -> HardwareProfile | None:
        """None: this machine as detected; a name: "what if I had…" that card from the catalog, with this
        computer's CPU and RAM. Returns the machine the case now has (None: not detected yet)."""
        from core.hardware.catalog import catalog_profile

        hardware = self.detected if gpu_name is None else catalog_profile(gpu_name, self.detected)
        self.what_if = gpu_name
        if hardware is not None:
            self.case = self.case.with_(hardware=hardware)
        return hardware

    def set_hardware(self, hardware: HardwareProfile | None) -> None:
        """A machine given outright (a saved profile, a test): it wins over a detection still running."""
        self._latest["machine"] += 1
        self.what_if = None
        self.case = self.case.with_(hardware=hardware)

    # -- the setup and what the person's app said --------------------------------------------------
    def set_setup(self, setup: Setup, engine: EngineEvidence | None = None) -> None:
        """New settings; `engine` is what the app or log said beside them (kept until settings come
        from somewhere else)."""
        self.case = self.case.with_(setup=setup, engine=engine if engine is not None else self.case.engine)

    def set_engine_evidence(self, evidence: EngineEvidence | None) -> None:
        self.case = self.case.with_(engine=evidence)

    def take_settings(self, setup: Setup, evidence: EngineEvidence | None = None) -> str | None:
        """Settings that came from the person's app, its log or an import: they replace the setup, keep
        what the person said they do (workload, expected model), and replace what an app said before
        (None: settings from elsewhere, so nothing an app said applies any more). Returns the model
        file to open when the settings name another one that is on this computer, else None."""
        keep = self.case.setup
        setup = replace(setup, workload=keep.workload, expected=keep.expected) if evidence is not None else setup
        self.case = self.case.with_(setup=setup, engine=evidence)
        path = setup.model_path
        current = self.case.profile.path if self.case.profile else None
        return path if path and Path(path).exists() and str(Path(path)) != str(current) else None

    def import_settings(self, option: str, value: str | None) -> str | None:
        """Read settings with one of the engines' readers (core.app.engines.readers: a command, a file,
        the environment); what the person typed about their work is kept. Returns the model to open."""
        from core.app.engines import reader

        keep = self.case.setup
        setup = reader(option).read(value, workload=keep.workload, expected=keep.expected)
        return self.take_settings(setup, None)

    # -- measurements ----------------------------------------------------------------------------
    def set_comparison(
        self, comparison: Comparison | None, for_path: str | None = None, trial: SettingsTrial | None = None
    ) -> bool:
        """Apply a finished comparison (or trial), unless the model on screen changed while it ran."""
        profile = self.case.profile
        if for_path is not None and (profile is None or profile.path != for_path):
            return False
        self.case = self.case.with_(comparison=comparison, trial=trial)
        return True

    def load_comparison(self, path: str) -> None:
        """A comparison saved by `compare --json` joins the case as measured evidence (after the model:
        a new model starts a new case)."""
        from core.checks.measurements import load_comparison

        measured = load_comparison(path)
        if isinstance(measured, SettingsTrial):
            self.case = self.case.with_(comparison=measured.theirs, trial=measured)
        else:
            self.case = self.case.with_(comparison=measured, trial=None)

    def set_symptoms(self, symptoms: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """What went wrong, as the person says it: each known, each once (an unknown one is a SetupError)."""
        from core.settings.symptoms import parse_symptoms

        parsed = parse_symptoms(symptoms)
        self.case = self.case.with_(symptoms=parsed)
        return parsed

    def count_prompt(self, text: str) -> Op[PromptCount] | None:
        """The prompt the person pasted (their system prompt, tools, a document), counted with the model's
        own tokenizer off the UI thread; None when it is empty (then nothing is counted)."""
        from core.app.observe import count_prompt_job

        path = self.case.profile.path if self.case.profile else None
        if not text.strip():
            self.case = self.case.with_(prompt=None, prompt_text="")
            return None
        self.case = self.case.with_(prompt_text=text)

        def put(count: PromptCount) -> None:
            self.case = self.case.with_(prompt=count)

        return self._op("prompt", lambda: count_prompt_job(path, text), put)

    def set_app_template(self, text: str | None) -> None:
        """The chat template the person's app applies, pasted (compared with the file's by its markers)."""
        self.case = self.case.with_(app_template=text if text and text.strip() else None)

    def set_observations(self, observations: Observations | None) -> None:
        """What the person typed or pasted beside the settings: log lines, a prompt counted with the
        model's own tokenizer, the sampler they use."""
        self.case = self.case.with_(observations=observations)

    def ask_hub(self) -> None:
        """Ask the model Hub what this file quantizes, against the model the person expected (never
        raises for Hub trouble: a Hub that cannot be reached is a line of evidence, not an error)."""
        from core.hub.evidence import hub_finetune_evidence

        if self.case.profile is None or not self.case.setup.expected:
            return
        found = hub_finetune_evidence(self.case.profile, self.case.setup.expected)
        self.case = self.case.with_(hub_evidence=found.evidence_lines())

    # -- the diagnosis ---------------------------------------------------------------------------
    def diagnose_op(self) -> Op[Diagnosis] | None:
        """The checks on the case as it is now (None before a model is open). Off the UI thread in the
        window: the memory check searches contexts and layer splits with llama.cpp's graph replayed,
        half a second on a 70B model. The newest request wins."""
        if self.case.profile is None:
            return None
        snapshot = self.case

        def job() -> Job[Diagnosis]:
            yield Progress("Running the checks")
            return snapshot.diagnose()

        def put(d: Diagnosis) -> None:
            self.diagnosis = d

        return self._op("diagnose", job, put)

    def diagnose(self) -> Diagnosis:
        """The same, in line (the CLI)."""
        self.diagnosis = self.case.diagnose()
        return self.diagnosis


def saved_setup(raw: str) -> Setup | None:
    """A setup the window saved last time (JSON), or None when it is damaged, from an older version, or
    names an engine this version no longer knows: then the defaults."""
    from core import jsonfile
    from core.engines.registry import get
    from core.errors import QuantDoctorError

    try:  # the one JSON loader and Setup's own checks: damage is a QuantDoctorError
        data = jsonfile.loads(raw, "the saved setup", max_bytes=1 << 20)
        setup = Setup.of(**data)
        get(setup.engine)
        return setup
    except (ValueError, TypeError, QuantDoctorError):
        return None


def saved_symptoms(raw: str) -> tuple[str, ...]:
    """The symptoms the window saved last time (a JSON list): the ones this version still knows."""
    from core import jsonfile
    from core.errors import QuantDoctorError
    from core.settings.symptoms import symptom_ids

    try:
        data = jsonfile.loads(raw, "the saved symptoms", expect=list, max_bytes=1 << 14)
    except QuantDoctorError:
        return ()
    return tuple(dict.fromkeys(s for s in data if isinstance(s, str) and s in symptom_ids()))
