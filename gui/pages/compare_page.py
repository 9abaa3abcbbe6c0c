"""Compare: run the model and a reference on the same prompts and texts, with live progress, then
show both outputs side by side (where they part is highlighted) and the loss per domain in words.

The person can add the prompt that went wrong and their own text files; "Is it the file or my
settings?" runs their file with their settings and with an f16 cache (core.evaluation.settings_trial).
The comparison itself lives in AppState, beside the model it was made for; this page only shows it.
It speaks first in words (the verdict sentence; the numbers under Details), shows the person's own
prompt first, says how long it will take before it starts, and while it runs what each model is doing;
every one of those decisions is core.app.compare's."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import numbers
from core.app import gpu
from core.app.compare import (
    DEFAULT_DOMAINS,
    OWN_PROMPTS_DOMAIN,
    QUICK,
    ProgressBoard,
    Provisional,
    Sample,
    SmoothEta,
    compare,
    details,
    domain_words,
    estimate,
    file_or_settings,
    file_size,
    headline,
    measured_speed,
    quick_run_settings,
    read_own_texts,
    samples_first,
    typical_findings,
)
from core.app.compare_plan import Preflight, preflight_job, remember_speed, remembered_speed
from core.app.types import Comparison, DomainResult, Prompt, RunSettings, SettingsTrial
from core.errors import CancelledError, QuantDoctorError
from core.progress import Job, Progress, format_duration
from gui import style
from gui.jobs import JobWorker
from gui.pages.compare_gpu import GpuScoring
from gui.pages.compare_reference import ReferenceHelp
from gui.state import AppState
from gui.widgets import GLOSSARY, BarChart, Label, RichLabel, SafeBrowser, plain
from gui.widgets import esc as escape


class ComparePage(QWidget):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.demo: Any = None
        self.eval_settings = QUICK  # tests set a smaller workload; the benchmark runs the full one
        self.own_prompts: list[Prompt] = []
        self.own_texts: dict[str, str] = {}
        self.running = False
        # this machine's measured speed, from the last comparison here, in the window or the CLI (core.app.compare_plan)
        self.speed: float | None = remembered_speed()
        self.plan: Preflight | None = None  # time and peak memory of what would be compared, said before it starts
        self._plan_ticket = 0
        self._plans: list[JobWorker] = []  # running: kept alive until they finish
        self.samples: list[Sample] = []  # in the order the picker shows them: the person's own prompt first
        self.board = ProgressBoard()
        self.eta = SmoothEta()
        self._started_with: tuple[tuple[int, int], list[str], bool, int, dict[str, str]] | None = None

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
        self.long_context = QCheckBox("long context (at your context length: slow)")
        self.measure_all = QCheckBox("Measure everything")
        self.measure_all.setToolTip(
            "Off: each text stops as soon as its verdict is certain, and the comparison once the overall verdict is.\n"
            "On: every chunk of every text is scored, as llama-perplexity does."
        )
        self.run_button = QPushButton("Compare")
        self.run_button.setToolTip("Runs the reference first, then your model: never both in memory at once.")
        self.trial_button = QPushButton("Is it the file or my settings?")
        self.trial_button.setToolTip(
            "Runs your file twice: with your settings and with an f16 cache, at your context, against the reference."
        )
        self.status = Label()
        self.status.setWordWrap(True)
        self.estimate_label = style.text_label("", "small", muted=True)
        self.estimate_label.setWordWrap(True)

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
        buttons = QHBoxLayout()  # a row of its own: the page must fit a 900-pixel-wide window
        buttons.addWidget(self.measure_all)
        buttons.addStretch(1)
        buttons.addWidget(self.trial_button)
        buttons.addWidget(self.run_button)
        setup_box = QGroupBox("Reference")
        sl = QVBoxLayout(setup_box)
        sl.addLayout(grid)
        self._add_reference_help(sl)
        sl.addLayout(domains)
        sl.addLayout(buttons)
        sl.addWidget(self.estimate_label)

        # the person's own prompt and texts
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setPlaceholderText("Try the prompt that went wrong: paste it here")
        self.prompt_edit.setMaximumHeight(60)
        self.add_prompt_button = QPushButton("Add this prompt")
        self.add_prompt_button.clicked.connect(self.add_prompt)
        self.add_text_button = QPushButton("Add a text file…")
        self.add_text_button.clicked.connect(self.choose_text)
        self.own_label = Label()
        self.own_label.setWordWrap(True)
        own_box = QGroupBox("Your own prompt and texts")
        ol = QGridLayout(own_box)
        ol.addWidget(self.prompt_edit, 0, 0, 2, 1)
        ol.addWidget(self.add_prompt_button, 0, 1)
        ol.addWidget(self.add_text_button, 1, 1)
        ol.addWidget(self.own_label, 2, 0, 1, 2)

        self.overall = QProgressBar()
        self.overall.setRange(0, 1000)
        self.overall.hide()
        self.overall_text = Label()
        self.board_label = Label()  # one line per model: what it is doing, tokens scored
        self.board_label.setWordWrap(True)
        self.board_label.hide()
        self.verdict_label = Label()
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextFormat(Qt.TextFormat.PlainText)  # paths and texts are data, never markup
        font = self.verdict_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.verdict_label.setFont(font)
        self.domain_rows = Label()  # each text's verdict in words, as soon as it is in
        self.domain_rows.setWordWrap(True)
        self.domain_rows.setTextFormat(Qt.TextFormat.PlainText)
        self.details_button = QToolButton()
        self.details_button.setText("Details: the numbers")
        self.details_button.setCheckable(True)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setToolTip("Perplexity, KL divergence and how often both models pick the same next token.")
        self.details_button.toggled.connect(self._toggle_details)
        self.details_button.hide()
        self.details_label = Label()
        self.details_label.setWordWrap(True)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_label.hide()

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
        self.ppl_chart = BarChart(
            ["perplexity ratio, yours ÷ reference (log scale)"], log=True, fmt=lambda v: "× " + numbers.plain(v)
        )
        self.ppl_chart.setToolTip(GLOSSARY["ppl"])
        self.kld_chart = BarChart(["mean KL divergence from the reference"])
        self.kld_chart.setToolTip(GLOSSARY["kld"])
        charts = QHBoxLayout()
        charts.addWidget(self.ppl_chart)
        charts.addWidget(self.kld_chart)

        lay = QVBoxLayout(self)
        lay.addWidget(RichLabel("<h2>Compare</h2>Measure what the quantization costs, on the same prompts and texts."))
        lay.addWidget(setup_box)
        lay.addWidget(own_box)
        self.gpu_panel = GpuScoring(state)  # asked before the first comparison, where this machine has a GPU
        lay.addWidget(self.gpu_panel)
        lay.addWidget(self.status)
        lay.addWidget(self.overall)
        lay.addWidget(self.overall_text)
        lay.addWidget(self.board_label)
        lay.addWidget(self.verdict_label)
        lay.addWidget(self.domain_rows)
        self.scored_label = style.text_label("", "small", muted=True)  # where it was scored (core.app.gpu)
        self.scored_label.hide()
        lay.addWidget(self.scored_label)
        lay.addWidget(self.details_button)
        lay.addWidget(self.details_label)
        self.hint = style.text_label(
            "Results appear here, each text's as soon as it is scored: a verdict in words, the two models' "
            "answers side by side, and how far apart their predictions are.",
            muted=True,
        )
        lay.addWidget(self.hint)
        # the answers and the charts: shown once there is something in them, never as empty boxes
        self.results = QWidget()
        rl = QVBoxLayout(self.results)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.prompt_picker)
        rl.addLayout(texts, 1)
        self.charts = QWidget()  # numbers: shown with the Details
        self.charts.setLayout(charts)
        charts.setContentsMargins(0, 0, 0, 0)
        self.charts.hide()
        rl.addWidget(self.charts)
        self.results.hide()
        lay.addWidget(self.results, 1)

        self.run_button.clicked.connect(self.start)
        self.trial_button.clicked.connect(self.start_trial)
        self.prompt_picker.currentIndexChanged.connect(self.show_sample)
        state.profile_changed.connect(lambda _: self.clear())
        state.busy_changed.connect(self._busy)
        state.progress.connect(self.on_progress)
        # the estimate before start follows what would be compared
        for box in [*self.domain_boxes.values(), self.long_context]:
            box.toggled.connect(self.update_estimate)
        for b in (self.mode_file, self.mode_cache, self.mode_server):
            b.toggled.connect(self.update_estimate)
        self.reference_path.textChanged.connect(self.update_estimate)
        state.profile_changed.connect(lambda _: self.update_estimate())
        self.update_estimate()

    @property
    def comparison(self) -> Comparison | None:
        """The comparison on screen is the state's: it lives once, beside the model it was made for."""
        return self.state.comparison

    def _toggle_details(self, shown: bool) -> None:
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.details_label.setVisible(shown)
        self.charts.setVisible(shown and self.comparison is not None)

    def _workload(self) -> tuple[tuple[int, int], list[str], bool, int, dict[str, str]] | None:
        """What would be compared, for the estimate: the two files' sizes, the texts, the prompts."""
        profile = self.state.profile
        if profile is None:
            return None
        mine = file_size(profile.path) or 0
        if self.mode_cache.isChecked():
            ref = mine
        elif self.mode_server.isChecked():
            ref = mine  # a server's model is not on disk here: taken as the same size
        else:
            ref = file_size(self.reference_path.text().strip()) or mine
        domains = [d for d, box in self.domain_boxes.items() if box.isChecked()]
        if not domains and not self.own_texts and not self.own_prompts:
            domains = ["general"]
        return (ref, mine), domains, self.long_context.isChecked(), len(self.own_prompts), dict(self.own_texts)

    def update_estimate(self) -> None:
        """How long Compare will take, shown before it is clicked (core.app.compare.estimate)."""
        work = self._workload()
        if work is None or not any(work[0]):
            self.estimate_label.setText("")
            return
        sizes, domains, long_context, prompts, texts = work
        guess = estimate(sizes, domains, long_context, self.eval_settings, prompts, texts, self.speed)
        self.estimate_label.setText(guess.words())
        self._plan_memory(domains, long_context, prompts, texts)

    def _plan_memory(self, domains: list[str], long_context: bool, prompts: int, texts: dict[str, str]) -> None:
        """The peak memory, and whether the models can be compared here at all, off the UI thread
        (core.app.compare_plan.preflight reads the reference's header and the machine)."""
        profile, sources = self.state.profile, self._sources(quiet=True)
        self.plan = None
        if profile is None or sources is None:
            return
        reference, ref_settings, _candidate, _kind = sources
        self._plan_ticket += 1
        ticket = self._plan_ticket
        machine = self.state.hardware  # the comparison runs here: a what-if machine is not this one
        here = machine if machine is not None and machine.source == "detected" else None
        args = (reference, profile.path, ref_settings, domains, long_context, self.eval_settings, prompts, texts,
                self.speed, here, {profile.path: profile})  # fmt: skip
        worker = JobWorker(lambda: preflight_job(*args), self)
        worker.signals.returned.connect(lambda plan: self._show_plan(ticket, plan))
        worker.signals.finished.connect(lambda: self._plans.remove(worker) if worker in self._plans else None)
        self._plans.append(worker)
        worker.start()

    def _show_plan(self, ticket: int, plan: Preflight) -> None:
        if ticket != self._plan_ticket:
            return  # the choice changed meanwhile: a newer plan answers
        self.plan = plan
        self.estimate_label.setText("\n".join(plan.words()))

    def _busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.trial_button.setEnabled(not busy)

    def set_demo(self, demo: Any) -> None:
        self.demo = demo
        if not self.reference_path.text():
            self.reference_path.setText(str(demo.reference))

    def choose_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "A higher-precision file of the same model", "", "GGUF (*.gguf)")
        if path:
            self.reference_path.setText(path)
            self.mode_file.setChecked(True)

    # -- the person's own prompt and texts --------------------------------------------------------
    def add_prompt(self) -> None:
        text = self.prompt_edit.toPlainText().strip()
        if not text:
            self.status.setText("Paste the prompt that went wrong first.")
            return
        n = len(self.own_prompts) + 1
        self.own_prompts.append(Prompt(f"{OWN_PROMPTS_DOMAIN}-{n}", OWN_PROMPTS_DOMAIN, text, text))
        self.prompt_edit.clear()
        self._show_own()
        self.update_estimate()

    def choose_text(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "A text of the kind that went wrong", "", "Text (*.txt *.md *)")
        if path:
            self.add_text_file(path)

    def add_text_file(self, path: str) -> bool:
        """Read and check a text file (plain errors in place); it is scored as its own domain."""
        from pathlib import Path

        name = Path(path).stem[:40] or "mine"
        base, i = name, 2
        while name in self.own_texts or name.lower() in DEFAULT_DOMAINS or name.lower() == "long":
            name, i = f"{base}-{i}", i + 1
        try:
            self.own_texts.update(read_own_texts([f"{name}={path}"]))
        except QuantDoctorError as exc:
            self.state.error.emit(exc)
            return False
        self._show_own()
        return True

    def _show_own(self) -> None:
        parts = []
        if self.own_prompts:
            parts.append(f"{len(self.own_prompts)} prompt(s) of yours join the comparison as their own rows")
        if self.own_texts:
            parts.append("your texts, scored as their own domains: " + ", ".join(self.own_texts))
        self.own_label.setText("; ".join(parts))
        self.update_estimate()

    # -- running ----------------------------------------------------------------------------------
    def clear(self) -> None:
        self.prompt_picker.clear()
        self.reference_text.clear()
        self.candidate_text.clear()
        self.ppl_chart.set_rows([])
        self.kld_chart.set_rows([])
        self.status.clear()
        self.verdict_label.clear()
        self.domain_rows.clear()
        self.scored_label.clear()
        self.scored_label.hide()
        self.details_label.clear()
        self.details_button.setChecked(False)
        self.details_button.hide()
        self.board_label.clear()
        self.board_label.hide()
        self.samples = []
        self.overall.hide()
        self.overall_text.clear()
        self.overall_text.hide()
        self.results.hide()
        self.hint.show()

    def job(self) -> tuple[Job[Comparison], str] | None:
        made = self._sources()
        if made is None:
            return None
        reference, ref_settings, candidate, kind = made
        profile = self.state.profile
        assert profile is not None
        domains = [d for d, box in self.domain_boxes.items() if box.isChecked()]
        if not domains and not self.own_texts and not self.own_prompts:
            domains = ["general"]
        job = compare(
            reference, profile.path, ref_settings, candidate, domains=domains,
            long_context=self.long_context.isChecked(), eval_settings=self.eval_settings,
            texts=dict(self.own_texts), own_prompts=list(self.own_prompts),
            long_context_ctx=self.state.setup.run.n_ctx,  # the long document at their context, not the quick one
            full=self.measure_all.isChecked(),
        )  # fmt: skip
        return job, kind

    def _sources(self, quiet: bool = False) -> tuple[str, RunSettings, RunSettings, str] | None:
        profile = self.state.profile
        if profile is None:
            if not quiet:
                self.status.setText("Open a model first: it is the one compared against the reference.")
            return None
        setup = self.state.setup
        candidate = quick_run_settings(setup)
        if self.mode_cache.isChecked():
            reference, ref_settings, kind = profile.path, quick_run_settings(setup, "f16", "f16"), "settings"
        elif self.mode_server.isChecked():
            reference, ref_settings, kind = self.server_url.text().strip(), candidate, "remote"
        else:
            reference, ref_settings, kind = self.reference_path.text().strip(), candidate, "quant"
        if not reference and kind == "quant" and not quiet:  # no higher-precision file: what they can compare with
            self.status.setText("Pick a reference first, or one of the ways on below.")
            self.reference_help.look()
            return None
        if not reference:
            if not quiet:
                self.status.setText("Pick a reference first.")
            return None
        return reference, ref_settings, candidate, kind

    def start(self) -> None:
        if self.plan is not None and not self.plan.fits:  # said before anything is loaded, with what would work
            self.status.setText(" ".join(self.plan.problems()) + " " + " ".join(
                f"What would work: {o}" for o in self.plan.options))  # fmt: skip
            return
        made = self.job()
        if made is None:
            return
        job, kind = made
        if kind != "remote" and not self.gpu_panel.ready(self.start):
            job.close()  # asked, or the GPU build is being fetched: start() runs again once it is decided
            return
        self._started_with = self._workload()
        self._begin("Running… (Cancel stops it within a second)")
        path = self.state.profile.path if self.state.profile else None
        self.state.run(lambda: job, lambda c: self.finished(c, path), self.failed)

    def start_trial(self) -> None:
        """Is it the file or my settings? The person's file with their settings and with an f16 cache."""
        profile = self.state.profile
        if profile is None:
            self.status.setText("Open a model first.")
            return
        if self.mode_server.isChecked():
            self.status.setText("This runs your file in Quant Doctor's own llama.cpp: pick a file reference or none.")
            return
        if not self.gpu_panel.ready(self.start_trial):
            return
        theirs = self.state.setup.run
        reference = self.reference_path.text().strip() if self.mode_file.isChecked() else ""
        domains = [d for d, box in self.domain_boxes.items() if box.isChecked() and d == "general"] + ["long"]
        path = profile.path
        self._started_with = None  # two runs of another shape: not a measure of the quick comparison's speed
        self._begin("Running your file with your settings, then with an f16 cache…")

        def make() -> Job[SettingsTrial]:
            return file_or_settings(
                path, theirs, reference or None, self.eval_settings, domains, dict(self.own_texts) or None
            )

        self.state.run(make, lambda t: self.finished(t.theirs, path, t), self.failed)

    def run_demo_comparison(self) -> None:
        """The demo's reference (Q4_1) against the model on screen: used by the stall benchmark."""
        if self.demo is not None:
            self.reference_path.setText(str(self.demo.reference))
        self.mode_file.setChecked(True)
        self.start()

    def _begin(self, text: str) -> None:
        self.clear()
        self.running = True
        self.status.setText(text)
        self.overall.setValue(0)
        self.overall.show()
        self.board = ProgressBoard()
        self.eta = SmoothEta()
        self.board_label.setText("\n".join(self.board.lines()))
        self.board_label.show()

    def on_progress(self, event: Progress) -> None:
        if not self.running:
            return
        if isinstance(event, DomainResult):  # in words; its numbers go under Details at the end
            rows = self.domain_rows.text()
            self.domain_rows.setText((rows + "\n" if rows else "") + domain_words(event))
        if isinstance(event, Provisional):  # "Provisional verdict after 255 tokens: …", then "Final verdict …"
            self.verdict_label.setText(event.line())
        self.board.feed(event)
        self.board_label.setText("\n".join(self.board.lines()))
        if event.overall is not None:
            self.overall.setValue(int(1000 * event.overall))
            eta = self.eta.update(event.overall_eta_s)  # counts down; never jumps up by minutes
            left = f", about {format_duration(eta)} to go" if eta is not None else ""
            self.overall_text.setText(f"{100 * event.overall:.0f}% done{left}")
            self.overall_text.show()

    def failed(self, exc: BaseException) -> None:
        self.running = False
        self.overall.hide()
        self.board_label.hide()
        if isinstance(exc, CancelledError):
            self.status.setText("Cancelled. Nothing was changed; start it again whenever you like.")
            return
        self.status.setText("The comparison stopped.")
        self.state.error.emit(exc)

    def finished(self, comparison: Comparison, path: str | None = None, trial: SettingsTrial | None = None) -> None:
        self.running = False
        self.overall.hide()
        self.board_label.hide()
        if not self.state.set_comparison(comparison, path, trial):
            self.status.setText("Another model was opened while comparing: that result was set aside.")
            return
        self._show_where_scored(comparison, trial)
        approx = " (approximate: from a server's top log-probabilities)" if comparison.approximate else ""
        self.status.setText(f"Done in {format_duration(comparison.seconds)}{approx}.")
        if self._started_with is not None:  # this machine's speed, for the next estimate
            sizes, domains, long_context, prompts, texts = self._started_with
            measured = measured_speed(comparison.seconds, sizes, domains, long_context, self.eval_settings, prompts,
                                      texts)  # fmt: skip
            self.speed = measured if measured is not None else self.speed
            remember_speed(measured)
            self._started_with = None
            self.update_estimate()
        self.verdict_label.setText("\n".join(headline(comparison, trial) + typical_findings(comparison)))
        self.domain_rows.clear()  # the verdict above says it; each text's numbers are under Details
        self.details_label.setText("\n".join(details(comparison, trial)))
        self.details_button.show()
        self._toggle_details(self.details_button.isChecked())
        self.overall_text.setText("")
        self.hint.hide()
        self.results.show()
        self.overall_text.hide()
        QTimer.singleShot(0, self.scroll_to_results)
        self.prompt_picker.clear()
        self.samples = samples_first(comparison)  # the person's own prompt first: what they came with
        for s in self.samples:
            who = "Your prompt" if s.domain == OWN_PROMPTS_DOMAIN else f"Sample ({s.domain})"
            self.prompt_picker.addItem(plain(f"{who}: {' '.join(s.prompt.split())[:80]}"))
        metrics = comparison.metrics
        self.ppl_chart.set_rows([(d, [m.ppl_ratio]) for d, m in metrics.items()], reference=1.01)
        self.kld_chart.set_rows(
            [(d, [m.kld_mean]) for d, m in metrics.items()],
            notes=[f"{numbers.percent(m.top1_agreement)} same top token" for m in metrics.values()],
        )

    # -- GPU scoring and a reference the person can get (issue 23) -----------------------------------
    def use_settings(self, settings: QSettings) -> None:
        """The window's saved settings: the GPU answer is remembered there."""
        self.gpu_panel.settings = settings

    def _add_reference_help(self, box: QVBoxLayout) -> None:
        self.no_reference_button = QPushButton("I have no higher-precision file…")
        self.no_reference_button.setToolTip(
            "See what you can compare against: the best reference on the Hub (its size said first), the published "
            "figure for your quant type, or your file with an f16 cache."
        )
        self.no_reference_button.clicked.connect(self.show_reference_help)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.no_reference_button)
        box.addLayout(row)
        self.reference_help = ReferenceHelp(self.state)
        self.reference_help.reference_ready.connect(self._reference_fetched)
        self.reference_help.published.connect(self.show_published)
        self.reference_help.cache_question.connect(lambda: self.mode_cache.setChecked(True))
        box.addWidget(self.reference_help)

    def show_reference_help(self) -> None:
        if self.state.profile is None:
            self.status.setText("Open a model first: the ways on are found for it.")
            return
        self.reference_help.look()

    def _reference_fetched(self, path: str) -> None:
        self.reference_path.setText(path)
        self.mode_file.setChecked(True)

    def show_published(self, sentence: str) -> None:
        """The published figure instead of a comparison: said as what it is, nothing measured here."""
        self.clear()
        self.status.setText("Nothing was measured here: this is llama.cpp's published figure for your quant type.")
        self.verdict_label.setText(sentence.rstrip(".") + ".")

    def _show_where_scored(self, comparison: Comparison, trial: SettingsTrial | None) -> None:
        if trial is not None:
            gpu.stamp(comparison)  # a trial's runs scored with this session's scorer too
        line = self.gpu_panel.where(comparison)
        self.scored_label.setText(line)
        self.scored_label.setVisible(bool(line))

    def scroll_to_results(self) -> None:
        """Bring the verdict into view when it is below the window's edge (a small screen): the status
        line goes to the top. When it is already in view nothing moves."""
        holder = self.parentWidget()
        while holder is not None and not isinstance(holder, QScrollArea):
            holder = holder.parentWidget()
        content = holder.widget() if isinstance(holder, QScrollArea) else None
        if not isinstance(holder, QScrollArea) or content is None:
            return
        bar = holder.verticalScrollBar()
        bottom = self.verdict_label.mapTo(content, self.verdict_label.rect().bottomLeft()).y()
        if bottom <= bar.value() + holder.viewport().height():
            return
        top = self.status.mapTo(content, self.status.rect().topLeft()).y()
        bar.setValue(min(bar.maximum(), top - 8))

    def show_sample(self, index: int) -> None:
        if self.comparison is None or not 0 <= index < len(self.samples):
            return
        s = self.samples[index]
        cut = s.first_divergence_char
        self.reference_text.set_app_html(_highlight(s.reference, cut, yours=False))
        self.candidate_text.set_app_html(_highlight(s.candidate, cut, yours=True))
        if cut is None:
            where = "the same text as the reference"
        elif cut == 0:
            where = "different from the very first word (marked)"
        else:
            where = f"the same for {cut:,} characters, then different (marked)"
        self.candidate_label.setText(f"<b>Your model</b> — {where}")


def _highlight(text: str, cut: int | None, yours: bool) -> str:
    """The texts as plain data, with where they part marked. Only the person's model's text is marked
    as different (red, and struck by a rule at the cut): the reference is what it is compared with, so
    its continuation is only underlined, even when the two differ from the first character."""
    pre = "<pre style='white-space:pre-wrap'>"
    if cut is None:
        return f"{pre}{escape(text)}</pre>"
    before, after = escape(text[:cut]), escape(text[cut:])
    if not yours and cut == 0:
        return f"{pre}{escape(text)}</pre>"  # nothing in common: the reference is just the reference
    if yours:
        bg, fg = style.diff_colours()
        return f"{pre}{before}<span style='background:{bg};color:{fg}'>{after}</span></pre>"
    return f"{pre}{before}<span style='text-decoration:underline'>{after}</span></pre>"
