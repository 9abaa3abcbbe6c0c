"""Diagnosis: the ranked findings, problems expanded first, then what was checked and ruled out."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from core.checks import registry as checks
from core.diagnosis import Diagnosis
from gui.state import AppState
from gui.widgets import FindingCard, RichLabel, clear_layout, esc


class DiagnosisPage(QWidget):
    better_quant_requested = Signal()

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.summary = RichLabel("Open a model to see what is wrong with it.")
        self.summary.setWordWrap(True)
        self.cards: list[FindingCard] = []
        self.inner = QWidget()
        self.inner_layout = QVBoxLayout(self.inner)
        self.inner_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.inner)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(scroll, 1)
        state.diagnosis_changed.connect(self.show_diagnosis)

    def show_diagnosis(self, d: Diagnosis) -> None:
        clear_layout(self.inner_layout)
        self.cards = []
        problems, fine = d.problems, d.ruled_out
        if problems:
            self.summary.setText(
                f"<h2>{len(problems)} thing{'s' if len(problems) != 1 else ''} to look at</h2>"
                f"Most likely first. {len(fine)} other check{'s' if len(fine) != 1 else ''} found nothing wrong."
            )
        else:
            self.summary.setText("<h2>Nothing found wrong</h2>Every check passed; see the evidence below.")
        for i, f in enumerate(problems):
            # findings whose fix is "get another file" (Check.hub_fixable) offer the Hub search
            action = (
                ("Find a better quant…", self.better_quant_requested.emit) if f.id in checks.hub_fixable() else None
            )
            card = FindingCard(f, expanded=i == 0, action=action)
            self.cards.append(card)
            self.inner_layout.addWidget(card)
        if fine:
            self.inner_layout.addWidget(RichLabel("<h3>Checked — fine</h3>"))
            for f in fine:
                card = FindingCard(f, expanded=False)
                self.cards.append(card)
                self.inner_layout.addWidget(card)
        for n in d.notes:
            note = RichLabel(f"<i>{esc(n)}</i>")
            note.setWordWrap(True)
            self.inner_layout.addWidget(note)
        self.inner_layout.addStretch(1)
