"""A download the person agreed to, in place on the page that asked: a bar, how much of how much, the time
left, and a Cancel that stops only this download (the Compare page's GPU build and Hub reference).

The time left is the job's own when it says one (the Hub's download does); otherwise it is worked out
here from the bytes that arrived since the first event (llama.cpp's release download reports bytes only),
and shown through core.app.compare.SmoothEta so it counts down steadily instead of jumping."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from core.app.compare import SmoothEta
from core.app.hub import format_bytes
from core.progress import Progress, format_duration
from gui import style
from gui.jobs import JobWorker

MIN_RATE_S = 0.5  # seconds of transfer before a worked-out time left is shown


class FetchBar(QWidget):
    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what  # "the GPU build", "the reference": for the cancel button's tooltip
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.text = style.text_label("", "small")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(f"Stop downloading {what}; what arrived is kept and resumes next time.")
        self.cancel_button.clicked.connect(self.cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.text, 2)
        lay.addWidget(self.cancel_button)
        self.worker: JobWorker | None = None
        self.eta = SmoothEta()
        self._first: tuple[float, float] | None = None  # (time, bytes) of the first byte count seen
        self.hide()

    def follow(self, worker: JobWorker) -> None:
        """Show `worker`'s progress (only its own: other jobs' news goes to the status bar) until it ends."""
        self.worker = worker
        self.eta = SmoothEta()
        self._first = None
        self.bar.setRange(0, 0)  # busy until the first byte count
        self.text.setText("Starting…")
        self.cancel_button.setEnabled(True)
        worker.signals.progress.connect(self.feed)
        worker.signals.finished.connect(self._ended)
        self.show()

    def feed(self, event: Progress) -> None:
        fraction = event.fraction
        if fraction is None or event.unit != "bytes" or not event.total:
            self.bar.setRange(0, 0)
            self.text.setText(event.phase)
            return
        self.bar.setRange(0, 1000)
        self.bar.setValue(int(1000 * fraction))
        left = self.eta.update(event.eta_s if event.eta_s is not None else self._worked_out(event))
        after = f", about {format_duration(left)} left" if left is not None and fraction < 1 else ""
        self.text.setText(f"{event.phase}: {format_bytes(event.done)} of {format_bytes(event.total)}{after}")

    def _worked_out(self, event: Progress) -> float | None:
        now = time.monotonic()
        if self._first is None or event.done < self._first[1]:
            self._first = (now, event.done)
            return None
        spent, got = now - self._first[0], event.done - self._first[1]
        if spent < MIN_RATE_S or got <= 0 or event.total is None:
            return None
        return (event.total - event.done) * spent / got

    def cancel(self) -> None:
        if self.worker is not None:
            self.cancel_button.setEnabled(False)
            self.text.setText("Stopping…")
            self.worker.cancel()

    def _ended(self) -> None:
        self.worker = None
        self.hide()
