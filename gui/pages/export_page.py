"""Export: the report as HTML (opens in any browser), Markdown (for a forum post) or JSON."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from core.app.report import to_markdown, write_diagnosis_report
from core.app.types import Diagnosis
from core.errors import QuantDoctorError
from gui.deferred import when_shown
from gui.state import AppState
from gui.widgets import Label, RichLabel, SafeBrowser


class ExportPage(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.buttons = {}
        row = QHBoxLayout()
        for fmt, label in (("html", "Save as HTML…"), ("md", "Save as Markdown…"), ("json", "Save as JSON…")):
            b = QPushButton(label)
            b.setEnabled(False)
            b.clicked.connect(lambda _=False, f=fmt: self.save(f))
            self.buttons[fmt] = b
            row.addWidget(b)
        row.addStretch(1)
        self.status = Label()
        self.preview = SafeBrowser()
        lay = QVBoxLayout(self)
        lay.addWidget(
            RichLabel("<h2>Export</h2>The diagnosis as a file to keep or share. The HTML needs only a browser.")
        )
        lay.addLayout(row)
        lay.addWidget(self.status)
        lay.addWidget(self.preview, 1)
        when_shown(self, state.diagnosis_changed, self.show_preview)

    def show_preview(self, d: Diagnosis) -> None:
        for b in self.buttons.values():
            b.setEnabled(True)
        self.preview.setMarkdown(to_markdown(d))

    def save(self, fmt: str, path: str | None = None) -> Path | None:
        d = self.state.diagnosis
        if d is None:
            return None
        if path is None:
            name = f"quantdoctor-{Path(d.model.path).stem}.{fmt}"
            path, _ = QFileDialog.getSaveFileName(self, "Save the report", name)
            if not path:
                return None
        try:
            out = write_diagnosis_report(d, path)
        except QuantDoctorError as err:
            self.status.setText(f"{err.message} {err.fix}")
            return None
        self.status.setText(f"Saved {out}")
        return out
