"""Model: pick a file (dialog, drag and drop, recent, found on disk, or the demo) and see its profile.

The profile comes first, in plain words (what the model is, how hard it was squeezed, whether that
is a problem); the technical description, for the expert and for bug reports, is under "Details".
The page scrolls rather than forcing the window wider: it works at 900×600.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.app.found import FoundBadges, FoundModel, Headers, badges_job, discover_job, entry_text
from core.app.types import ModelProfile
from core.app.words import (
    PRECISION_SENTENCES,
    bpw_words,
    friendly_name,
    human_bytes,
    human_count,
    precision_of,
    profile_summary,
    share_words,
)
from core.palette import series
from gui import style
from gui.models import ModelEntry, ModelListModel, PathRole
from gui.state import AppState
from gui.widgets import GLOSSARY, Label, StackedBar, icon, plain, plain_tip

FOUND_WHERE = "In LM Studio's, Ollama's, Hugging Face's and llama.cpp's model folders"


def _found_entry(m: FoundModel, badges: FoundBadges | None = None) -> ModelEntry:
    text, detail = entry_text(m, badges)
    return ModelEntry(text, str(m.path), detail)


class ModelPage(QWidget):
    demo_requested = Signal()
    badges_ready = Signal()  # the found models' fit badges are up to date

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
        hint = style.text_label("…or drop a .gguf file or a model folder anywhere on this page.", "small", muted=True)

        # -- the profile, in plain words first -----------------------------------------------------
        self.profile_box = QFrame()
        self.profile_box.setFrameShape(QFrame.Shape.StyledPanel)
        self.name_label = style.text_label("No model yet.", "title")
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title = style.text_label("Open a model file, pick one below, or try the demo.")
        self.precision_icon = Label()
        self.precision_icon.setFixedSize(22, 22)
        self.precision = style.text_label("")
        self.precision.setToolTip(GLOSSARY["bpw"])
        prec_row = QHBoxLayout()
        prec_row.addWidget(self.precision_icon, 0, Qt.AlignmentFlag.AlignTop)
        prec_row.addWidget(self.precision, 1)
        self.badges = style.text_label("", muted=True)
        self.bits_caption = style.text_label("Where the file's bytes go, by storage type:", "small", muted=True)
        self.types = StackedBar()
        self.types.setToolTip(GLOSSARY["bpw"])
        self.details_toggle = QToolButton()
        self.details_toggle.setText("Details")
        self.details_toggle.setCheckable(True)
        self.details_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.details_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_toggle.setAccessibleName("Show the technical details")
        self.details_toggle.setToolTip("The technical description: for experts and for bug reports")
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.details.setMinimumHeight(220)
        self.details.setAccessibleName("Technical details of the model")
        self.details.hide()
        self.details_toggle.toggled.connect(self.set_details_visible)
        pl = QVBoxLayout(self.profile_box)
        pl.setSpacing(style.SPACE_M)
        pl.addWidget(self.name_label)
        pl.addWidget(self.title)
        pl.addLayout(prec_row)
        pl.addWidget(self.badges)
        pl.addWidget(self.bits_caption)
        pl.addWidget(self.types)
        pl.addWidget(self.details_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        pl.addWidget(self.details)
        for w in (self.precision_icon, self.precision, self.badges, self.bits_caption, self.types, self.details_toggle):
            w.hide()

        # -- recent and found ----------------------------------------------------------------------
        self.recent_model = ModelListModel("Models you open are listed here.")
        self.found_model = ModelListModel("Looking…")
        self.found_models: list[FoundModel] = []
        self.found_badges: dict[str, FoundBadges] = {}
        self._headers: Headers = {}  # read once, by path
        self._badge_ticket = 0
        self.recent = QListView()
        self.recent.setModel(self.recent_model)
        self.recent.setAccessibleName("Recent models")
        self.found = QListView()
        self.found.setModel(self.found_model)
        self.found.setAccessibleName("Models found on this computer")
        for view in (self.recent, self.found):
            view.setWordWrap(True)
            view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
            view.setMinimumHeight(120)
            view.setSpacing(3)  # two-line entries read as separate models
            view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.set_recent(recent)
        box_recent = QGroupBox("Recent")
        QVBoxLayout(box_recent).addWidget(self.recent)
        box_found = self.box_found = QGroupBox("Found on this computer")
        box_found.setToolTip(FOUND_WHERE)
        QVBoxLayout(box_found).addWidget(self.found)
        lists = QHBoxLayout()
        lists.addWidget(box_recent, 1)
        lists.addWidget(box_found, 1)

        lay = QVBoxLayout(self)  # the page scrolls as a whole (main_window.add_page): no scroll in a scroll
        lay.addLayout(buttons)
        lay.addWidget(hint)
        lay.addWidget(self.profile_box)
        lay.addLayout(lists, 1)

        self.open_file.clicked.connect(self.choose_file)
        self.open_folder.clicked.connect(self.choose_folder)
        self.demo.clicked.connect(self.demo_requested.emit)
        self.recent.activated.connect(self._open_item)
        self.found.activated.connect(self._open_item)
        state.profile_changed.connect(self.show_profile)
        state.hardware_changed.connect(lambda _: self.refresh_badges())
        state.setup_changed.connect(lambda _: self.refresh_badges())

    def minimumSizeHint(self) -> QSize:
        return QSize(560, 300)

    def set_details_visible(self, on: bool) -> None:
        self.details.setVisible(on)
        self.details_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def refresh_found(self) -> None:
        self.state.run(discover_job, lambda found: self.set_found(found.models, found.notes))

    def set_found(self, models: list[FoundModel], notes: list[str] | tuple[str, ...] = ()) -> None:
        """The models found; `notes` name the places that could not be looked into (the rest are listed)."""
        self.found_model.empty_text = " ".join(["No models found in the usual places.", *notes])
        self.box_found.setToolTip("\n".join([FOUND_WHERE, *notes]))
        self.found_models = list(models)
        self.found_badges = {}
        self.found_model.set_entries([_found_entry(m) for m in models])
        self.refresh_badges()

    def refresh_badges(self) -> None:
        """Size every found model for the machine and context in use, off the UI thread; the latest wins."""
        if not self.found_models:
            return
        self._badge_ticket += 1
        ticket = self._badge_ticket
        models, headers, setup, hardware = (
            list(self.found_models),
            dict(self._headers),
            self.state.setup,
            self.state.hardware,
        )

        def done(result: tuple[Headers, dict[str, FoundBadges]]) -> None:
            headers, badges = result
            self._headers.update(headers)
            if ticket != self._badge_ticket:
                return  # a newer machine or context is being sized
            self.found_badges = badges
            self.found_model.set_entries([_found_entry(m, badges.get(str(m.path))) for m in self.found_models])
            self.badges_ready.emit()

        self.state.run(lambda: badges_job(models, headers, setup, hardware), done)

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
        self.name_label.setText(friendly_name(p))
        self.name_label.setToolTip(plain_tip(f"Name in the file: {p.name or '(none)'}\n{p.path}"))
        family = f" of the {p.architecture} family" if p.architecture else ""
        self.title.setText(
            f"A {human_count(p.parameters)}-parameter model{family} · {human_bytes(p.file_size)} · {bpw_words(p)}"
        )
        sev = precision_of(p)
        self.precision_icon.setPixmap(icon(sev).pixmap(QSize(20, 20)))
        self.precision_icon.setToolTip(style.severity_word(sev))
        self.precision.setText(f"{style.severity_word(sev)}: {PRECISION_SENTENCES[sev]}")
        badges = []
        if p.is_moe:
            badges.append(f"mixture of {p.expert_count} experts")
        badges.append("has a chat template" if p.has_chat_template else "no chat template (a base model?)")
        if p.imatrix:
            badges.append("quantized with an importance matrix")
        if p.quantization:
            badges.append(f"{p.quantization.quant_method} calibration: {p.quantization.dataset or 'not recorded'}")
        self.badges.setText(" · ".join(badges))
        total = sum(t.bytes for t in p.tensor_types) or 1
        self.types.set_parts(
            [
                (f"{t.type}: {share_words(t.bytes / total)}", float(t.bytes), series(i))
                for i, t in enumerate(p.tensor_types)
            ]
        )
        nominal = f"nominal type {p.nominal_type} (general.file_type)\n" if p.nominal_type else ""
        self.details.setPlainText(plain(nominal + profile_summary(p)))
        for w in (self.precision_icon, self.precision, self.badges, self.bits_caption, self.types, self.details_toggle):
            w.show()

