"""Run a core job (a generator of `Progress` that returns a result) off the UI thread.

Modelled on superqt's GeneratorWorker: a QRunnable with a separate signals object; every
exception goes to `errored`; cancel is cooperative, checked between two yields, and closes the
generator so the job's own cleanup (killing a child process, removing partial files) runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core.errors import CancelledError
from core.progress import Job


class WorkerSignals(QObject):
    started = Signal()
    progress = Signal(object)  # core.progress.Progress
    returned = Signal(object)
    errored = Signal(object)  # the exception
    finished = Signal()


class JobWorker(QRunnable):
    def __init__(self, make_job: Callable[[], Job[Any]]) -> None:
        super().__init__()
        self.make_job = make_job
        self.signals = WorkerSignals()
        self._cancel = False
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:
        self.signals.started.emit()
        job = None
        try:
            job = self.make_job()
            while True:
                if self._cancel:
                    job.close()
                    raise CancelledError("Cancelled.")
                try:
                    event = next(job)
                except StopIteration as stop:
                    self.signals.returned.emit(stop.value)
                    break
                self.signals.progress.emit(event)
        except BaseException as exc:  # every failure reaches the UI as a signal, never a crash
            self.signals.errored.emit(exc)
        finally:
            self.signals.finished.emit()

    def start(self, pool: QThreadPool | None = None) -> None:
        (pool or QThreadPool.globalInstance()).start(self)
