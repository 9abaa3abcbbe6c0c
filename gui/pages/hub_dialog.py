"""Find a better quant: the Hub's quants of the expected model, ranked with fit and tier badges;
download one (with progress, cancel, resume) and diagnose it, or use it as the comparison reference."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLineEdit, QListView, QPushButton, QVBoxLayout, QWidget

from core.app.hub import alternatives_job, download
from core.app.types import Alternatives, Downloaded
from core.app.words import human_bytes
from gui.models import ModelEntry, ModelListModel, PathRole
from gui.state import AppState
from gui.widgets import ErrorBanner, Label


class BetterQuantDialog(QDialog):
    downloaded = Signal(object, str)  # Downloaded, purpose ("diagnose" or "reference")

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find a better quant")
        self.resize(760, 480)
        self.state = state
        self.alternatives: Alternatives | None = None
        self.expected = QLineEdit(state.setup.expected or "")
        self.expected.setPlaceholderText("the model you want, e.g. Qwen/Qwen3-8B (empty: what this file quantizes)")
        self.search_button = QPushButton("Search the Hub")
        self.model = ModelListModel("Search to see quants that fit this machine.")
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setAccessibleName("Quants found on the Hub")
        self.download_button = QPushButton("Download and diagnose")
        self.reference_button = QPushButton("Download as comparison reference")
        for b in (self.download_button, self.reference_button):
            b.setEnabled(False)
        self.status = Label("Downloads go to the standard Hugging Face cache, so other tools can use them too.")
        self.status.setWordWrap(True)
        self.error = ErrorBanner()

        row = QHBoxLayout()
        row.addWidget(self.expected, 1)
        row.addWidget(self.search_button)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.reference_button)
        buttons.addWidget(self.download_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.error)
        lay.addLayout(row)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.status)
        lay.addLayout(buttons)

        self.search_button.clicked.connect(self.search)
        self.download_button.clicked.connect(lambda: self.fetch("diagnose"))
        self.reference_button.clicked.connect(lambda: self.fetch("reference"))
        self.list.selectionModel().selectionChanged.connect(self._selected)
        state.busy_changed.connect(lambda busy: self.search_button.setEnabled(not busy))

    def search(self) -> None:
        self.error.hide()
        expected = self.expected.text().strip() or None
        case = self.state.session.case
        self.state.run(lambda: alternatives_job(case, expected), self.show_results, self.error.show_error)

    def show_results(self, alts: Alternatives) -> None:
        self.alternatives = alts
        entries = []
        for i, c in enumerate(alts.candidates):
            size = human_bytes(c.size) if c.size else "size unknown"
            title = f"{c.repo_id} / {c.file or '(folder)'}  ·  {size}  ·  " + ", ".join(c.badges())
            entries.append(ModelEntry(title, str(i), "; ".join(c.notes) or c.calibration))
        self.model.empty_text = "The Hub lists no quants of this model."
        self.model.set_entries(entries)
        moe = " It is a mixture-of-experts model: Q5_K_M or better." if alts.moe else ""
        self.status.setText(f"Quants of {alts.expected} ({alts.expected_how}), best first.{moe}")

    def _selected(self, *_: Any) -> None:
        c = self.current()
        ok = c is not None and c.file is not None
        self.download_button.setEnabled(ok)
        self.reference_button.setEnabled(ok)

    def current(self) -> Any:
        idx = self.list.currentIndex()
        if not idx.isValid() or self.alternatives is None:
            return None
        row = idx.data(PathRole)
        return self.alternatives.candidates[int(row)] if row is not None else None

    def fetch(self, purpose: str) -> None:
        c = self.current()
        if c is None or c.file is None:
            return
        self.status.setText(f"Downloading {c.file}… (Cancel in the status bar; a cancelled download resumes later)")
        self.state.run(lambda: download(c.repo_id, c.file), lambda d: self._done(d, purpose), self.error.show_error)

    def _done(self, d: Downloaded, purpose: str) -> None:
        how = "already in the cache" if d.already_cached else ("verified" if d.verified else "downloaded")
        self.status.setText(f"{d.filename}: {human_bytes(d.size)}, {how}.")
        self.downloaded.emit(d, purpose)
