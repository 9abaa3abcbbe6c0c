"""The window's adapter over the session (core.app.session.Session): signals, and jobs off the UI thread.

The case and every decision about it live in the session; this object only runs the session's slow
operations on worker threads (so the window never freezes) and announces what changed. Pages read
from it and listen to its signals; they never talk to each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from core.app.session import Op, Session
from core.app.types import (
    Comparison,
    Diagnosis,
    EngineEvidence,
    HardwareProfile,
    ModelProfile,
    SettingsTrial,
    Setup,
)
from core.errors import QuantDoctorError
from core.progress import Job
from gui.jobs import JobWorker

T = TypeVar("T")


class AppState(QObject):
    profile_changed = Signal(object)  # ModelProfile
    setup_changed = Signal(object)  # Setup
    symptoms_changed = Signal(tuple)  # the person's symptoms (core.settings.symptoms ids)
    hardware_changed = Signal(object)  # HardwareProfile or None
    diagnosis_changed = Signal(object)  # Diagnosis
    comparison_changed = Signal(object)  # Comparison or None
    error = Signal(object)  # QuantDoctorError (or any exception) to show in place
    busy_changed = Signal(bool)
    progress = Signal(object)  # Progress

    def __init__(self, parent: QObject | None = None, session: Session | None = None) -> None:
        super().__init__(parent)
        self.session = session or Session()
        self.workers: list[JobWorker] = []

    # -- the case, as the session holds it ---------------------------------------------------------
    @property
    def profile(self) -> ModelProfile | None:
        return self.session.case.profile

    @profile.setter
    def profile(self, profile: ModelProfile | None) -> None:
        """Quietly (no signal, no diagnosis): set_profile / open_model announce."""
        self.session.case = self.session.case.with_(profile=profile)

    @property
    def setup(self) -> Setup:
        return self.session.case.setup

    @setup.setter
    def setup(self, setup: Setup) -> None:
        """Quietly: set_setup announces and diagnoses again."""
        self.session.case = self.session.case.with_(setup=setup)

    @property
    def hardware(self) -> HardwareProfile | None:
        return self.session.case.hardware

    @hardware.setter
    def hardware(self, hardware: HardwareProfile | None) -> None:
        """Quietly: set_hardware announces and diagnoses again."""
        self.session.case = self.session.case.with_(hardware=hardware)

    @property
    def comparison(self) -> Comparison | None:
        return self.session.case.comparison

    @property
    def trial(self) -> SettingsTrial | None:
        return self.session.case.trial

    @property
    def engine_evidence(self) -> EngineEvidence | None:
        return self.session.case.engine

    @property
    def diagnosis(self) -> Diagnosis | None:
        return self.session.diagnosis

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

    def run_op(
        self,
        op: Op[T],
        announce: Callable[[T], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> JobWorker:
        """Run a session operation; when its result is still wanted, apply it and announce it."""
        self.session.started(op.kind)

        def done(result: T) -> None:
            if op.apply(result):
                announce(result)

        worker = self.run(op.job, done, on_error)
        worker.signals.finished.connect(lambda: self.session.ended(op.kind))
        return worker

    def _finished(self, worker: JobWorker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        self.busy_changed.emit(bool(self.workers))

    def shutdown(self) -> None:
        """The window is closing: stop every job, and let none that already finished report back."""
        self.session.expire()
        for worker in list(self.workers):
            worker.cancel()

    @property
    def busy(self) -> bool:
        return bool(self.workers)

    # -- the flow --------------------------------------------------------------------------------
    def open_model(self, path: str) -> JobWorker:
        return self.run_op(self.session.open_model(path), self._profile_applied)

    def set_profile(self, profile: ModelProfile) -> None:
        self.session.set_profile(profile)
        self._profile_applied(profile)

    def _profile_applied(self, profile: ModelProfile) -> None:
        self.profile_changed.emit(profile)
        self.comparison_changed.emit(None)
        self.rediagnose()
        if self.session.case.prompt_text:  # another model counts the same prompt in its own tokens
            self.count_prompt(self.session.case.prompt_text)

    def count_prompt(self, text: str) -> None:
        """The person's prompt, counted with the model's own tokenizer off the UI thread, then the checks."""
        op = self.session.count_prompt(text)
        if op is None:
            self.rediagnose()
            return
        self.run_op(op, lambda _count: self.rediagnose())

    def set_app_template(self, text: str | None) -> None:
        """The chat template the person's app applies (pasted): the chat-template check compares it."""
        self.session.set_app_template(text)
        self.rediagnose()

    def set_setup(self, setup: Setup) -> None:
        self.session.set_setup(setup)
        self.setup_changed.emit(setup)
        self.rediagnose()

    @property
    def symptoms(self) -> tuple[str, ...]:
        return self.session.case.symptoms

    def set_symptoms(self, symptoms: tuple[str, ...] | list[str]) -> None:
        """What went wrong, as the person ticked it: the causes of it rank first."""
        try:
            parsed = self.session.set_symptoms(symptoms)
        except QuantDoctorError as err:
            self.error.emit(err)
            return
        self.symptoms_changed.emit(parsed)
        self.rediagnose()

    def announce_setup(self) -> None:
        """The session took new settings (an import, the person's app): say so, and diagnose again."""
        self.setup_changed.emit(self.setup)
        self.rediagnose()

    def take_settings(self, setup: Setup, evidence: EngineEvidence | None) -> None:
        """Settings from the person's app or its log (core.app.session.Session.take_settings)."""
        path = self.session.take_settings(setup, evidence)
        self.announce_setup()
        if path:
            self.open_model(path)

    def set_engine_evidence(self, evidence: EngineEvidence | None) -> None:
        """What the app or log said beside its settings; the next set_setup rediagnoses with it."""
        self.session.set_engine_evidence(evidence)

    def detect_machine(self, on_error: Callable[[BaseException], None] | None = None) -> JobWorker:
        """Look at this machine again; the case takes it unless a card from the catalog is being tried."""

        def detected(_hardware: HardwareProfile) -> None:
            if self.session.what_if is None:
                self._hardware_applied(self.hardware)

        return self.run_op(self.session.detect_machine(), detected, on_error)

    def choose_machine(self, gpu_name: str | None) -> None:
        """This machine (None) or "what if I had…" a card from the catalog; a catalog problem is shown."""
        try:
            hardware = self.session.choose_machine(gpu_name)
        except Exception as exc:  # a catalog problem is shown in place; the window stays usable
            self.error.emit(exc)
            return
        if hardware is not None:
            self._hardware_applied(hardware)

    @property
    def detecting(self) -> bool:
        """Whether this machine is being looked at right now."""
        return self.session.pending("machine")

    def set_hardware(self, hardware: HardwareProfile | None) -> None:
        self.session.set_hardware(hardware)
        self._hardware_applied(hardware)

    def _hardware_applied(self, hardware: HardwareProfile | None) -> None:
        self.hardware_changed.emit(hardware)
        self.rediagnose()

    def set_comparison(self, comparison: Comparison, for_path: str | None, trial: SettingsTrial | None = None) -> bool:
        """Apply a finished comparison (or trial), unless the model on screen changed while it ran."""
        if not self.session.set_comparison(comparison, for_path, trial):
            return False
        self.comparison_changed.emit(comparison)
        self.rediagnose()
        return True

    def rediagnose(self) -> None:
        """Run the checks off the UI thread; the latest request wins."""
        op = self.session.diagnose_op()
        if op is not None:
            self.run_op(op, self.diagnosis_changed.emit)
