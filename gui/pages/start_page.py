"""Start: what Quant Doctor does, in two sentences, what went wrong, and three ways in.

Shown on a first start (no recent model). "Connect to my app" leads to the Setup page's connection
section; until that section exists the button stays, disabled, saying so.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.app.demo import demo_words
from core.app.types import symptoms
from gui import style
from gui.widgets import icon

WHAT_IT_DOES = (
    "Quant Doctor finds out why a local model you run (in LM Studio, Ollama, llama.cpp or koboldcpp) "
    "answers worse than it should: too small a quant, a squeezed memory cache, the wrong download. "
    "It reads the model file and your settings, checks them against your computer, and tells you the "
    "one change that fixes it."
)

CONNECT_PENDING = "Coming soon: connecting to a running LM Studio, Ollama or llama.cpp server."


class _Way(QFrame):
    """One way in: a big button with a sentence under it."""

    def __init__(self, title: str, sentence: str, button: QPushButton) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self.button = button
        button.setText(title)
        button.setAccessibleName(title)
        button.setAccessibleDescription(sentence)
        button.setMinimumHeight(40)
        button.setFont(style.font("heading"))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(style.SPACE_L, style.SPACE_L, style.SPACE_L, style.SPACE_L)
        lay.addWidget(button)
        self.sentence = style.text_label(sentence, muted=True)
        lay.addWidget(self.sentence)


class SymptomBox(QGroupBox):
    """ "What went wrong?": the person's complaint first, several choices allowed (resources/symptoms.json).
    The diagnosis ranks the causes of what is ticked first and speaks to it."""

    changed = Signal(tuple)  # the ticked symptom ids, in the listed order

    def __init__(self) -> None:
        super().__init__("What went wrong? (tick all that apply)")
        self.boxes: dict[str, QCheckBox] = {}
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(style.SPACE_L)
        for i, s in enumerate(symptoms().values()):
            box = QCheckBox(s.words)
            box.setAccessibleName(s.words)
            box.toggled.connect(lambda _on: self.changed.emit(self.ticked()))
            self.boxes[s.id] = box
            grid.addWidget(box, i // 2, i % 2)

    def ticked(self) -> tuple[str, ...]:
        return tuple(sid for sid, box in self.boxes.items() if box.isChecked())

    def set_ticked(self, ids: tuple[str, ...]) -> None:
        """Show the case's symptoms without announcing them again."""
        for sid, box in self.boxes.items():
            box.blockSignals(True)
            box.setChecked(sid in ids)
            box.blockSignals(False)


class StartPage(QWidget):
    COLUMN_WIDTH = 860
    connect_requested = Signal()
    open_requested = Signal()
    demo_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.title = style.text_label("Why did my local model get worse?", "title")
        self.intro = style.text_label(WHAT_IT_DOES)
        logo = QPushButton()
        logo.setFlat(True)
        logo.setIcon(icon("app"))
        logo.setIconSize(QSize(56, 56))
        logo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        logo.setAccessibleName("Quant Doctor")
        logo.setStyleSheet("border: none; background: transparent;")
        head = QHBoxLayout()
        head.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        texts = QVBoxLayout()
        texts.addWidget(self.title)
        texts.addWidget(self.intro)
        head.addLayout(texts, 1)

        self.connect_button = QPushButton()
        self.open_button = QPushButton()
        self.demo_button = QPushButton()
        self.demo_button.setProperty("primary", True)
        self.ways = [
            _Way(
                "Connect to my app",
                "Quant Doctor reads the model and the settings from the app you already use.",
                self.connect_button,
            ),
            _Way(
                "Open a model file",
                "A .gguf file, or a model folder (EXL2, GPTQ, AWQ), from your disk.",
                self.open_button,
            ),
            _Way(
                "Try the demo",
                demo_words(),  # the one download, said before it happens (core.demo.prepare)
                self.demo_button,
            ),
        ]
        self.connect_button.clicked.connect(self.connect_requested.emit)
        self.open_button.clicked.connect(self.open_requested.emit)
        self.demo_button.clicked.connect(self.demo_requested.emit)

        self.connect_sentence = self.ways[0].sentence.text()
        column = QWidget()
        column.setMaximumWidth(self.COLUMN_WIDTH)
        lay = QVBoxLayout(column)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(style.SPACE_L)
        lay.addLayout(head)
        self.symptoms = SymptomBox()
        lay.addWidget(self.symptoms)
        for way in self.ways:
            lay.addWidget(way)
        self.hint = style.text_label(
            "You can come back here any time from the sidebar. Everything stays on this computer.", "small", muted=True
        )
        lay.addWidget(self.hint)
        # the column in the middle of the page, however large the window: no empty half-page
        outer = QVBoxLayout(self)
        outer.setContentsMargins(style.SPACE_XL, style.SPACE_L, style.SPACE_XL, style.SPACE_L)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(column, 100)
        row.addStretch(1)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.set_connect_available(False)

    def set_connect_available(self, available: bool) -> None:
        self.connect_button.setEnabled(available)
        self.connect_button.setToolTip(
            "Go to the connection section of the Setup page" if available else CONNECT_PENDING
        )
        self.ways[0].sentence.setText(self.connect_sentence if available else CONNECT_PENDING)
