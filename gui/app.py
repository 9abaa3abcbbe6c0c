"""The Quant Doctor window (a first version: open a model or the demo, see its profile).

`quantdoctor --demo` opens with the demo model; `--self-test` opens the window offscreen, runs
the demo inspection end to end and exits 0 when it worked (packaging uses it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core import __version__
from core.demo import DemoModels, prepare_demo
from core.errors import QuantDoctorError
from core.modelfile import inspect_model
from core.progress import Progress
from core.summary import profile_summary
from gui.worker import JobWorker


class MainWindow(QMainWindow):
    model_shown = Signal(object)  # the ModelProfile now on screen
    job_finished = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(f"Quant Doctor {__version__}")
        self.resize(900, 620)
        self.worker: JobWorker | None = None
        self.last_error: str | None = None

        self.open_file = QPushButton("Open model file…")
        self.open_folder = QPushButton("Open model folder…")
        self.demo_button = QPushButton("Try the demo")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("Pick a model file, or try the demo model.")
        self.status.setWordWrap(True)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setFont(QFont("monospace"))

        buttons = QHBoxLayout()
        for b in (self.open_file, self.open_folder, self.demo_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout()
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.details, 1)
        central = QWidget()
        central.setLayout(layout)
        self.setCentralWidget(central)

        self.open_file.clicked.connect(self.choose_file)
        self.open_folder.clicked.connect(self.choose_folder)
        self.demo_button.clicked.connect(self.start_demo)
        self.cancel_button.clicked.connect(self.cancel)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model file", "", "GGUF models (*.gguf);;All files (*)")
        if path:
            self.show_model(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an EXL2 / GPTQ / AWQ model folder")
        if path:
            self.show_model(path)

    def show_model(self, path: str) -> bool:
        try:
            profile = inspect_model(path)
        except QuantDoctorError as err:
            self.last_error = err.message
            self.status.setText(f"<b>{err.message}</b><br>What to do: {err.fix}")
            self.details.clear()
            return False
        self.last_error = None
        self.status.setText(f"{profile.display_name}: {profile.nominal_type}, {profile.effective_bpw:.2f} bpw")
        self.details.setPlainText(profile_summary(profile))
        self.model_shown.emit(profile)
        return True

    def start_demo(self) -> None:
        self.worker = JobWorker(prepare_demo)
        self.worker.signals.progress.connect(self.on_progress)
        self.worker.signals.returned.connect(self.on_demo_ready)
        self.worker.signals.errored.connect(self.on_error)
        self.worker.signals.finished.connect(self.on_finished)
        self.demo_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.worker.start()

    def cancel(self) -> None:
        if self.worker:
            self.worker.cancel()

    def on_progress(self, event: Progress) -> None:
        if event.fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(event.fraction * 1000))
        self.status.setText(event.describe())

    def on_demo_ready(self, demo: DemoModels) -> None:
        self.show_model(str(demo.candidates.get("Q2_0", demo.reference)))

    def on_error(self, exc: BaseException) -> None:
        if isinstance(exc, QuantDoctorError):
            self.last_error = exc.message
            self.status.setText(f"<b>{exc.message}</b><br>What to do: {exc.fix}")
        else:
            self.last_error = repr(exc)
            self.status.setText(f"Unexpected problem: {exc!r}")

    def on_finished(self) -> None:
        self.progress.setVisible(False)
        self.demo_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.job_finished.emit()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="quantdoctor", description="Quant Doctor desktop app")
    parser.add_argument("--demo", action="store_true", help="start with the demo model")
    parser.add_argument("--open", metavar="PATH", help="start with this model file or folder")
    parser.add_argument(
        "--self-test", action="store_true", help="open offscreen, inspect the demo, exit 0 if it worked"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    window.show()
    if args.open:
        window.show_model(args.open)
    elif args.demo or args.self_test:
        window.start_demo()
    if args.self_test:
        result = {"rc": 1}

        def check() -> None:
            ok = window.last_error is None and "Q2_0" in window.details.toPlainText()
            print("self-test:", "ok" if ok else f"FAILED ({window.last_error})")
            result["rc"] = 0 if ok else 1
            app.quit()

        window.job_finished.connect(lambda: QTimer.singleShot(0, check))
        QTimer.singleShot(300_000, app.quit)
        app.exec()
        return result["rc"]
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
