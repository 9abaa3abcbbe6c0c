"""Run a core job (a generator of `Progress` that returns a result) off the UI thread.

Modelled on superqt's GeneratorWorker: a QRunnable with a separate signals object (started,
progress, returned, errored, finished); every exception goes to `errored`; cancel is cooperative,
checked between two yields, and closes the generator so the job's own cleanup (killing a child
process, removing partial files) runs.

One difference, learned the hard way: the worker thread never emits a Qt signal. PySide6 6.12
corrupts reference counts when Python objects cross threads through `Signal(object)` at a high
rate (a "deallocating None" abort within seconds of a fast progress stream). So the worker only
puts events on a plain queue, and a timer on the UI thread drains it every 25 ms and emits the
signals there. Progress is coalesced to the latest event per tick: the window repaints at most
40 times a second however fast a job reports.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from core.errors import CancelledError
from core.progress import Job

DRAIN_MS = 25


class WorkerSignals(QObject):
    started = Signal()
    progress = Signal(object)  # core.progress.Progress
    returned = Signal(object)
    errored = Signal(object)  # the exception
    finished = Signal()


class JobWorker(QRunnable):
    def __init__(self, make_job: Callable[[], Job[Any]], parent: QObject | None = None) -> None:
        super().__init__()
        self.make_job = make_job
        # Owned by `parent` (the window's state): when the window goes, the signals and the draining
        # timer go with it, and a job still running in the pool reports to no one.
        self.signals = WorkerSignals(parent)
        self._cancel = False
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._timer = QTimer(self.signals)
        self._timer.setInterval(DRAIN_MS)
        self._timer.timeout.connect(self._drain)
        self.done = False
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self._cancel = True

    # -- the worker thread: only the queue -------------------------------------------------------
    def run(self) -> None:
        put = self._events.put
        put(("started", None))
        try:
            job = self.make_job()
            while True:
                if self._cancel:
                    job.close()
                    raise CancelledError("Cancelled.")
                try:
                    event = next(job)
                except StopIteration as stop:
                    put(("returned", stop.value))
                    break
                put(("progress", event))
        except BaseException as exc:  # every failure reaches the UI as a signal, never a crash
            put(("errored", exc))
        finally:
            put(("finished", None))

    # -- the UI thread: signals ------------------------------------------------------------------
    def _drain(self) -> None:
        latest = None
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                if self._cancel:  # nobody waits for a cancelled job's news
                    latest = None
                elif getattr(payload, "milestone", False):  # news (a domain's result), never coalesced away
                    if latest is not None:
                        self.signals.progress.emit(latest)
                    self.signals.progress.emit(payload)
                    latest = None
                else:
                    latest = payload
                continue
            if latest is not None:
                self.signals.progress.emit(latest)
                latest = None
            if kind == "started":
                self.signals.started.emit()
            elif kind == "returned" and not self._cancel:
                self.signals.returned.emit(payload)
            elif kind == "errored":
                self.signals.errored.emit(payload)
            elif kind == "finished":
                self._timer.stop()
                self.done = True
                self.signals.finished.emit()
                return
        if latest is not None:
            self.signals.progress.emit(latest)

    def start(self, pool: QThreadPool | None = None) -> None:
        self._timer.start()
        (pool or QThreadPool.globalInstance()).start(self)
