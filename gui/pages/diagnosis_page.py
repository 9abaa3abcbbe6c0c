"""Diagnosis: the ranked findings, problems expanded first, then what was checked and ruled out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QSize, QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCompleter,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from core.app.hub import MIN_QUERY, fixes, is_offline, search_model_ids
from core.app.steps import asks_which_model
from core.app.types import Diagnosis, Finding
from core.app.words import not_checked_words
from core.errors import CancelledError
from core.progress import Job, Progress
from gui import style
from gui.deferred import when_shown
from gui.jobs import JobWorker
from gui.state import AppState
from gui.widgets import FindingCard, Label, RichLabel, dark_theme, esc, icon


def is_unchecked(f: Finding, d: Diagnosis) -> bool:
    """A check that could not look is "not checked", never "fine": the check says so in its status."""
    return not f.checked


class NotCheckedCard(QFrame):
    """A check that did not run: grey, with the words "Not checked" and the reason."""

    def __init__(self, finding: Finding) -> None:
        super().__init__()
        self.finding = finding
        self.setObjectName("unchecked")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(f"QFrame#unchecked {{ border-left: 5px solid {style.severity_colour('unchecked')}; }}")
        mark = Label()
        mark.setPixmap(icon("unchecked").pixmap(QSize(20, 20)))
        mark.setToolTip("Not checked")
        lay = QHBoxLayout(self)
        lay.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
        self.label = style.text_label(not_checked_words(finding))
        lay.addWidget(self.label, 1)


SEARCH_DEBOUNCE_MS = 300  # a search starts once the person pauses typing this long
HUB_QUIET_S = 30.0  # after the Hub could not be reached, no searches for this long: the field stays plain


def _search_job(text: str) -> Job[list[str]]:
    yield Progress("Searching the Hub")
    return search_model_ids(text)


class ExpectedQuestion(QFrame):
    """ "Which model did you mean to run?": the fine-tune check needs it to catch a base model
    downloaded by mistake, so the window asks instead of printing a command-line flag.

    Online, typing suggests matching Hub model ids: a search starts after a 300 ms pause, off the UI
    thread; a newer search makes an older one's answer stale (it is cancelled and dropped). Offline,
    or when the Hub cannot be reached, the field is a plain text field and says nothing about it."""

    suggestions_ready = Signal(list)  # the ids now offered (for tests and accessibility)

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.setObjectName("question")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = style.text_label("Which model did you mean to run?", "heading")
        self.why = style.text_label(
            "Quant Doctor compares the file with the model you wanted, to catch a base model downloaded instead "
            "of the chat (instruct) version.",
            muted=True,
        )
        self.field = QLineEdit()
        self.field.setPlaceholderText("e.g. Qwen/Qwen3-8B-Instruct, or the name you searched for")
        self.field.setAccessibleName("The model you meant to run")
        self.check = QPushButton("Check")
        self.check.setProperty("primary", True)
        self.check.setAccessibleName("Check against this model")
        row = QHBoxLayout()
        row.addWidget(self.field, 1)
        row.addWidget(self.check)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.why)
        lay.addLayout(row)
        self.check.clicked.connect(self.submit)
        self.field.returnPressed.connect(self.submit)
        # -- search as you type over the Hub ---------------------------------------------------------
        self.suggestions = QStringListModel(self)
        self.completer = QCompleter(self.suggestions, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.field.setCompleter(self.completer)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.search_now)
        self.field.textEdited.connect(lambda _: self._debounce.start())
        self._ticket = 0
        self._searches: list[JobWorker] = []  # running: kept alive until they finish
        self._quiet_until = 0.0
        self.hide()

    def search_now(self) -> None:
        """Search the Hub for the field's text, unless offline; an older search still running is stale."""
        text = self.field.text().strip()
        if len(text) < MIN_QUERY or is_offline() or time.monotonic() < self._quiet_until:
            return
        self._ticket += 1
        ticket = self._ticket
        for old in self._searches:
            old.cancel()
        worker = JobWorker(lambda: _search_job(text), self)
        worker.signals.returned.connect(lambda ids: self._offer(ticket, ids))
        worker.signals.errored.connect(lambda exc: self._failed(ticket, exc))
        worker.signals.finished.connect(lambda: self._searches.remove(worker) if worker in self._searches else None)
        self._searches.append(worker)
        worker.start()

    def _offer(self, ticket: int, ids: list[str]) -> None:
        if ticket != self._ticket:
            return  # the person typed on: a newer search answers
        self.suggestions.setStringList(ids)
        if ids and self.field.hasFocus():
            self.completer.complete()
        self.suggestions_ready.emit(ids)

    def _failed(self, ticket: int, exc: BaseException) -> None:
        """Offline or unreachable: stay a plain text field (no banner: typing a name needs no Hub)."""
        if isinstance(exc, CancelledError) or ticket != self._ticket:
            return
        self.suggestions.setStringList([])
        self._quiet_until = time.monotonic() + HUB_QUIET_S

    def ask(self, d: Diagnosis) -> None:
        base = not d.model.has_chat_template
        # an example of the form, never a made-up id for this file: suggestions come from the Hub only
        self.field.setPlaceholderText("its name as on its model page, e.g. Qwen/Qwen3-8B")
        self.why.setText(
            ("This file has no chat template: it may be a base model, which only continues text. " if base else "")
            + "Quant Doctor compares the file with the model you wanted, to catch a base model downloaded instead "
            "of the chat (instruct) version."
        )
        self.setStyleSheet(
            f"QFrame#question {{ border-left: 5px solid {style.severity_colour('warning' if base else 'info')}; }}"
        )
        self.show()

    def submit(self) -> None:
        text = self.field.text().strip()
        if text:
            self.state.set_setup(replace(self.state.setup, expected=text))


