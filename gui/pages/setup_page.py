"""Your setup: the settings the model really runs with, typed or imported from what you have."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.app.engines import ReadsFrom, SettingsReader, engine_ids, readers
from core.app.types import CACHE_TYPES, WORKLOADS, FlashAttn, Sampling, Setup
from core.errors import QuantDoctorError
from gui.pages.engine_panel import EnginePanel
from gui.state import AppState
from gui.widgets import GLOSSARY, ErrorBanner, Label, RichLabel

FA_CHOICES = [(f.value, f) for f in (FlashAttn.AUTO, FlashAttn.ON, FlashAttn.OFF)]
TEMPLATE_SOURCES = ("the model file's own (the usual case)", "set in my app (paste it)")
# The sampler's settings the checks weigh (core.settings.sampling.Sampling): (field, label, lowest, highest,
# step, decimals, what it does). One step below the lowest reads "not set": unknown is never a value.
SAMPLERS = (
    ("temperature", "Temperature", 0.0, 5.0, 0.05, 2, "How random each next word is: 0 always picks the likeliest."),
    ("top_k", "Top-k", 0.0, 1000.0, 1.0, 0, "Only the k likeliest words are considered (0: all)."),
    ("top_p", "Top-p", 0.0, 1.0, 0.05, 2, "Only the likeliest words that together make up p are considered."),
    ("min_p", "Min-p", 0.0, 1.0, 0.01, 2, "Words less likely than p × the likeliest are dropped."),
    ("repeat_penalty", "Repeat penalty", 0.0, 3.0, 0.05, 2, "Above 1 discourages repeating recent words (1: off)."),
    ("repeat_last_n", "Repeat window", -1.0, 100_000.0, 16.0, 0, "How many recent tokens the penalty looks at (-1: all)."),
)


class PasteDialog(QDialog):
    """Paste what a text reader reads (a command line)."""

    def __init__(self, reader: SettingsReader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import " + reader.menu.rstrip("…").lower())
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText(reader.placeholder)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(Label(f"Paste it here ({reader.help.removeprefix('import ')}):"))
        lay.addWidget(self.text)
        lay.addWidget(buttons)


class SetupPage(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self._loading = False
        self.ctx = QSpinBox()
        self.ctx.setRange(0, 10_000_000)
        self.ctx.setSingleStep(1024)
        self.ctx.setSpecialValueText("the engine's default")
        self.ctx.setToolTip("How many tokens of conversation the model keeps in view. 0 = the engine's default.")
        self.cache_k = QComboBox()
        self.cache_v = QComboBox()
        for box in (self.cache_k, self.cache_v):
            box.addItems(CACHE_TYPES)
            box.setToolTip(GLOSSARY["kv"])
        self.fa = QComboBox()
        self.fa.addItems([c for c, _ in FA_CHOICES])
        self.fa.setToolTip(GLOSSARY["fa"])
        self.ngl = QSpinBox()
        self.ngl.setRange(-1, 1000)
        self.ngl.setSpecialValueText("all that fit")
        self.ngl.setToolTip(GLOSSARY["ngl"])
        self.workload = QComboBox()
        self.workload.addItems(WORKLOADS)
        self.workload.setToolTip("What you use the model for: calibration and tests depend on it.")
        self.expected = QLineEdit()
        self.expected.setPlaceholderText("e.g. Qwen/Qwen3-8B, or 'the instruct version'")
        self.expected.setToolTip("The model you meant to run: used to catch a base model downloaded by mistake.")
        self.engine = QComboBox()
        self.engine.addItems(engine_ids())
        self.samplers: dict[str, QDoubleSpinBox] = {}
        for name, label, low, high, step, decimals, tip in SAMPLERS:
            spin = QDoubleSpinBox()
            spin.setDecimals(decimals)
            spin.setRange(low - step, high)
            spin.setSingleStep(step)
            spin.setSpecialValueText("not set")
            spin.setValue(spin.minimum())
            spin.setToolTip(tip)
            spin.setAccessibleName(label)
            self.samplers[name] = spin
        self.source = Label()
        self.source.setEnabled(False)
        self.unknown = Label()
        self.unknown.setWordWrap(True)
        self.error = ErrorBanner()

        self.import_button = QPushButton("Import from…")
        menu = QMenu(self.import_button)
        for r in readers():  # every engine's declared readers (core.engines.<engine>.ENGINE.readers)
            menu.addAction(r.menu, partial(self.import_with, r.option))
        self.import_button.setMenu(menu)
        self.engine_panel = EnginePanel(state)

        form = QFormLayout()
        form.addRow("Context length", self.ctx)
        form.addRow("KV cache type, K", self.cache_k)
        form.addRow("KV cache type, V", self.cache_v)
        form.addRow("Flash attention", self.fa)
        form.addRow("GPU layers", self.ngl)
        form.addRow("Workload", self.workload)
        form.addRow("The model you expected", self.expected)
        form.addRow("Engine", self.engine)
        pasted_box = QGroupBox("What your app sends the model (optional)")
        pasted_form = QFormLayout(pasted_box)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Paste your system prompt, tools or a long document: it is counted in the "
                                       "model's own tokens and checked against the context.")  # fmt: skip
        self.prompt.setMaximumHeight(90)
        self.prompt.setAccessibleName("Your prompt")
        self.template_source = QComboBox()
        self.template_source.addItems(TEMPLATE_SOURCES)
        self.template_source.setToolTip("Where the chat template your app applies comes from.")
        self.app_template = QPlainTextEdit()
        self.app_template.setPlaceholderText("Paste the chat template your app uses (its prompt format settings).")
        self.app_template.setMaximumHeight(90)
        self.app_template.setAccessibleName("Your app's chat template")
        self.app_template.setVisible(False)
        pasted_form.addRow("Your prompt", self.prompt)
        pasted_form.addRow("Chat template", self.template_source)
        pasted_form.addRow("", self.app_template)
        sampling_box = QGroupBox("Sampling: how each next word is picked (from your app's settings)")
        sampling_form = QFormLayout(sampling_box)
        for name, label, *_ in SAMPLERS:
            sampling_form.addRow(label, self.samplers[name])
        lay = QVBoxLayout(self)
        lay.addWidget(self.error)
        lay.addWidget(RichLabel("<h2>Your setup</h2>The settings your model runs with. Changes apply at once."))
        lay.addWidget(self.engine_panel)
        lay.addWidget(self.import_button)
        lay.addLayout(form)
        lay.addWidget(sampling_box)
        lay.addWidget(pasted_box)
        lay.addWidget(self.source)
        lay.addWidget(self.unknown)
        lay.addStretch(1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.apply)
        for w in (self.ctx, self.ngl):
            w.valueChanged.connect(self._changed)
        for spin in self.samplers.values():
            spin.valueChanged.connect(self._changed)
        for b in (self.cache_k, self.cache_v, self.fa, self.workload, self.engine):
            b.currentIndexChanged.connect(self._changed)
        self.expected.textChanged.connect(self._changed)
        self._prompt_debounce = QTimer(self)
        self._prompt_debounce.setSingleShot(True)
        self._prompt_debounce.setInterval(600)  # counting runs llama.cpp: wait for a pause in typing
        self._prompt_debounce.timeout.connect(lambda: self.state.count_prompt(self.prompt.toPlainText()))
        self.prompt.textChanged.connect(self._prompt_debounce.start)
        self.template_source.currentIndexChanged.connect(self._template_changed)
        self.app_template.textChanged.connect(self._template_changed)
        state.setup_changed.connect(self.load)
        self.load(state.setup)

    def _template_changed(self) -> None:
        pasted = self.template_source.currentIndex() == 1
        self.app_template.setVisible(pasted)
        self.state.set_app_template(self.app_template.toPlainText() if pasted else None)

    def _changed(self) -> None:
        if not self._loading:
            self._debounce.start()

    def current(self) -> Setup:
        """The form's values, keeping what the form does not show (batch sizes, notes, the model path)."""
        return replace(
            self.state.setup,
            run=self.state.setup.run.replace(
                n_ctx=self.ctx.value() or None,
                cache_type_k=self.cache_k.currentText(),
                cache_type_v=self.cache_v.currentText(),
                flash_attn=FA_CHOICES[self.fa.currentIndex()][1],
                n_gpu_layers=None if self.ngl.value() < 0 else self.ngl.value(),
            ),
            workload=self.workload.currentText(),
            expected=self.expected.text().strip() or None,
            engine=self.engine.currentText(),
            sampling=self._sampling(),
            source="typed in the app",
        )

    def _sampling(self) -> Sampling:
        """The sampler as the form shows it: what was imported stays as it was (with its source)."""
        values: dict[str, Any] = {}
        for name, _label, _low, _high, _step, decimals, _tip in SAMPLERS:
            spin = self.samplers[name]
            value = None if spin.value() <= spin.minimum() else spin.value()
            values[name] = int(value) if value is not None and decimals == 0 else value
        old = self.state.setup.sampling
        if all(getattr(old, k) == v for k, v in values.items()):
            return old
        return replace(old, **values, source="typed in the app")

    def apply(self) -> None:
        self._debounce.stop()
        try:
            self.state.set_setup(self.current())
        except QuantDoctorError as err:
            self.error.show_error(err)

    def load(self, s: Setup) -> None:
        self._loading = True
        try:
            r = s.run
            self.ctx.setValue(r.n_ctx or 0)
            self.cache_k.setCurrentText(r.cache_type_k)
            self.cache_v.setCurrentText(r.cache_type_v)
            self.fa.setCurrentIndex([v for _, v in FA_CHOICES].index(r.flash_attn))
            self.ngl.setValue(-1 if r.n_gpu_layers is None else r.n_gpu_layers)
            self.workload.setCurrentText(s.workload)
            self.expected.setText(s.expected or "")
            self.engine.setCurrentText(s.engine)
            for name, spin in self.samplers.items():
                value = getattr(s.sampling, name)
                spin.setValue(spin.minimum() if value is None else float(value))
            self.source.setText(f"Source: {s.source}")
            self.unknown.setText(("Not understood (ignored): " + "; ".join(s.unknown)) if s.unknown else "")
        finally:
            self._loading = False

    def import_with(self, option: str, value: str | None = None, ask: bool = True) -> None:
        """Import settings with one engine reader: `value` is the text or the file; None asks for it
        (a paste dialog, or a file dialog; an environment reader's file may be skipped)."""
        r = next(r for r in readers() if r.option == option)
        if value is None and ask:
            value = self._ask(r)
            if value is None and r.source is not ReadsFrom.ENVIRONMENT:
                return
        try:
            path = self.state.session.import_settings(option, value or None)
        except QuantDoctorError as err:
            self.error.show_error(err)
            return
        self.error.hide()
        self.state.announce_setup()
        if path:
            self.state.open_model(path)  # the settings name a model on this computer: diagnose that one

    def _ask(self, r: SettingsReader) -> str | None:
        if r.source is ReadsFrom.TEXT:
            dialog = PasteDialog(r, self)
            return dialog.text.toPlainText() if dialog.exec() == QDialog.DialogCode.Accepted else None
        path, _ = QFileDialog.getOpenFileName(self, r.file_title, "", r.file_filter or "All files (*)")
        return path or None

    def import_command(self, text: str | None = None) -> None:
        self.import_with("command", text)

    def import_ollama(self, modelfile: str | None = None) -> None:
        self.import_with("ollama", modelfile, ask=modelfile is None)

    def import_kcpps(self, path: str | None = None) -> None:
        self.import_with("kcpps", path)

    def import_lmstudio(self, path: str | None = None) -> None:
        self.import_with("lmstudio", path)
