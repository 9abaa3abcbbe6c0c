"""The window's one source of truth: which model, which setup, which machine, what was found.

Pages read from it and listen to its signals; they never talk to each other. Everything slow goes
through `run()`, which hands a core job to a worker thread, so the window never freezes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.checks.measurements import Measurements
from core.diagnosis import Diagnosis, diagnose
from core.evaluation.compare import Comparison
from core.evaluation.settings_trial import SettingsTrial
from core.model.inspection import inspect_model
from core.model.profile import ModelProfile
from core.progress import Job, Progress
from core.settings.setup import Setup
from gui.jobs import JobWorker


def _inspect_job(path: str) -> Job[ModelProfile]:
    yield Progress("Reading the model file", 0, 1)
    return inspect_model(path)


class AppState(QObject):
    profile_changed = Signal(object)  # ModelProfile
    setup_changed = Signal(object)  # Setup
    hardware_changed = Signal(object)  # HardwareProfile or None
    diagnosis_changed = Signal(object)  # Diagnosis
    comparison_changed = Signal(object)  # Comparison or None
    error = Signal(object)  # QuantDoctorError (or any exception) to show in place
    busy_changed = Signal(bool)
    progress = Signal(object)  # Progress

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.profile: ModelProfile | None = None
        self.setup = Setup()
        self.hardware: Any = None
        self.diagnosis: Diagnosis | None = None
        # The comparison lives here, once, beside the model it was made for; the checks' evidence is
        # derived from it (Measurements.from_comparison / from_trial), never held separately.
        self.comparison: Comparison | None = None
        self.trial: SettingsTrial | None = None
        self.engine_evidence: Any = None  # what the person's app or its log said (core.engines.evidence)
        self.workers: list[JobWorker] = []
        self._opening = 0  # the latest open request: an earlier one finishing later must not win
        self._diagnosing = 0  # likewise for the checks

    # -- running core jobs off the UI thread -----------------------------------------------------
    def run(
        self,
        make_job: Callable[[], Job[Any]],
        on_result: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> JobWorker:
        worker = JobWorker(make_job, self)
        worker.signals.progress.connect(self.progress.emit)
        worker.signals.returned.connect(on_result)
        worker.signals.errored.connect(on_error or self.error.emit)
        worker.signals.finished.connect(lambda: self._finished(worker))
        self.workers.append(worker)
        self.busy_changed.emit(True)
        worker.start()
        return worker

    def _finished(self, worker: JobWorker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        self.busy_changed.emit(bool(self.workers))

    def shutdown(self) -> None:
        """The window is closing: stop every job, and let none that already finished report back."""
        self._opening += 1
        self._diagnosing += 1
        for worker in list(self.workers):
            worker.cancel()

    @property
    def busy(self) -> bool:
        return bool(self.workers)

    # -- the flow --------------------------------------------------------------------------------
    def open_model(self, path: str) -> JobWorker:
        self._opening += 1
        ticket = self._opening

        def done(profile: ModelProfile) -> None:
            if ticket == self._opening:
                self.set_profile(profile)

        return self.run(lambda: _inspect_job(path), done)

    def set_profile(self, profile: ModelProfile) -> None:
        self.profile = profile
        self.comparison = None
        self.trial = None
        self.profile_changed.emit(profile)
        self.comparison_changed.emit(None)
        self.rediagnose()

    def set_setup(self, setup: Setup) -> None:
        self.setup = setup
        self.setup_changed.emit(setup)
        self.rediagnose()

    def set_engine_evidence(self, evidence: Any) -> None:
        """What the app or log said beside its settings; the next set_setup rediagnoses with it."""
        self.engine_evidence = evidence

    def set_hardware(self, hardware: Any) -> None:
        self.hardware = hardware
        self.hardware_changed.emit(hardware)
        self.rediagnose()

    @property
    def measurements(self) -> Measurements | None:
        """The evidence the checks read: the comparison's own numbers (or the file-or-settings trial's)."""
        if self.trial is not None:
            return Measurements.from_trial(self.trial)
        return Measurements.from_comparison(self.comparison) if self.comparison is not None else None

    def set_comparison(self, comparison: Comparison, for_path: str | None, trial: SettingsTrial | None = None) -> bool:
        """Apply a finished comparison (or trial), unless the model on screen changed while it ran: the one
        staleness check."""
        if for_path is not None and (self.profile is None or self.profile.path != for_path):
            return False
        self.comparison = comparison
        self.trial = trial
        self.comparison_changed.emit(comparison)
        self.rediagnose()
        return True

    def rediagnose(self) -> None:
        """Run the checks off the UI thread: the memory check searches contexts and layer splits with
        llama.cpp's graph replayed, half a second on a 70B model, which would freeze the window on
        every setting changed. The latest request wins; an earlier one finishing later is dropped."""
        if self.profile is None:
            return
        self._diagnosing += 1
        ticket = self._diagnosing
        profile, setup, hardware = self.profile, self.setup, self.hardware
        evidence = self.engine_evidence
        comparison = self.trial if self.trial is not None else self.comparison  # the one shape: as measured

        def job() -> Job[Diagnosis]:
            yield Progress("Running the checks")
            return diagnose(profile, setup, hardware, comparison, engine=evidence)

        def done(d: Diagnosis) -> None:
            if ticket == self._diagnosing:
                self.diagnosis = d
                self.diagnosis_changed.emit(d)

        self.run(job, done)
