"""Compare (being wired to core.evaluation)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.state import AppState


class ComparePage(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.demo: Any = None
        QVBoxLayout(self).addWidget(QLabel("<h2>Compare</h2>"))

    def set_demo(self, demo: Any) -> None:
        self.demo = demo
