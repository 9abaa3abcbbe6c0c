"""Advice: one answer first (it fits, or it does not and the one change that makes it fit), then
where the memory goes, the other options, the upgrade only when no option fits, and the arithmetic
behind a "Show the arithmetic" toggle."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QGroupBox, QHBoxLayout, QLabel, QScrollArea, QToolButton, QVBoxLayout, QWidget

from core.app.advice import advice_view
from core.app.types import Diagnosis
from core.palette import MEMORY_PARTS
from gui import style
from gui.deferred import when_shown
from gui.state import AppState
from gui.widgets import GLOSSARY, Label, StackedBar, clear_layout, icon


def _answer_box(name: str) -> tuple[QFrame, Label, QLabel, QLabel]:
    """A framed answer: an icon, a sentence, and a line under it."""
    frame = QFrame()
    frame.setObjectName(name)
    mark = Label()
    mark.setFixedSize(26, 26)
    text = style.text_label("Open a model to see whether it fits this machine.", "heading")
    more = style.text_label("")
    row = QHBoxLayout(frame)
    row.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
    texts = QVBoxLayout()
    texts.addWidget(text)
    texts.addWidget(more)
    row.addLayout(texts, 1)
    return frame, mark, text, more


def _show_answer(frame: QFrame, mark: Label, text: QLabel, more: QLabel, severity: str, words: str, extra: str) -> None:
    mark.setPixmap(icon(style.SEVERITY_ICONS[severity]).pixmap(QSize(24, 24)))
    mark.setToolTip(style.severity_word(severity))
    text.setText(words)
    more.setText(extra)
    more.setVisible(bool(extra))
    frame.setStyleSheet(
        f"QFrame#{frame.objectName()} {{ border-left: 5px solid {style.severity_colour(severity)}; "
        f"background: {style.current().base}; }}"
    )


class AdvicePage(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.header = style.text_label("Advice", "title")
        # the one next step across all findings first, then whether it fits (core.app.advice decides both)
        self.lead, self.lead_icon, self.lead_text, self.lead_more = _answer_box("lead")
        self.lead.hide()
        self.answer, self.answer_icon, self.answer_text, self.answer_more = _answer_box("answer")
        self.arithmetic_toggle = QToolButton()
        self.arithmetic_toggle.setText("Show the arithmetic")
        self.arithmetic_toggle.setCheckable(True)
        self.arithmetic_toggle.setAccessibleName("Show the arithmetic")
        self.arithmetic_toggle.toggled.connect(self.set_arithmetic_visible)
        self.arithmetic_toggle.hide()
        self.arithmetic: list[QLabel] = []
        self.inner = QWidget()
        self.inner_layout = QVBoxLayout(self.inner)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.inner)
        lay = QVBoxLayout(self)
        lay.addWidget(self.header)
        lay.addWidget(self.lead)
        lay.addWidget(self.answer)
        lay.addWidget(self.arithmetic_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(scroll, 1)
        self.bars: list[StackedBar] = []
        self.options_box: QGroupBox | None = None
        self.upgrade_box: QGroupBox | None = None
        self._diagnosis: Diagnosis | None = None
        self.set_answer("info", "Open a model to see whether it fits this machine.", "")
        when_shown(self, state.diagnosis_changed, self.show_advice)
        when_shown(self, state.hardware_changed, self._hardware_changed)

    def _hardware_changed(self, _hardware: object) -> None:
        if self._diagnosis is not None:
            self.show_advice(self._diagnosis)

    def set_answer(self, severity: str, text: str, more: str) -> None:
        _show_answer(self.answer, self.answer_icon, self.answer_text, self.answer_more, severity, text, more)

    def set_lead(self, severity: str | None, text: str = "", more: str = "") -> None:
        self.lead.setVisible(severity is not None)
        if severity is not None:
            _show_answer(self.lead, self.lead_icon, self.lead_text, self.lead_more, severity, text, more)

    def set_arithmetic_visible(self, on: bool) -> None:
        self.arithmetic_toggle.setText("Hide the arithmetic" if on else "Show the arithmetic")
        for lab in self.arithmetic:
            lab.setVisible(on)

    def _arith(self, text: str, layout: QVBoxLayout) -> None:
        lab = style.text_label(text, "small", muted=True)
        lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lab.setVisible(self.arithmetic_toggle.isChecked())
        self.arithmetic.append(lab)
        layout.addWidget(lab)

    def show_advice(self, d: Diagnosis) -> None:
        """Lay out what core.app.advice decided for this diagnosis."""
        self._diagnosis = d
        clear_layout(self.inner_layout)
        self.bars, self.arithmetic = [], []
        self.options_box = self.upgrade_box = None
        self.arithmetic_toggle.hide()
        view = advice_view(d, machine_known=self.state.hardware is not None, detecting=self.state.detecting)
        self.set_answer(view.answer.severity, view.answer.text, view.answer.more)
        lead = view.lead
        self.set_lead(lead.severity if lead else None, lead.text if lead else "", lead.more if lead else "")
        if not view.estimated:
            self.inner_layout.addStretch(1)
            return
        self.arithmetic_toggle.show()
        for dev in view.devices:
            box = QGroupBox(dev.title)
            box.setToolTip(GLOSSARY["kv"])
            bl = QVBoxLayout(box)
            bar = StackedBar()
            bar.set_parts([(label, size, MEMORY_PARTS[part]) for part, label, size in dev.parts], capacity=dev.capacity)
            self.bars.append(bar)
            bl.addWidget(bar)
            bl.addWidget(style.text_label(dev.room))
            self.inner_layout.addWidget(box)
        self._arith(view.arithmetic, self.inner_layout)
        if view.options:
            box = QGroupBox(view.options_title)
            bl = QVBoxLayout(box)
            for option in view.options:
                row = QHBoxLayout()
                mark = Label()
                mark.setPixmap(icon(style.SEVERITY_ICONS[option.severity]).pixmap(QSize(16, 16)))
                mark.setToolTip(option.words)
                row.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
                row.addWidget(style.text_label(option.text), 1)
                bl.addLayout(row)
                if option.arithmetic:
                    self._arith(option.arithmetic, bl)
            self.options_box = box
            self.inner_layout.addWidget(box)
        if view.upgrade:
            box = QGroupBox("What hardware would run it")
            bl = QVBoxLayout(box)
            for line, is_arithmetic in view.upgrade:
                if is_arithmetic:
                    self._arith(line, bl)
                else:
                    bl.addWidget(style.text_label(line))
            self.upgrade_box = box
            self.inner_layout.addWidget(box)
        self.inner_layout.addStretch(1)
