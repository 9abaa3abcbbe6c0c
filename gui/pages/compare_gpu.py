"""Scoring on the person's GPU, as the Compare page asks it: before the first comparison, when this machine
has a GPU that llama.cpp publishes a build for, the question (core.app.gpu.question: what, how big, where
it goes) with Yes and No; nothing is downloaded before Yes. Yes fetches the build in the background with
its progress, time left and Cancel (core.app.gpu.accept), and the comparison starts once it is ready;
every way it can fail ends on the CPU with the reason in words. The answer is kept in the window's saved
settings, so the person is asked once; "Ask again" forgets it.

The machine is the one this computer has: the Machine page's detected hardware, or a profile the window
was given; a "what if I had…" card from the catalog is not in this computer, so it is never offered a build.
Every decision is core.app.gpu's; this widget only asks, shows and remembers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QVBoxLayout

from core.app import gpu
from core.app.hub import format_bytes
from core.app.types import HardwareProfile
from core.errors import CancelledError, QuantDoctorError
from core.progress import Job, Progress
from gui import style
from gui.pages.fetch_bar import FetchBar
from gui.state import AppState

SAVED_KEY = "gpu_scoring"  # "yes" (fetch and use the build), "no" (the CPU); absent: ask
CHOSE_CPU = "you chose to score on the CPU (Ask again on the Compare page to use the GPU)."


def _lookup(hardware: HardwareProfile | None) -> Job[gpu.BuildOffer | gpu.Scorer]:
    yield Progress("Looking up llama.cpp's build for this machine's GPU")
    return gpu.offer_for(hardware)


class GpuScoring(QFrame):
    """The GPU question and what became of it, in one frame on the Compare page (hidden on a machine
    without a GPU: there is nothing to ask, and the results say where they were scored)."""

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.state = state
        self.settings: QSettings | None = None
        self.chosen: gpu.Scorer | None = None  # the scorer this session's comparisons run with, once decided
        self.offer: gpu.BuildOffer | None = None  # the build the question is about
        self._for: tuple[str, ...] | None = None  # the GPUs the decision was made for
        self._then: Callable[[], None] | None = None  # what waits for the decision (the comparison)
        self._pending = False  # a lookup, a question or a download is under way

        self.line = style.text_label("")  # the question, or where comparisons run (plain text: it is data)
        self.yes_button = QPushButton("Download and use the GPU")
        self.no_button = QPushButton("No, use the CPU")
        self.again_button = QPushButton("Ask again")
        self.again_button.setToolTip("Forget the answer you gave: the next comparison asks about the GPU again.")
        self.fetch = FetchBar("the GPU build")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.again_button, self.no_button, self.yes_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(self.line)
        lay.addWidget(self.fetch)
        lay.addLayout(buttons)
        self.yes_button.clicked.connect(self.agree)
        self.no_button.clicked.connect(self.refuse)
        self.again_button.clicked.connect(self.ask_again)
        self._buttons(question=False, again=False)
        self.hide()

    # -- what is remembered -------------------------------------------------------------------------
    def saved(self) -> str | None:
        value = self.settings.value(SAVED_KEY) if self.settings is not None else None
        return value if value in ("yes", "no") else None

    def _save(self, answer: str | None) -> None:
        if self.settings is None:
            return
        if answer is None:
            self.settings.remove(SAVED_KEY)
        else:
            self.settings.setValue(SAVED_KEY, answer)
        self.settings.sync()

    # -- the machine ---------------------------------------------------------------------------------
    def machine(self) -> HardwareProfile | None:
        """This computer: a catalog card being tried is not in it (session.detected is then)."""
        session = self.state.session
        return self.state.hardware if session.what_if is None else session.detected

    def _gpus(self) -> tuple[str, ...]:
        hw = self.machine()
        return tuple(g.name for g in hw.usable_gpus) if hw is not None else ()

    # -- the gate before a comparison ------------------------------------------------------------------
    def ready(self, then: Callable[[], None]) -> bool:
        """True when this session's scorer is decided (the comparison may start now); otherwise it is being
        decided (looked up, asked, or fetched) and `then` runs once it is."""
        if self.chosen is not None and self._for == self._gpus():
            return True
        if self._pending:
            self._then = then
            return False
        self._then = None  # decided in line below: the caller goes on itself
        if not self._gpus():  # no GPU: nothing to look up or ask (core.app.gpu says why, without the network)
            found = gpu.offer_for(self.machine())
            if isinstance(found, gpu.Scorer):
                self.hide()
                self._decided(self._use(found), show=False)
                return True
        if self.saved() == "no":  # asked before: no network, no question
            self._decided(self._use(replace(_cpu(), reason=CHOSE_CPU)))
            return True
        self._pending = True
        self._then = then
        self._say("Looking up llama.cpp's build for this machine's GPU…")
        machine = self.machine()
        self.state.run(lambda: _lookup(machine), self._looked_up, self._failed)
        return False

    def _looked_up(self, found: gpu.BuildOffer | gpu.Scorer) -> None:
        if isinstance(found, gpu.Scorer):  # no build for this GPU: the CPU, and why
            self._decided(self._use(found))
            return
        self.offer = found
        if found.cached:  # fetched before (the person agreed then): tried again, nothing to download
            self._start_fetch(found)
            return
        self._say(gpu.question(found))
        self.yes_button.setText(f"Download {format_bytes(found.size)} and use the GPU")
        self._buttons(question=True, again=False)

    def agree(self) -> None:
        if self.offer is None:
            return
        self._save("yes")
        self._start_fetch(self.offer)

    def refuse(self) -> None:
        if self.offer is None:
            return
        self._save("no")
        self._decided(gpu.decline(self.offer))

    def ask_again(self) -> None:
        """Forget the answer: the next comparison looks the build up and asks again."""
        self._save(None)
        self.chosen = None
        gpu.use(None)
        self._say("The next comparison asks again whether to score on the GPU.")
        self._buttons(question=False, again=False)

    def _start_fetch(self, build: gpu.BuildOffer) -> None:
        self._buttons(question=False, again=False)
        self._say(f"Getting {build.words()} ready…" if not build.cached else f"Trying {build.words()}…")
        worker = self.state.run(lambda: gpu.accept(build, build.size), self._decided, self._fetch_failed)
        worker.signals.finished.connect(self._fetch_ended)
        self.fetch.follow(worker)

    def _fetch_ended(self) -> None:
        """A cancel that came as the job ended brings neither a result nor an error: the same as a cancel."""
        if self._pending:
            self._fetch_failed(CancelledError("Cancelled."))

    def _fetch_failed(self, exc: BaseException) -> None:
        if isinstance(exc, CancelledError):  # stopped by the person: not a "no"; asked again next time
            self._pending = False
            self._then = None
            self._save(None)
            self._say(
                "The download was stopped. What arrived is kept and resumes if you agree next time; "
                "press Compare to be asked again."
            )
            self._buttons(question=False, again=False)
            return
        self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        """Anything else (core.app.gpu returns the CPU with a reason for the failures it knows): the CPU."""
        if isinstance(exc, CancelledError):
            self._pending = False
            self._then = None
            self._say("")
            self.hide()
            return
        why = exc.message if isinstance(exc, QuantDoctorError) else f"{exc.__class__.__name__}: {exc}"
        self._decided(self._use(replace(_cpu(), reason=f"the GPU build could not be set up: {why}")))

    # -- the decision ----------------------------------------------------------------------------------
    @staticmethod
    def _use(chosen: gpu.Scorer) -> gpu.Scorer:
        gpu.use(chosen)
        return chosen

    def _decided(self, chosen: gpu.Scorer, show: bool = True) -> None:
        self.chosen = chosen
        self._for = self._gpus()
        self._pending = False
        if show:
            where = "Comparisons run on the GPU." if chosen.on_gpu else "Comparisons run on the CPU."
            self._say(f"{where} {chosen.words()}")
            self._buttons(question=False, again=self.offer is not None or self.saved() is not None)
        then, self._then = self._then, None
        if then is not None:
            then()

    def _say(self, text: str) -> None:
        self.line.setText(text)
        self.setVisible(bool(text))

    def _buttons(self, question: bool, again: bool) -> None:
        self.yes_button.setVisible(question)
        self.no_button.setVisible(question)
        self.again_button.setVisible(again)

    def where(self, comparison: Any) -> str:
        """The line a finished comparison shows: where it was scored (core.app.gpu.words_of), or nothing for
        a comparison that ran no local llama.cpp (a server's)."""
        return gpu.words_of(comparison) or ""


def _cpu() -> gpu.Scorer:
    """The installed CPU build (core.app.gpu's scorer when none was chosen)."""
    gpu.use(None)
    return gpu.current()
