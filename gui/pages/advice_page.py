"""Advice: one answer first (it fits, or it does not and the one change that makes it fit), then
where the memory goes, the other options, the upgrade only when no option fits, and the arithmetic
behind a "Show the arithmetic" toggle."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QGroupBox, QHBoxLayout, QLabel, QScrollArea, QToolButton, QVBoxLayout, QWidget

from core.diagnosis import Diagnosis
from core.memory.arithmetic import gib, kv_arithmetic
from core.palette import MEMORY_PARTS
from gui import style
from gui.deferred import when_shown
from gui.pages.machine import detecting
from gui.plain_words import device_words
from gui.state import AppState
from gui.widgets import GLOSSARY, Label, StackedBar, clear_layout, icon

PARTS = ("weights", "kv", "compute", "overhead")
LABELS = {
    "weights": "the model",
    "kv": "conversation memory (KV cache)",
    "compute": "working space",
    "overhead": "runtime",
}


def one_change(report: Any) -> Any:
    """The one change that makes it fit at a usable speed (core's FitReport.one_change)."""
    return report.one_change


class AdvicePage(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.header = style.text_label("Advice", "title")
        self.answer = QFrame()
        self.answer.setObjectName("answer")
        self.answer_icon = Label()
        self.answer_icon.setFixedSize(26, 26)
        self.answer_text = style.text_label("Open a model to see whether it fits this machine.", "heading")
        self.answer_more = style.text_label("")
        al = QHBoxLayout(self.answer)
        al.addWidget(self.answer_icon, 0, Qt.AlignmentFlag.AlignTop)
        texts = QVBoxLayout()
        texts.addWidget(self.answer_text)
        texts.addWidget(self.answer_more)
        al.addLayout(texts, 1)
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
        self.answer_icon.setPixmap(icon(style.SEVERITY_ICONS[severity]).pixmap(QSize(24, 24)))
        self.answer_icon.setToolTip(style.severity_word(severity))
        self.answer_text.setText(text)
        self.answer_more.setText(more)
        self.answer_more.setVisible(bool(more))
        self.answer.setStyleSheet(
            f"QFrame#answer {{ border-left: 5px solid {style.severity_colour(severity)}; "
            f"background: {style.current().base}; }}"
        )

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
        self._diagnosis = d
        clear_layout(self.inner_layout)
        self.bars, self.arithmetic = [], []
        self.options_box = self.upgrade_box = None
        self.arithmetic_toggle.hide()
        report: Any = d.memory
        if report is None:
            vram = next((f for f in d.findings if f.id == "vram"), None)
            if d.hardware is None and self.state.hardware is not None:
                # the machine is known now; the diagnosis made before it was is being redone
                self.set_answer("unchecked", "Estimating the memory for this machine…", "")
            elif d.hardware is None and detecting(self.state):
                self.set_answer("unchecked", "Not estimated yet: Quant Doctor is still looking at this machine.", "")
            elif d.hardware is None:
                self.set_answer(
                    "unchecked",
                    "Not checked: there is no machine to compare with.",
                    "Pick this computer or a card to try on the Machine page.",
                )
            elif vram is not None:
                self.set_answer("unchecked", f"Not checked. {vram.title}.", " ".join(vram.evidence))
            else:
                self.set_answer("unchecked", "Memory not estimated.", "")
            self.inner_layout.addStretch(1)
            return
        est = report.estimate
        s = est.setup
        trained = d.model.context_length or 0
        where = f"{s.n_ctx:,} tokens of context with a {s.cache_type_k}/{s.cache_type_v} cache"
        if report.fits:
            if trained and report.max_context >= trained:
                room = f"Its whole trained context ({trained:,} tokens) fits too."
            elif report.max_context > (s.n_ctx or 0):
                room = f"Up to {report.max_context:,} tokens of context would fit."
            else:
                room = ""
            self.set_answer("ok", f"It fits: {gib(est.total_bytes)} needed for {where}.", room)
        else:
            change = one_change(report)
            if change is not None:
                self.set_answer(
                    "warning",
                    f"It does not fit as set up ({where}). The one change that makes it fit: {change.label}.",
                    "The other options are below.",
                )
            elif any(a.fits for a in report.alternatives):
                self.set_answer(
                    "critical",
                    f"It does not fit ({where}): the settings that do fit are too slow or too short to use.",
                    "They are listed below, with what hardware would run it.",
                )
            else:
                self.set_answer(
                    "critical",
                    f"It does not fit ({where}), and no setting makes it fit on this machine.",
                    "What would run it is below.",
                )
        self.arithmetic_toggle.show()

        for dev in est.devices:
            box = QGroupBox(device_words(dev.device))
            box.setToolTip(GLOSSARY["kv"])
            bl = QVBoxLayout(box)
            bar = StackedBar()
            bar.set_parts(
                [
                    (
                        f"{LABELS[k]} {gib(getattr(dev, f'{k}_bytes'))}",
                        float(getattr(dev, f"{k}_bytes")),
                        MEMORY_PARTS[k],
                    )
                    for k in PARTS
                ],
                capacity=float(dev.available_bytes) if dev.available_bytes else None,
            )
            self.bars.append(bar)
            bl.addWidget(bar)
            room = (
                f"{gib(dev.total_bytes)} needed of {gib(dev.available_bytes)} available"
                if dev.available_bytes is not None
                else f"{gib(dev.total_bytes)} needed"
            )
            bl.addWidget(style.text_label(room + ("" if dev.fits else " — does not fit")))
            self.inner_layout.addWidget(box)
        self._arith(kv_arithmetic(report.shape, s), self.inner_layout)

        if report.alternatives:
            box = QGroupBox("Other options" if not report.fits else "Other settings")
            bl = QVBoxLayout(box)
            for alt in report.alternatives:
                speed = f", about {alt.tokens_per_s:g} tokens/s" if alt.tokens_per_s else ""
                slow = f" ({alt.slowdown:g}× slower)" if alt.slowdown and alt.slowdown > 1.05 else ""
                row = QHBoxLayout()
                mark = Label()
                if alt.comfortable:
                    kind, words = "ok", "Fits"
                elif alt.fits:
                    kind, words = "warning", "Fits, but too short to be useful" if alt.too_short else "Fits, but slowly"
                else:
                    kind, words = "critical", "Does not fit"
                mark.setPixmap(icon(style.SEVERITY_ICONS[kind]).pixmap(QSize(16, 16)))
                mark.setToolTip(words)
                row.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
                row.addWidget(style.text_label(f"{words}: {alt.label}{speed}{slow}"), 1)
                bl.addLayout(row)
                if alt.arithmetic:
                    self._arith(alt.arithmetic, bl)
            self.options_box = box
            self.inner_layout.addWidget(box)
        if report.upgrade is not None and one_change(report) is None and not report.fits:
            box = QGroupBox("What hardware would run it")
            bl = QVBoxLayout(box)
            for line in report.upgrade.lines():
                if line.startswith("  "):
                    self._arith(line.strip(), bl)
                else:
                    bl.addWidget(style.text_label(line))
            self.upgrade_box = box
            self.inner_layout.addWidget(box)
        self.inner_layout.addStretch(1)
