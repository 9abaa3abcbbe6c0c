"""For a person with no higher-precision file of their model: what they can compare against instead, on the
Compare page (core.app.hub.reference_choices_job). Three ways on, each said before anything happens:

1. the best reference on the Hub (BF16/F16, else Q8_0, of the same model) with its size, the free disk and
   the time to fetch it; Download names the size on its button and fetches only when pressed, with
   progress, time left and Cancel; the file then becomes the comparison's reference;
2. the published figure for their quant type instead (llama.cpp's own measurements), with no download;
3. the same file with an f16 KV cache: whether it is the file or their settings, with no download.

A Hub that cannot be reached, a file whose size is not listed, or one larger than the free disk leaves
the download off and says why; the other two ways stay.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QPushButton, QVBoxLayout

from core.app.hub import ReferenceChoices, fetch_reference, format_bytes, reference_choices_job
from core.app.types import Downloaded
from core.errors import CancelledError
from gui import style
from gui.pages.fetch_bar import FetchBar
from gui.state import AppState
from gui.widgets import ErrorBanner


class ReferenceHelp(QFrame):
    reference_ready = Signal(str)  # the downloaded reference's path (its first part)
    published = Signal(str)  # the published figure's sentence, as the verdict instead of a comparison
    cache_question = Signal()  # compare the file with itself at an f16 cache

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.state = state
        self.choices: ReferenceChoices | None = None
        self.for_path: str | None = None  # the model the choices were found for
        self.title = style.text_label("No higher-precision file? Three ways on:", "body")
        self.status = style.text_label("", "small", muted=True)
        self.error = ErrorBanner()
        self.hub_line = style.text_label("")
        self.table_line = style.text_label("")
        self.cache_line = style.text_label("")
        self.download_button = QPushButton("Download")
        self.table_button = QPushButton("Use the published figure")
        self.cache_button = QPushButton("Use my file with an f16 cache")
        self.close_button = QPushButton("Hide")
        self.fetch = FetchBar("the reference")
        grid = QGridLayout()
        grid.setColumnStretch(0, 1)
        for row, (line, button) in enumerate(
            ((self.hub_line, self.download_button), (self.table_line, self.table_button),
             (self.cache_line, self.cache_button))
        ):  # fmt: skip
            grid.addWidget(line, row, 0)
            grid.addWidget(button, row, 1)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.error)
        lay.addWidget(self.status)
        lay.addLayout(grid)
        lay.addWidget(self.fetch)
        self.download_button.clicked.connect(self.download)
        self.table_button.clicked.connect(self._use_table)
        self.cache_button.clicked.connect(self._use_cache)
        self.close_button.clicked.connect(self.hide)
        state.profile_changed.connect(lambda _p: self._forget())
        self._show_choices(None)
        self.hide()

    def look(self) -> None:
        """Find the choices for the model on screen (only the Hub's listings are read: nothing downloads)."""
        profile = self.state.profile
        if profile is None:
            return
        self.show()
        self.error.hide()
        if self.choices is not None and self.for_path == profile.path:
            return  # already found for this model
        self._show_choices(None)
        self._status("Looking on the Hub for a higher-precision file of this model…")
        case, path = self.state.session.case, profile.path
        self.state.run(lambda: reference_choices_job(case), lambda c: self._found(c, path), self._look_failed)

    def _found(self, choices: ReferenceChoices, path: str) -> None:
        profile = self.state.profile
        if profile is None or profile.path != path:  # another model was opened meanwhile
            return
        self.choices, self.for_path = choices, path
        self._status("")
        self._show_choices(choices)

    def _look_failed(self, exc: BaseException) -> None:
        self._status("")
        if not isinstance(exc, CancelledError):
            self.error.show_error(exc)

    def _show_choices(self, choices: ReferenceChoices | None) -> None:
        lines = choices.lines(in_window=True) if choices is not None else ["", "", ""]
        self.hub_line.setText(lines[0])
        self.table_line.setText(lines[1])
        self.cache_line.setText(lines[2])
        shown = choices is not None
        for b in (self.table_button, self.cache_button):
            b.setVisible(shown)
        offer = choices.offer if choices is not None else None
        self.download_button.setVisible(offer is not None)
        if offer is None:
            return
        if offer.size is None:  # never a download whose size was not said
            self.download_button.setText("Download")
            self.download_button.setEnabled(False)
            self.download_button.setToolTip("The Hub does not list its size, so it is not fetched from here.")
        elif offer.fits_disk is False:
            self.download_button.setText(f"Download {format_bytes(offer.size)}")
            self.download_button.setEnabled(False)
            self.download_button.setToolTip(
                f"It needs {format_bytes(offer.size)}; the disk has {format_bytes(offer.free_bytes)} free."
            )
        else:
            self.download_button.setText(f"Download {format_bytes(offer.size)}")
            self.download_button.setEnabled(True)
            self.download_button.setToolTip(
                "Into the standard Hugging Face cache; it then becomes the comparison's reference."
            )

    def download(self) -> None:
        """Fetch the offered reference: its size is on the button that was pressed (and in the line beside it)."""
        offer = self.choices.offer if self.choices is not None else None
        if offer is None or offer.size is None or not self.download_button.isEnabled():
            return
        self.error.hide()
        self.download_button.setEnabled(False)
        self._status(f"Downloading {offer.filename} ({format_bytes(offer.size)})…")
        worker = self.state.run(lambda: fetch_reference(offer, offer.size), self._fetched, self._fetch_failed)
        worker.signals.finished.connect(lambda: self.download_button.setEnabled(True))
        self.fetch.follow(worker)

    def _fetched(self, got: Downloaded) -> None:
        how = "already in the cache" if got.already_cached else ("verified" if got.verified else "downloaded")
        self._status(f"{got.filename}: {how}. It is now the reference: press Compare.")
        self.download_button.setEnabled(True)
        self.reference_ready.emit(str(got.path))

    def _fetch_failed(self, exc: BaseException) -> None:
        self.download_button.setEnabled(True)
        if isinstance(exc, CancelledError):
            self._status("The download was stopped. What arrived is kept: Download again resumes it.")
            return
        self._status("")
        self.error.show_error(exc)

    def _status(self, text: str) -> None:
        """The line under the title: shown only when it says something (no empty gap above the choices)."""
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def _use_table(self) -> None:
        if self.choices is not None:
            self.published.emit(self.choices.table)

    def _use_cache(self) -> None:
        self.cache_question.emit()
        self.hide()

    def _forget(self) -> None:
        self.choices, self.for_path = None, None
        self.hide()
