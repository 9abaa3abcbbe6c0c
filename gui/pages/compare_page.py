"""Compare: run the model and a reference on the same prompts and texts, with live progress, then
show both outputs side by side (where they part is highlighted) and the loss per domain."""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core.checks.measurements import measurements_from_comparison
from core.evaluation.compare import Comparison, compare
from core.evaluation.domains import DEFAULT_DOMAINS
from core.evaluation.scoring import EVAL_DEFAULT_CTX, EvalSettings
from core.progress import Job
from core.settings.run import RunSettings
from core.settings.setup import Setup
from gui.state import AppState
from gui.widgets import GLOSSARY, BarChart, Label, RichLabel, SafeBrowser

# The app's comparison is meant to answer in a minute or two on a laptop: a few short chunks per
# domain. The CLI and the benchmark run the full texts.
QUICK = EvalSettings(chunk=256, max_chunks=4, sample_tokens=64)


def run_settings(setup: Setup, cache_k: str | None = None, cache_v: str | None = None) -> RunSettings:
    """The person's settings, with a context short enough for the quick comparison."""
    r = setup.run
    return r.replace(
        n_ctx=max(QUICK.chunk * 2, min(r.n_ctx or EVAL_DEFAULT_CTX, EVAL_DEFAULT_CTX)),
        cache_type_k=cache_k or r.cache_type_k,
        cache_type_v=cache_v or r.cache_type_v,
    )


