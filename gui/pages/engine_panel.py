"""Connect to my app / Import a log: the person's own engine fills in the setup, nothing typed.

The scan (loopback only, two seconds at most: each app's usual port, the ports the person's own apps
listen on, and any address they type in the field shown when nothing answered) and the log reading run off the UI thread through
`AppState.run`. One click on an engine found imports its settings, opens its model file when it is
on this machine, and leads to the diagnosis. Everything an engine or a log says is shown as plain
text, never as markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.app.engines import (
    PROBE_SECONDS,
    SCAN_SECONDS,
    evidence_of,
    log_job,
    nothing_answered,
    parse_address,
    scan_job,
    usual_log_files,
)
from core.app.types import EngineEvidence, FoundEngine, ScanResult, Setup
from core.errors import QuantDoctorError
from gui.state import AppState
from gui.widgets import Label, plain, plain_tip

ENGINE_ROLE = Qt.ItemDataRole.UserRole + 1


class EnginePanel(QWidget):
    """Two buttons and the list of engines found."""

    imported = Signal()  # settings were imported: the window shows the diagnosis

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.connect_button = QPushButton("Connect to my app")
        self.connect_button.setToolTip(
            "Find Ollama, LM Studio, llama-server, koboldcpp, text-generation-webui, TabbyAPI or vLLM running "
            "on this computer and read the settings of the model it has loaded (nothing leaves this computer)."
        )
        self.log_button = QPushButton("Import a log…")
        self.log_button.setToolTip(
            "Read what your app printed when it loaded the model: the real settings and warnings."
        )
        self.address_button = QPushButton("Another address…")
        self.address_button.setToolTip("Type the address your app listens on, when it is not found by itself.")
        self.address = QLineEdit()
        self.address.setPlaceholderText("e.g. 8091 or http://127.0.0.1:8091")
        self.address.setToolTip("An address on this computer: Quant Doctor never contacts another machine.")
        self.address.setClearButtonEnabled(True)
        self.look_button = QPushButton("Look there")
        self.address_row = QWidget()
        arow = QHBoxLayout(self.address_row)
        arow.setContentsMargins(0, 0, 0, 0)
        arow.addWidget(Label("Your app's address:"))
        arow.addWidget(self.address, 1)
        arow.addWidget(self.look_button)
        self.address_row.hide()
        self.status = Label()
        self.status.setWordWrap(True)
        self.found = QListWidget()
        self.found.setMaximumHeight(110)
        self.found.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.connect_button)
        buttons.addWidget(self.log_button)
        buttons.addWidget(self.address_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(buttons)
        lay.addWidget(self.found)
        lay.addWidget(self.status)
        lay.addWidget(self.address_row)
        self.connect_button.clicked.connect(self.scan)
        self.address_button.clicked.connect(self.show_address)
        self.look_button.clicked.connect(self.look_at_address)
        self.address.returnPressed.connect(self.look_at_address)
        self.log_button.clicked.connect(lambda: self.import_log())
        self.found.itemClicked.connect(self._picked)
        self.engines: list[FoundEngine] = []
        self.extra_ports: list[int] = []  # beyond each engine's default port (an app moved elsewhere)
        self.scan_seconds, self.probe_seconds = SCAN_SECONDS, PROBE_SECONDS
        self.typed: str | None = None  # the address the last scan was asked to look at, as typed
        self.everywhere = True  # the usual ports and the listening sockets too (a test may look only where it says)

    # -- connect to my app -------------------------------------------------------------------------
    def scan(self, addresses: list[tuple[str, int]] | None = None, typed: str | None = None) -> None:
        self.connect_button.setEnabled(False)
        self.look_button.setEnabled(False)
        self.status.setText(f"Looking at {typed}…" if typed else "Looking for your apps…")
        ports, seconds, probe, everywhere = list(self.extra_ports), self.scan_seconds, self.probe_seconds, self.everywhere
        self.typed = typed
        self.state.run(lambda: scan_job(ports, seconds, probe, addresses, everywhere), self.show_found, self._failed)

    def show_address(self) -> None:
        """The address field, reachable at any time (and shown by itself when nothing answered)."""
        self.address_row.show()
        self.address.setFocus()

    def look_at_address(self) -> None:
        """Scan again with the typed address: refused plainly, before any connection, when it is not this
        computer's (core.app.engines.parse_address)."""
        text = self.address.text().strip()
        try:
            where = parse_address(text)
        except QuantDoctorError as err:
            self.status.setText(f"{err.message} {err.fix}".strip())
            return
        self.scan([where], text)

    def show_found(self, result: ScanResult) -> None:
        self.connect_button.setEnabled(True)
        self.look_button.setEnabled(True)
        self.engines = result.found
        self.found.clear()
        for e in result.found:
            item = QListWidgetItem(plain(e.summary()))
            item.setData(ENGINE_ROLE, self.found.count())
            item.setToolTip(plain_tip("\n".join([*e.facts, *e.missing, *e.warnings])))
            self.found.addItem(item)
        self.found.setVisible(bool(result.found))
        if result.found:
            self.status.setText("\n".join(["Click your app to use its settings.", *result.notes]))
        else:
            self.status.setText(nothing_answered(result, self.typed))
            self.address_row.show()

    def _picked(self, item: QListWidgetItem) -> None:
        self.use_engine(self.engines[int(item.data(ENGINE_ROLE))])

    def use_engine(self, engine: FoundEngine) -> None:
        if engine.setup is None:
            self.status.setText(f"{engine.summary()}: no model to read settings from.")
            return
        self._apply(engine.setup, evidence_of(engine))

    # -- import a log -------------------------------------------------------------------------------
    def import_log(self, path: str | None = None) -> None:
        if path is None:
            usual = [p for paths in usual_log_files().values() for p in paths]  # Ollama's, LM Studio's
            start = str(usual[0]) if usual else ""
            path, _ = QFileDialog.getOpenFileName(self, "Your app's log", start, "Logs (*.log *.txt);;All files (*)")
        if not path:
            return
        self.status.setText(f"Reading {Path(path).name}…")
        self.state.run(lambda: log_job(path), lambda r: self._apply(*r), self._failed)

    # -- both --------------------------------------------------------------------------------------------
    def _apply(self, setup: Setup, evidence: EngineEvidence) -> None:
        self.status.setText("\n".join(evidence.lines()[:8]))
        self.state.take_settings(setup, evidence)
        self.imported.emit()

    def _failed(self, err: BaseException) -> None:
        self.connect_button.setEnabled(True)
        self.look_button.setEnabled(True)
        self.status.setText(str(getattr(err, "message", err)))
        self.state.error.emit(err)

    def as_text(self) -> Any:
        return self.status.text()
