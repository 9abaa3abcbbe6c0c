"""Helpers for the window tests: a window on its own settings file, waiting for a diagnosis, model
files of real shapes, a what-if machine with known RAM, and a screenshot per step."""

from __future__ import annotations

from pathlib import Path

from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf
from PySide6.QtCore import QEvent, QSettings
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from core.hardware.catalog import catalog_profile
from core.hardware.machine import CpuInfo, HardwareProfile, SystemMemory
from gui.main_window import MainWindow

GIB = 2**30


def make_window(qtbot, tmp_path: Path, name: str = "qd.ini") -> MainWindow:
    w = MainWindow(QSettings(str(tmp_path / name), QSettings.Format.IniFormat), detect_hardware=False)
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    return w


def wait_diagnosis(qtbot, w: MainWindow, action, timeout: int = 60_000) -> None:
    with qtbot.waitSignal(w.state.diagnosis_changed, timeout=timeout):
        action()
    qtbot.waitUntil(lambda: not w.state.busy, timeout=timeout)


def shaped_gguf(path: Path, n_layer: int, n_embd: int, n_ff: int, n_head: int, n_kv: int, **meta: str) -> Path:
    """A sparse GGUF of a real model's shape (header only on disk)."""
    md = llama_metadata(n_layer, n_embd, n_ff, n_head, n_kv, n_ctx=131072)
    md.update({f"general.{k}": v for k, v in meta.items()})
    return write_gguf(path, metadata=md, tensors=llama_tensors(n_layer, n_embd, n_ff, n_head, n_kv, 128256, Q.Q4_K))


def llama8b(path: Path) -> Path:
    return shaped_gguf(
        path, 32, 4096, 14336, 32, 8, name="Llama 3.1 8B Instruct", basename="Llama-3.1", size_label="8B"
    )


def base_model(path: Path) -> Path:
    """A small base model: no chat template, no fine-tune named."""
    md = llama_metadata(2, 256, 512, 4, 2)
    md.update({"general.basename": "Llama-3.1", "general.size_label": "8B", "general.name": "Llama 3.1 8B"})
    return write_gguf(path, metadata=md, tensors=llama_tensors(2, 256, 512, 4, 2, 512, Q.Q5_K, Q.Q6_K, Q.Q6_K))


def what_if(card: str, ram_gib: float = 32, cpu: str = "Test CPU (8 cores)") -> HardwareProfile:
    base = HardwareProfile(
        ram=SystemMemory(total_bytes=int(ram_gib * GIB), available_bytes=int(ram_gib * GIB * 0.8)),
        cpu=CpuInfo(model=cpu, physical_cores=8),
    )
    return catalog_profile(card, base)


def visible_text(widget: QWidget) -> str:
    """Every label's text the person can see on a widget (for asserting what a page says)."""
    return "\n".join(lab.text() for lab in widget.findChildren(QLabel) if lab.isVisibleTo(widget) and lab.text())


def shot(w: MainWindow, out: Path, name: str) -> Path:
    for _ in range(3):  # let the layouts settle before the picture
        QApplication.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)  # cards a rebuild replaced
    path = out / f"{name}.png"
    assert w.grab().save(str(path)), path
    return path
