"""Model: pick a file (dialog, drag and drop, recent, found on disk, or the demo) and see its profile."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.model.discovery import FoundModel, discover_models
from core.model.profile import ModelProfile
from core.model.profile_text import human_bytes, human_count, profile_summary
from core.palette import series
from core.progress import Job, Progress
from gui.models import ModelEntry, ModelListModel, PathRole
from gui.state import AppState
from gui.widgets import GLOSSARY, Label, RichLabel, StackedBar, esc


def _discover_job() -> Job[list[FoundModel]]:
    yield Progress("Looking for models on this computer", 0, 1)
    return discover_models()


class ModelPage(QWidget):
    demo_requested = Signal()

    def __init__(self, state: AppState, recent: list[str]) -> None:
        super().__init__()
        self.state = state
        self.setAcceptDrops(True)
        self.open_file = QPushButton("Open model file…")
        self.open_file.setToolTip("A .gguf file (any part of a split model). Ctrl+O")
        self.open_folder = QPushButton("Open model folder…")
        self.open_folder.setToolTip("An EXL2, GPTQ or AWQ folder with config.json. Ctrl+Shift+O")
        self.demo = QPushButton("Try the demo")
        self.demo.setToolTip("SmolLM2-135M-Instruct and two damaged copies of it, made on this computer")
        buttons = QHBoxLayout()
        for b in (self.open_file, self.open_folder, self.demo):
            buttons.addWidget(b)
        buttons.addStretch(1)
        hint = Label("…or drop a .gguf file or a model folder anywhere on this page.")
        hint.setEnabled(False)

        self.recent_model = ModelListModel("Models you open are listed here.")
        self.found_model = ModelListModel("Looking…")
        self.recent = QListView()
        self.recent.setModel(self.recent_model)
        self.recent.setAccessibleName("Recent models")
        self.found = QListView()
        self.found.setModel(self.found_model)
        self.found.setAccessibleName("Models found on this computer")
        self.set_recent(recent)
        lists = QVBoxLayout()
        box_recent = QGroupBox("Recent")
        QVBoxLayout(box_recent).addWidget(self.recent)
        box_found = QGroupBox("Found on this computer (LM Studio, Ollama, Hugging Face and llama.cpp caches)")
        QVBoxLayout(box_found).addWidget(self.found)
        lists.addWidget(box_recent)
        lists.addWidget(box_found)
        left = QWidget()
        left.setLayout(lists)

        self.title = RichLabel("No model yet.")
        self.title.setWordWrap(True)
        self.badges = RichLabel()
        self.types = StackedBar()
        self.types.setToolTip(GLOSSARY["bpw"])
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.addWidget(self.title)
        rl.addWidget(self.badges)
        rl.addWidget(Label("Where the bits are (share of the file by storage type):"))
        rl.addWidget(self.types)
        rl.addWidget(self.details, 1)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 2)
        split.setSizes([330, 770])
        lay = QVBoxLayout(self)
        lay.addLayout(buttons)
        lay.addWidget(hint)
        lay.addWidget(split, 1)

        self.open_file.clicked.connect(self.choose_file)
        self.open_folder.clicked.connect(self.choose_folder)
        self.demo.clicked.connect(self.demo_requested.emit)
        self.recent.activated.connect(self._open_item)
        self.found.activated.connect(self._open_item)
        state.profile_changed.connect(self.show_profile)

    def refresh_found(self) -> None:
        self.state.run(_discover_job, self.set_found)

    def set_found(self, models: list[FoundModel]) -> None:
        self.found_model.empty_text = "No models found in the usual places."
        self.found_model.set_entries(
            [ModelEntry(f"{m.name}  ·  {human_bytes(m.size)}  ·  {m.source}", str(m.path)) for m in models]
        )

    def set_recent(self, paths: list[str]) -> None:
        self.recent_model.set_entries([ModelEntry(Path(p).name, p) for p in paths])

    def _open_item(self, index: QModelIndex) -> None:
        path = index.data(PathRole)
        if path:
            self.state.open_model(path)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model file", "", "GGUF models (*.gguf);;All files (*)")
        if path:
            self.state.open_model(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an EXL2 / GPTQ / AWQ model folder")
        if path:
            self.state.open_model(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.state.open_model(urls[0])
            event.acceptProposedAction()

    def show_profile(self, p: ModelProfile) -> None:
        self.title.setText(
            f"<h2>{esc(p.display_name)}</h2>{esc(p.architecture or 'unknown architecture')} · "
            f"{human_count(p.parameters)} parameters · {human_bytes(p.file_size)} · "
            f"<b>{esc(p.nominal_type or 'unknown')}</b> nominal, "
            f"<b>{p.effective_bpw:.2f}</b> bits per weight measured"
        )
        self.title.setToolTip(GLOSSARY["bpw"])
        badges = []
        if p.is_moe:
            badges.append(f"MoE: {p.expert_count} experts")
        badges.append("chat template" if p.has_chat_template else "no chat template")
        if p.imatrix:
            badges.append("imatrix: " + (p.imatrix.dataset or p.imatrix.file or "yes"))
        if p.quantization:
            badges.append(f"{p.quantization.quant_method} calibration: {p.quantization.dataset or 'not recorded'}")
        self.badges.setText(
            "  ".join(
                f"<span style='background:#e8eaf6;color:#1a237e;padding:2px'>&nbsp;{esc(b)}&nbsp;</span>"
                for b in badges
            )
        )
        self.types.set_parts(
            [(f"{t.type} {t.bpw:.2f} bpw", float(t.bytes), series(i)) for i, t in enumerate(p.tensor_types)]
        )
        self.details.setPlainText(profile_summary(p))
