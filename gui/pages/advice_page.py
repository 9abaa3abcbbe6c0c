"""Advice: where the memory goes on each device, what else would fit, and — when nothing reasonable
does — the upgrade recommendation with its arithmetic."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QGroupBox, QScrollArea, QVBoxLayout, QWidget

from core.diagnosis import Diagnosis
from core.memory.estimate import gib
from core.palette import MEMORY_PARTS
from gui.state import AppState
from gui.widgets import GLOSSARY, Label, RichLabel, StackedBar, clear_layout, esc

PARTS = tuple((k, MEMORY_PARTS[k]) for k in ("weights", "kv", "compute", "overhead"))
LABELS = {"weights": "weights", "kv": "KV cache", "compute": "compute buffers", "overhead": "runtime"}


class AdvicePage(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.header = RichLabel("<h2>Advice</h2>Open a model to see where its memory goes.")
        self.header.setWordWrap(True)
        self.inner = QWidget()
        self.inner_layout = QVBoxLayout(self.inner)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.inner)
        lay = QVBoxLayout(self)
        lay.addWidget(self.header)
        lay.addWidget(scroll, 1)
        self.bars: list[StackedBar] = []
        state.diagnosis_changed.connect(self.show_advice)

    def show_advice(self, d: Diagnosis) -> None:
        clear_layout(self.inner_layout)
        self.bars = []
        report: Any = d.memory
        if report is None:
            self.header.setText("<h2>Advice</h2>No machine profile yet: the Machine page is still looking.")
            return
        est = report.estimate
        verdict = "fits" if report.fits else "does not fit"
        self.header.setText(
            f"<h2>Advice</h2>{esc(d.model.display_name)} at {est.setup.n_ctx:,} tokens with a "
            f"{esc(est.setup.cache_type_k)}/{esc(est.setup.cache_type_v)} KV cache <b>{verdict}</b> "
            f"({gib(est.total_bytes)} in all). Largest context that fits: {report.max_context:,} tokens."
        )
        for dev in est.devices:
            box = QGroupBox(dev.device)
            box.setToolTip(GLOSSARY["kv"])
            bl = QVBoxLayout(box)
            bar = StackedBar()
            bar.set_parts(
                [
                    (f"{LABELS[k]} {gib(getattr(dev, f'{k}_bytes'))}", float(getattr(dev, f"{k}_bytes")), c)
                    for k, c in PARTS
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
            bl.addWidget(Label(room + ("" if dev.fits else " — too much")))
            self.inner_layout.addWidget(box)
        if report.alternatives:
            box = QGroupBox("Other settings, with their numbers")
            bl = QVBoxLayout(box)
            for alt in report.alternatives:
                speed = f", about {alt.tokens_per_s:g} tokens/s" if alt.tokens_per_s else ""
                slow = f" ({alt.slowdown:g}× slower)" if alt.slowdown and alt.slowdown > 1.05 else ""
                lab = RichLabel(
                    f"{'✔' if alt.fits else '✘'} {esc(alt.label)}{speed}{slow}<br><small>{esc(alt.arithmetic)}</small>"
                )
                lab.setWordWrap(True)
                bl.addWidget(lab)
            self.inner_layout.addWidget(box)
        if report.upgrade is not None:
            box = QGroupBox("The fix is hardware")
            bl = QVBoxLayout(box)
            for line in report.upgrade.lines():
                plain = Label(line)
                plain.setWordWrap(True)
                bl.addWidget(plain)
            self.inner_layout.addWidget(box)
        self.inner_layout.addStretch(1)