class DiagnosisPage(QWidget):
    better_quant_requested = Signal()

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.summary = RichLabel("Open a model to see what is wrong with it.")
        self.summary.setWordWrap(True)
        self.cards: list[FindingCard] = []
        self.unchecked: list[NotCheckedCard] = []
        self.question = ExpectedQuestion(state)
        self.inner = QWidget()
        self.inner_layout = QVBoxLayout(self.inner)
        self.inner_layout.addStretch(1)
        self.fine_heading = RichLabel("<h3>Checked — fine</h3>")
        self.unchecked_heading = style.text_label("Not checked", "heading")
        for heading in (self.fine_heading, self.unchecked_heading):
            heading.hide()
        self.scroller = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.inner)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.question)
        lay.addWidget(scroll, 1)
        when_shown(self, state.diagnosis_changed, self.show_diagnosis)

    def show_diagnosis(self, d: Diagnosis) -> None:
        # Only what changed is built and moved: a card whose finding is the same is kept where it is, so
        # that a setting changed on a 70B model does not rebuild and re-lay out a dozen cards in one go
        # (bench_ui_stall.py). Layouts are computed once per turn of the event loop, not per insertion.
        reusable = {c.finding.id: c for c in self.cards}
        self.cards, self.unchecked = [], []
        wanted: list[QWidget] = []
        problems = d.problems
        fine = [f for f in d.ruled_out if not is_unchecked(f, d)]
        unchecked = [f for f in d.ruled_out if is_unchecked(f, d)]
        if asks_which_model(d):  # only on evidence of a base or wrong model, or when the person said so
            self.question.ask(d)
        else:
            self.question.hide()
        if problems:
            headline = f"<p><b>{esc(d.headline)}</b></p>" if d.headline else ""
            self.summary.setText(
                f"<h2>{len(problems)} thing{'s' if len(problems) != 1 else ''} to look at</h2>{headline}"
                f"Most likely first. {len(fine)} other check{'s' if len(fine) != 1 else ''} found nothing wrong."
            )
        elif unchecked:
            self.summary.setText(
                "<h2>Nothing found wrong so far</h2>The checks that could run passed; "
                f"{len(unchecked)} could not run yet (below)."
            )
        else:
            self.summary.setText("<h2>Nothing found wrong</h2>Every check passed; see the evidence below.")
        for i, f in enumerate(problems):
            # findings whose fix is "get another file" (Check.hub_fixable) offer the Hub search
            action = (
                ("Find a better quant…", self.better_quant_requested.emit) if fixes(f.id) else None
            )
            card = self._card(reusable, f, expanded=i == 0, action=action)
            self.cards.append(card)
            wanted.append(card)
        if fine:
            wanted.append(self.fine_heading)
            for f in fine:
                card = self._card(reusable, f, expanded=False)
                self.cards.append(card)
                wanted.append(card)
        if unchecked:
            wanted.append(self.unchecked_heading)
            for f in unchecked:
                card2 = NotCheckedCard(f)
                self.unchecked.append(card2)
                wanted.append(card2)
        for n in d.notes:
            note = RichLabel(f"<i>{esc(n)}</i>")
            note.setWordWrap(True)
            wanted.append(note)
        self._arrange(wanted)

    def _arrange(self, wanted: list[QWidget]) -> None:
        """Make the list's widgets `wanted`, in order, touching only the places that differ."""
        lay = self.inner_layout
        headings = (self.fine_heading, self.unchecked_heading)
        wanted_ids = set(map(id, wanted))
        for i in reversed(range(lay.count())):  # first take out what goes, so what stays need not move
            item = lay.itemAt(i)
            w = item.widget() if item is not None else None
            if w is not None and id(w) not in wanted_ids:
                lay.takeAt(i)
                if any(w is h for h in headings):
                    w.hide()
                else:
                    w.deleteLater()
        for i, w in enumerate(wanted):
            item = lay.itemAt(i)
            if item is not None and item.widget() is w:
                continue
            if lay.indexOf(w) >= 0:
                lay.removeWidget(w)
            lay.insertWidget(i, w)
            if w.isHidden():
                w.show()

    @staticmethod
    def _card(
        reusable: dict[str, FindingCard],
        f: Finding,
        expanded: bool,
        action: tuple[str, Callable[[], None]] | None = None,
    ) -> FindingCard:
        old = reusable.pop(f.id, None)
        if (
            old is not None
            and old.finding == f
            and (old.action is None) == (action is None)
            and old.dark == dark_theme()
        ):
            if expanded:
                old.toggle.setChecked(True)
            return old
        return FindingCard(f, expanded=expanded, action=action)
