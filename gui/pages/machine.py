"""Machine: each GPU as a card with its memory, the CPU and RAM, and a what-if from the catalog."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.app.machine import catalog_names
from core.app.words import human_bytes, usable_words
from core.palette import MEMORY_PARTS
from gui import style
from gui.state import AppState
from gui.widgets import Label, RichLabel, StackedBar, clear_layout, esc


def detecting(state: AppState) -> bool:
    """Whether this machine is being looked at right now (the Advice page says so, and only then)."""
    return state.detecting


class GpuCard(QFrame):
    def __init__(self, gpu: Any) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        status = " — LOST (fell off the bus; not used)" if gpu.lost else ""
        lay.addWidget(RichLabel(f"<b>{esc(gpu.name)}</b>{status}"))
        facts = [
            f"driver {gpu.driver_version}" if gpu.driver_version else None,
            f"CUDA {gpu.cuda_driver_version}" if gpu.cuda_driver_version else None,
            f"compute {gpu.compute_capability}" if gpu.compute_capability else None,
            f"{gpu.bandwidth_gbps:,.0f} GB/s" if gpu.bandwidth_gbps else None,
            "unified memory" if gpu.unified_memory else None,
            "MIG on" if gpu.mig_enabled else None,
        ]
        lay.addWidget(Label(" · ".join(f for f in facts if f) or gpu.backend))
        self.bar = StackedBar()
        total = gpu.total_bytes or 0
        used = gpu.used_bytes if gpu.used_bytes is not None else max(0, total - (gpu.free_bytes or total))
        reserved = gpu.reserved_bytes or 0
        free = gpu.free_bytes if gpu.free_bytes is not None else max(0, total - used - reserved)
        self.bar.set_parts(
            [
                (f"used {human_bytes(used)}", float(used), MEMORY_PARTS["used"]),
                (f"reserved {human_bytes(reserved)}", float(reserved), MEMORY_PARTS["reserved"]),
                (f"free {human_bytes(free)}", float(free), MEMORY_PARTS["free"]),
            ]
        )
        lay.addWidget(Label(f"Memory: {human_bytes(total)} in all" if total else "Memory: not reported"))
        lay.addWidget(self.bar)
        usable = usable_words(gpu)
        if usable:
            lay.addWidget(style.text_label(usable, "small", muted=True))
        for note in gpu.notes:
            n = Label(note)
            n.setWordWrap(True)
            lay.addWidget(n)


class MachinePage(QWidget):
    def __init__(self, state: AppState, detect: bool = True) -> None:
        super().__init__()
        self.state = state
        self.header = RichLabel("<h2>This machine</h2>Looking…")
        self.header.setWordWrap(True)
        self.cards = QWidget()
        self.cards_layout = QVBoxLayout(self.cards)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        self.system = RichLabel()
        self.system.setWordWrap(True)
        self.what_if = QComboBox()
        self.what_if.addItem("This machine (detected)")
        self.what_if.addItems(catalog_names())
        self.what_if.setToolTip("Diagnose as if you had this GPU instead: figures from the vendor's spec sheet")
        self.redetect = QPushButton("Look again")
        row = QHBoxLayout()
        row.addWidget(Label("What if I had:"))
        row.addWidget(self.what_if, 1)
        row.addWidget(self.redetect)
        box = QGroupBox("CPU and memory")
        QVBoxLayout(box).addWidget(self.system)
        lay = QVBoxLayout(self)
        lay.addWidget(self.header)
        lay.addLayout(row)
        lay.addWidget(self.cards)  # the page scrolls as a whole (main_window.add_page): no box in a box
        lay.addWidget(box)
        lay.addStretch(1)
        self.what_if.currentIndexChanged.connect(self.choose)
        self.redetect.clicked.connect(self.detect)
        state.hardware_changed.connect(self.show_hardware)
        if detect:
            self.detect()

    def detect(self) -> None:
        self.state.detect_machine()

    @property
    def detected(self) -> Any:
        """This machine as last looked at (the session keeps it)."""
        return self.state.session.detected

    def choose(self, index: int) -> None:
        # the what-if changes the GPU only: the CPU and RAM stay this computer's
        self.state.choose_machine(None if index == 0 else self.what_if.currentText())

    def show_hardware(self, hw: Any) -> None:
        clear_layout(self.cards_layout)
        if hw is None:
            return
        what_if = getattr(hw, "source", "") == "catalog"
        title = "What if: " + ", ".join(g.name for g in hw.gpus) if what_if else "This machine"
        if hw.cpu_only:
            self.header.setText(f"<h2>{esc(title)}</h2>No GPU will be used: {esc(hw.cpu_only_reason)}")
        else:
            n = len(hw.usable_gpus)
            self.header.setText(f"<h2>{esc(title)}</h2>{n} GPU{'s' if n != 1 else ''} ready for llama.cpp.")
        for gpu in hw.gpus:
            self.cards_layout.addWidget(GpuCard(gpu))
        cpu, ram = hw.cpu, hw.ram
        if what_if and not cpu.model and not ram.total_bytes:
            self.system.setText("CPU and RAM: this computer's, once Quant Doctor has looked at it (Look again).")
            return
        flags = [f for f, on in (("AVX2", cpu.avx2), ("AVX-512", cpu.avx512)) if on]
        self.system.setText(
            f"CPU: {esc(cpu.model or 'unknown')}"
            + (f", {cpu.physical_cores} cores" if cpu.physical_cores else "")
            + (f" ({', '.join(flags)})" if flags else "")
            + (f"<br>RAM: {human_bytes(ram.total_bytes)} in all" if ram.total_bytes else "")
            + (f", {human_bytes(ram.available_bytes)} available" if ram.available_bytes else "")
        )
