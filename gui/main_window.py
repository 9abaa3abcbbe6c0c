"""The window: a sidebar of steps (each with its state; any can be revisited), the one-line verdict
on top of every page once a diagnosis exists, the page, and a status bar with progress."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core import __version__
from core.app.demo import DemoModels, prepare_demo
from core.app.session import saved_setup, saved_symptoms
from core.app.types import ModelProfile, Setup
from core.progress import Progress
from gui import style
from gui.pages.diagnosis_page import DiagnosisPage
from gui.pages.export_page import ExportPage
from gui.pages.model import ModelPage
from gui.pages.setup_page import SetupPage
from gui.pages.start_page import StartPage
from gui.state import AppState
from gui.widgets import ErrorBanner, Label, icon
from gui.widgets_steps import StepList, VerdictBanner, step_states

MAX_RECENT = 10


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, detect_hardware: bool = True) -> None:
        super().__init__()
        style.apply(QApplication.instance())  # type: ignore[arg-type]
        self.settings = settings or QSettings("QuantDoctor", "QuantDoctor")
        self.setWindowTitle(f"Quant Doctor {__version__}")
        self.setWindowIcon(icon("app"))
        self.state = AppState(self)  # goes with the window, and so do its jobs' reports
        self.demo: DemoModels | None = None

        self.pages: dict[str, QWidget] = {}
        self.sidebar = StepList()
        self.stack = QStackedWidget()
        self.banner = ErrorBanner()
        self.verdict = VerdictBanner()
        self._to_diagnosis = False  # after an open or an import: show the new diagnosis when it comes

        from gui.pages.advice_page import AdvicePage
        from gui.pages.compare_page import ComparePage
        from gui.pages.machine import MachinePage

        self.start_page = StartPage()
        self.machine_page = MachinePage(self.state, detect=detect_hardware)
        self.model_page = ModelPage(self.state, self.recent_files())
        self.setup_page = SetupPage(self.state)
        self.diagnosis_page = DiagnosisPage(self.state)
        self.compare_page = ComparePage(self.state)
        self.compare_page.use_settings(self.settings)  # the GPU answer is remembered with the other choices
        self.advice_page = AdvicePage(self.state)
        self.export_page = ExportPage(self.state)
        for name, title, page in (
            ("start", "Start", self.start_page),
            ("machine", "Machine", self.machine_page),
            ("model", "Model", self.model_page),
            ("setup", "Your setup", self.setup_page),
            ("diagnosis", "Diagnosis", self.diagnosis_page),
            ("compare", "Compare", self.compare_page),
            ("advice", "Advice", self.advice_page),
            ("export", "Export", self.export_page),
        ):
            self.add_page(name, title, page)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.progress_text = Label()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.statusBar().addPermanentWidget(self.progress_text)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.banner)
        rl.addWidget(self.verdict)
        rl.addWidget(self.stack, 1)
        central = QWidget()
        lay = QHBoxLayout(central)
        lay.addWidget(self.sidebar)
        lay.addWidget(right, 1)
        self.setCentralWidget(central)
        self._menus()

        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.sidebar.currentRowChanged.connect(
            lambda row: self.verdict.set_on_diagnosis_page(
                self.sidebar.names[row] == "diagnosis" if row >= 0 else False
            )
        )
        self.state.error.connect(self.banner.show_error)
        self.state.progress.connect(self.on_progress)
        self.state.busy_changed.connect(self.on_busy)
        self.state.profile_changed.connect(self.on_profile)
        self.state.diagnosis_changed.connect(self.on_diagnosis)
        for signal in (
            self.state.profile_changed,
            self.state.setup_changed,
            self.state.hardware_changed,
            self.state.diagnosis_changed,
            self.state.comparison_changed,
        ):
            signal.connect(self.update_steps)
        self.state.setup_changed.connect(self.on_setup)
        self.verdict.open_diagnosis.connect(lambda: self.show_page("diagnosis"))
        self.model_page.demo_requested.connect(self.start_demo)
        self.start_page.demo_requested.connect(self.start_demo)
        self.start_page.open_requested.connect(self.model_page.choose_file)
        self.start_page.connect_requested.connect(self.connect_to_app)
        self.start_page.symptoms.changed.connect(self.state.set_symptoms)
        self.state.symptoms_changed.connect(self.start_page.symptoms.set_ticked)
        self.state.symptoms_changed.connect(lambda _s: self.update_steps())
        self.start_page.set_connect_available(self.can_connect())
        self.diagnosis_page.better_quant_requested.connect(self.find_better_quant)
        self.setup_page.engine_panel.imported.connect(lambda: self.show_page("diagnosis"))
        self.hub_dialog: Any = None
        self.cancel_button.clicked.connect(self.cancel)

        self.update_steps()
        self.restore()
        self.show_page("model" if self.recent_files() else "start")

    # -- structure -------------------------------------------------------------------------------
    def add_page(self, name: str, title: str, page: QWidget) -> None:
        """Every page scrolls inside the stack, so no page's content can force a window taller than the
        screen (a 1366x768 laptop, a 900x600 window) whatever it grows to hold."""
        self.pages[name] = page
        self.sidebar.add_step(name, title)
        holder = QScrollArea()
        holder.setWidgetResizable(True)
        holder.setFrameShape(QFrame.Shape.NoFrame)
        holder.setWidget(page)
        self.stack.addWidget(holder)

    def update_steps(self, *_: object) -> None:
        self.sidebar.set_states(step_states(self.state))

    def can_connect(self) -> bool:
        """Whether the Setup page has the live-engine connection section (another part of the app)."""
        if hasattr(self.setup_page, "focus_connect"):
            return True
        return any(
            b.text().replace("&", "").startswith("Connect to my app") for b in self.setup_page.findChildren(QPushButton)
        )

    def connect_to_app(self) -> None:
        self.show_page("setup")
        focus = getattr(self.setup_page, "focus_connect", None)
        panel = getattr(self.setup_page, "engine_panel", None)
        if callable(focus):
            focus()
        elif panel is not None:  # the Setup page's connection section: look for the running app at once
            panel.connect_button.setFocus()
            panel.connect_button.click()

    def show_page(self, name: str) -> None:
        self.sidebar.setCurrentRow(list(self.pages).index(name))

    def current_page(self) -> str:
        return list(self.pages)[self.stack.currentIndex()]

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (
            ("&Open model file…", QKeySequence.StandardKey.Open, self.model_page.choose_file),
            ("Open model &folder…", QKeySequence("Ctrl+Shift+O"), self.model_page.choose_folder),
            ("Try the &demo", QKeySequence("Ctrl+D"), self.start_demo),
            ("&Export report…", QKeySequence("Ctrl+E"), lambda: self.show_page("export")),
            ("&Quit", QKeySequence.StandardKey.Quit, self.close),
        ):
            action = QAction(text, self)
            action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        go = self.menuBar().addMenu("&Go")
        for i, name in enumerate(self.pages):
            action = QAction(self.sidebar.item(i).text(), self)
            action.setShortcut(QKeySequence(f"Alt+{i + 1}"))
            action.triggered.connect(lambda _=False, n=name: self.show_page(n))
            go.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Quant Doctor", self)
        about.triggered.connect(
            lambda: QMessageBox.about(
                self,
                "About Quant Doctor",
                f"Quant Doctor {__version__}\nFinds out why a quantized local LLM got worse, and what to do.",
            )
        )
        help_menu.addAction(about)

    # -- long jobs -------------------------------------------------------------------------------
    def on_progress(self, event: Progress) -> None:
        self.progress.show()
        fraction = event.overall if event.overall is not None else event.fraction  # the whole job, when known
        if fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
        self.progress_text.setText(event.describe())

    def on_busy(self, busy: bool) -> None:
        self.cancel_button.setVisible(busy)
        if not busy:
            self.progress.hide()
            self.progress_text.clear()

    def cancel(self) -> None:
        for worker in list(self.state.workers):
            worker.cancel()

    def start_demo(self) -> None:
        self.state.run(prepare_demo, self.on_demo_ready)

    def on_demo_ready(self, demo: DemoModels) -> None:
        self.demo = demo
        self.compare_page.set_demo(demo)
        self.state.open_model(str(demo.candidates["Q2_0"]))

    def find_better_quant(self) -> None:
        from gui.pages.hub_dialog import BetterQuantDialog

        if self.hub_dialog is None:
            self.hub_dialog = BetterQuantDialog(self.state, self)
            self.hub_dialog.downloaded.connect(self.on_downloaded)
        self.hub_dialog.show()
        self.hub_dialog.raise_()

    def on_downloaded(self, downloaded: Any, purpose: str) -> None:
        if purpose == "reference":
            self.compare_page.reference_path.setText(str(downloaded.path))
            self.compare_page.mode_file.setChecked(True)
            self.show_page("compare")
        else:
            self.state.open_model(str(downloaded.path))
            self.show_page("diagnosis")

    def on_profile(self, profile: ModelProfile) -> None:
        self.add_recent(profile.path)
        if self.current_page() in ("start", "model"):
            self.show_page("diagnosis")

    def on_setup(self, setup: Setup) -> None:
        """An import (or a connection) brought new settings: point the person to the new diagnosis."""
        if setup.source not in ("defaults", "typed in the app") and self.current_page() == "setup":
            self._to_diagnosis = True

    def on_diagnosis(self, d: object) -> None:
        self.banner.hide()
        self.verdict.show_verdict(d)
        if self._to_diagnosis:
            self._to_diagnosis = False
            if self.current_page() == "setup":  # the person has not gone elsewhere meanwhile
                self.show_page("diagnosis")

    # -- settings --------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            return [value][:MAX_RECENT]
        return [v for v in value if isinstance(v, str)][:MAX_RECENT] if isinstance(value, list) else []

    def add_recent(self, path: str) -> None:
        recent = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self.model_page.set_recent(recent[:MAX_RECENT])

    def restore(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 780)
        raw = self.settings.value("setup")
        setup = saved_setup(raw) if isinstance(raw, str) else None
        if setup is not None:  # an old or damaged saved setup: start from the defaults
            self.state.set_setup(setup)
        raw = self.settings.value("symptoms")
        symptoms = saved_symptoms(raw) if isinstance(raw, str) else ()
        if symptoms:
            self.state.set_symptoms(symptoms)

    def save(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("setup", json.dumps(self.state.setup.comparable()))
        self.settings.setValue("symptoms", json.dumps(list(self.state.symptoms)))
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.state.shutdown()
        self.save()
        super().closeEvent(event)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Escape and self.state.busy:
            self.cancel()
        else:
            super().keyPressEvent(event)