class ComparePage(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.demo: Any = None
        self.comparison: Comparison | None = None

        self.mode_file = QRadioButton("A higher-precision file of the same model:")
        self.mode_cache = QRadioButton("The same file with an f16 KV cache (isolates your cache setting)")
        self.mode_server = QRadioButton("A server (llama-server, vLLM, TabbyAPI, Ollama's /v1):")
        self.mode_file.setChecked(True)
        self.modes = QButtonGroup(self)
        for b in (self.mode_file, self.mode_cache, self.mode_server):
            self.modes.addButton(b)
        self.reference_path = QLineEdit()
        self.reference_path.setPlaceholderText("e.g. the Q8_0 of your model")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.choose_reference)
        self.server_url = QLineEdit()
        self.server_url.setPlaceholderText("http://127.0.0.1:8080")
        self.domain_boxes = {d: QCheckBox(d) for d in DEFAULT_DOMAINS}
        for box in self.domain_boxes.values():
            box.setChecked(box.text() in ("general", "code", "multilingual"))
        self.long_context = QCheckBox("long context (4K+, slow)")
        self.run_button = QPushButton("Compare")
        self.run_button.setToolTip("Runs the reference first, then your model: never both in memory at once.")
        self.status = Label()
        self.status.setWordWrap(True)

        grid = QGridLayout()
        grid.addWidget(self.mode_file, 0, 0)
        grid.addWidget(self.reference_path, 0, 1)
        grid.addWidget(browse, 0, 2)
        grid.addWidget(self.mode_cache, 1, 0, 1, 3)
        grid.addWidget(self.mode_server, 2, 0)
        grid.addWidget(self.server_url, 2, 1, 1, 2)
        domains = QHBoxLayout()
        domains.addWidget(Label("Domains:"))
        for box in self.domain_boxes.values():
            domains.addWidget(box)
        domains.addWidget(self.long_context)
        domains.addStretch(1)
        domains.addWidget(self.run_button)
        setup_box = QGroupBox("Reference")
        sl = QVBoxLayout(setup_box)
        sl.addLayout(grid)
        sl.addLayout(domains)

        self.prompt_picker = QComboBox()
        self.reference_text = SafeBrowser()
        self.candidate_text = SafeBrowser()
        self.reference_label = RichLabel("<b>Reference</b>")
        self.candidate_label = RichLabel("<b>Your model</b>")
        texts = QGridLayout()
        texts.addWidget(self.reference_label, 0, 0)
        texts.addWidget(self.candidate_label, 0, 1)
        texts.addWidget(self.reference_text, 1, 0)
        texts.addWidget(self.candidate_text, 1, 1)
        self.ppl_chart = BarChart(["perplexity ratio, yours ÷ reference (log scale)"], log=True)
        self.ppl_chart.setToolTip(GLOSSARY["ppl"])
        self.kld_chart = BarChart(["mean KL divergence from the reference"])
        self.kld_chart.setToolTip(GLOSSARY["kld"])
        charts = QHBoxLayout()
        charts.addWidget(self.ppl_chart)
        charts.addWidget(self.kld_chart)

        lay = QVBoxLayout(self)
        lay.addWidget(RichLabel("<h2>Compare</h2>Measure what the quantization costs, on the same prompts and texts."))
        lay.addWidget(setup_box)
        lay.addWidget(self.status)
        lay.addWidget(self.prompt_picker)
        lay.addLayout(texts, 1)
        lay.addLayout(charts)

        self.run_button.clicked.connect(self.start)
        self.prompt_picker.currentIndexChanged.connect(self.show_sample)
        state.profile_changed.connect(lambda _: self.clear())
        state.busy_changed.connect(lambda busy: self.run_button.setEnabled(not busy))

    def set_demo(self, demo: Any) -> None:
        self.demo = demo
        if not self.reference_path.text():
            self.reference_path.setText(str(demo.reference))

    def choose_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "A higher-precision file of the same model", "", "GGUF (*.gguf)")
        if path:
            self.reference_path.setText(path)
            self.mode_file.setChecked(True)

    def clear(self) -> None:
        self.comparison = None
        self.prompt_picker.clear()
        self.reference_text.clear()
        self.candidate_text.clear()
        self.ppl_chart.set_rows([])
        self.kld_chart.set_rows([])
        self.status.clear()

    def job(self) -> tuple[Job[Comparison], str] | None:
        profile = self.state.profile
        if profile is None:
            self.status.setText("Open a model first: it is the one compared against the reference.")
            return None
        setup = self.state.setup
        domains = [d for d, box in self.domain_boxes.items() if box.isChecked()] or ["general"]
        candidate = run_settings(setup)
        if self.mode_cache.isChecked():
            reference, ref_settings, kind = profile.path, run_settings(setup, "f16", "f16"), "settings"
        elif self.mode_server.isChecked():
            reference, ref_settings, kind = self.server_url.text().strip(), candidate, "remote"
        else:
            reference, ref_settings, kind = self.reference_path.text().strip(), candidate, "quant"
        if not reference:
            self.status.setText("Pick a reference first.")
            return None
        job = compare(
            reference, profile.path, ref_settings, candidate, domains=domains,
            long_context=self.long_context.isChecked(), eval_settings=QUICK,
        )  # fmt: skip
        return job, kind

    def start(self) -> None:
        made = self.job()
        if made is None:
            return
        job, kind = made
        self.clear()
        self.status.setText("Running… (Cancel in the status bar stops it within a second)")
        path = self.state.profile.path if self.state.profile else None
        self.state.run(lambda: job, lambda c: self.finished(c, kind, path), self.failed)

    def run_demo_comparison(self) -> None:
        """The demo's reference (Q4_1) against the model on screen: used by the stall benchmark."""
        if self.demo is not None:
            self.reference_path.setText(str(self.demo.reference))
        self.mode_file.setChecked(True)
        self.start()

    def failed(self, exc: BaseException) -> None:
        self.status.setText("The comparison stopped.")
        self.state.error.emit(exc)

    def finished(self, comparison: Comparison, kind: str, path: str | None = None) -> None:
        if path is not None and (self.state.profile is None or self.state.profile.path != path):
            self.status.setText("Another model was opened while comparing: that result was set aside.")
            return
        self.comparison = comparison
        approx = " (approximate: from a server's top log-probabilities)" if comparison.approximate else ""
        self.status.setText(f"Done in {comparison.seconds:.0f} s{approx}.")
        self.prompt_picker.clear()
        for s in comparison.samples:
            self.prompt_picker.addItem(f"{s.domain}: {s.prompt[:80]}")
        metrics = comparison.metrics
        self.ppl_chart.set_rows([(d, [m.ppl_ratio]) for d, m in metrics.items()], reference=1.01)
        self.kld_chart.set_rows([(f"{d} ({m.top1_agreement:.0%} same)", [m.kld_mean]) for d, m in metrics.items()])
        self.state.set_comparison(comparison, measurements_from_comparison(comparison.to_dict(), kind), path)

    def show_sample(self, index: int) -> None:
        if self.comparison is None or not 0 <= index < len(self.comparison.samples):
            return
        s = self.comparison.samples[index]
        cut = s.first_divergence_char
        self.reference_text.set_app_html(_highlight(s.reference, cut))
        self.candidate_text.set_app_html(_highlight(s.candidate, cut))
        where = "identical" if cut is None else f"they part at character {cut} (token {s.first_divergence})"
        self.candidate_label.setText(f"<b>Your model</b> — {where}")


def _highlight(text: str, cut: int | None) -> str:
    if cut is None:
        return f"<pre style='white-space:pre-wrap'>{escape(text)}</pre>"
    return (
        f"<pre style='white-space:pre-wrap'>{escape(text[:cut])}"
        f"<span style='background:#ffcdd2;color:#b71c1c'>{escape(text[cut:])}</span></pre>"
    )
