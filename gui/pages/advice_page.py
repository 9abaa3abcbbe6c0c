"""Advice (being wired to core.memory)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.state import AppState


class AdvicePage(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        QVBoxLayout(self).addWidget(QLabel("<h2>Advice</h2>"))
