"""Where the person stands: the sidebar of steps (each with an icon, its state in words and the
number of findings) and the one-line verdict banner shown on top of every page.

What each step's state is comes from `step_states(state)`, a plain function of the app's state, so
it is tested without painting anything; the sidebar and the banner only draw it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from gui import style
from gui.plain_words import friendly_name
from gui.widgets import Label, icon, plain_tip

StateRole = Qt.ItemDataRole.UserRole + 10
NameRole = Qt.ItemDataRole.UserRole + 11

# todo: not done yet · done · attention: needs a look (warnings) · critical: something is wrong · optional
KINDS = ("todo", "done", "attention", "critical", "optional", "home")
KIND_ICONS = {
    "todo": "step-todo",
    "done": "ok",
    "attention": "warning",
    "critical": "critical",
    "optional": "step-todo",
    "home": "start",
}


@dataclass(frozen=True)
class StepState:
    kind: str
    words: str  # what the state is, in words (never only a colour or an icon)

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def step_states(state: Any) -> dict[str, StepState]:
    """Each step's state from the app's state (an `AppState`, read only)."""
    d = state.diagnosis
    out: dict[str, StepState] = {"start": StepState("home", "three ways in")}
    hw = state.hardware
    if hw is None:
        out["machine"] = StepState("todo", "looking…")
    elif getattr(hw, "source", "") == "catalog":
        out["machine"] = StepState("done", "what-if: " + ", ".join(g.name for g in hw.gpus))
    elif hw.cpu_only:
        out["machine"] = StepState("done", "no GPU used")
    else:
        out["machine"] = StepState("done", _count(len(hw.usable_gpus), "GPU", "GPUs"))
    out["model"] = (
        StepState("done", friendly_name(state.profile)) if state.profile is not None else StepState("todo", "not yet")
    )
    source = state.setup.source or ""
    if state.setup.unknown:
        out["setup"] = StepState(
            "attention", _count(len(state.setup.unknown), "setting", "settings") + " not understood"
        )
    elif source and source != "defaults":
        out["setup"] = StepState("done", source)
    else:
        out["setup"] = StepState("todo", "defaults")
    if d is None:
        out["diagnosis"] = StepState("todo", "not yet")
    elif d.problems:
        kind = "critical" if any(f.severity == "critical" for f in d.problems) else "attention"
        out["diagnosis"] = StepState(kind, _count(len(d.problems), "finding", "findings"))
    elif not d.setup.expected:
        out["diagnosis"] = StepState("attention", "1 question open")
    else:
        out["diagnosis"] = StepState("done", "nothing wrong")
    out["compare"] = (
        StepState("done", "compared") if state.comparison is not None else StepState("optional", "optional")
    )
    memory = d.memory if d is not None else None
    if memory is None:
        out["advice"] = StepState("todo", "not yet" if d is None or hw is None else "not estimated")
    elif memory.fits:
        out["advice"] = StepState("done", "it fits")
    elif getattr(memory, "one_change", None) is not None:  # one setting makes it fit: not a red "does not fit"
        out["advice"] = StepState("attention", "fits with one change")
    else:
        out["advice"] = StepState("critical", "does not fit")
    out["export"] = StepState("optional", "when ready" if d is not None else "optional")
    return out


def verdict_text(d: Any) -> str:
    """One line: the most likely cause and its fix, or that nothing was found wrong. A verdict that
    core composes (a `verdict` attribute on the diagnosis) wins over this one."""
    made = getattr(d, "verdict", None)
    if isinstance(made, str) and made:
        return made
    text = getattr(made, "text", None)
    if isinstance(text, str) and text:
        return text
    top = d.top
    if top is None:
        if not getattr(d.setup, "expected", None):
            return "Nothing found wrong so far. One question is open: which model did you mean to run?"
        return "Nothing found wrong: every check passed."
    title = re.sub(r"[:;,]?\s*this is the most likely cause\.?$", "", top.title.strip(), flags=re.IGNORECASE)
    title = title[:1].lower() + title[1:] if title[1:2].islower() else title
    line = f"Most likely cause: {title.rstrip('.')}."
    if top.fix:
        step = top.fix[0]
        fix = re.split(r"; |\. ", step.text)[0].strip()  # one clause: a line, not a paragraph
        fix = fix.rstrip(":").strip()  # "…:" introduces the text to copy, which the line does not show
        if re.search(r"\b(with|to|in|into|these|this|the following)$", fix, flags=re.IGNORECASE):
            changes = ", ".join(f"{SETTING_WORDS.get(k, k.replace('_', ' '))} {v}" for k, v in step.sets)
            fix += f" {changes}" if changes else " the command on the Diagnosis page"
        fix = fix.rstrip(".")
        line += f" Fix: {fix[:1].lower() + fix[1:] if fix[1:2].islower() else fix}."
    return line


# the settings a fix step changes, as its one-line summary names them
SETTING_WORDS = {
    "n_ctx": "context",
    "cache_type_k": "K cache",
    "cache_type_v": "V cache",
    "flash_attn": "flash attention",
    "n_gpu_layers": "GPU layers",
    "repeat_penalty": "repeat penalty",
    "chat_template": "chat template",
    "rope_none": "no RoPE scaling",
}


class _StepDelegate(QStyledItemDelegate):
    """Icon, the step's title, and its state in small words under it."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        line = option.fontMetrics.height()
        return QSize(150, 2 * line + 3 * style.SPACE_S + 2)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        st = widget.style() if widget is not None else None
        opt.text = ""
        opt.icon = QIcon()  # drawn below, at our size
        if st is not None:
            st.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, p, widget)
        state: StepState | None = index.data(StateRole)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        pal = opt.palette
        text_colour = pal.highlightedText().color() if selected else pal.text().color()
        r = opt.rect.adjusted(style.SPACE_M, style.SPACE_S, -style.SPACE_S, -style.SPACE_S)
        size = 20
        if state is not None:
            ic = icon(KIND_ICONS[state.kind])
            ic.paint(p, QRect(r.left(), r.top() + (r.height() - size) // 2, size, size))
        text_rect = r.adjusted(size + style.SPACE_M, 0, 0, 0)
        title_font = style.font("body", bold=True)
        p.setFont(title_font)
        p.setPen(text_colour)
        half = text_rect.height() // 2
        fm_title = p.fontMetrics()
        title = fm_title.elidedText(str(index.data(Qt.ItemDataRole.DisplayRole)), Qt.TextElideMode.ElideRight,
                                    text_rect.width())  # fmt: skip
        p.drawText(text_rect.adjusted(0, 0, 0, -half), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, title)
        if state is not None:
            p.setFont(style.font("small"))
            small = p.fontMetrics().elidedText(state.words, Qt.TextElideMode.ElideRight, text_rect.width())
            if not selected:
                p.setPen(QColor(style.current().muted))
            p.drawText(text_rect.adjusted(0, half, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, small)


class StepList(QListWidget):
    """The sidebar: one row per step; arrow keys and Tab reach it, each row says its state in words
    (also as the row's accessible description and tooltip)."""

    WIDTH = 176

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Steps")
        self.setFixedWidth(self.WIDTH)
        self.setItemDelegate(_StepDelegate(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSpacing(1)
        self.names: list[str] = []

    def add_step(self, name: str, title: str) -> QListWidgetItem:
        item = QListWidgetItem(title)
        item.setData(NameRole, name)
        self.addItem(item)
        self.names.append(name)
        return item

    def set_states(self, states: dict[str, StepState]) -> None:
        for i, name in enumerate(self.names):
            st = states.get(name)
            item = self.item(i)
            if st is None or item is None:
                continue
            item.setData(StateRole, st)
            word = style.severity_word(st.kind) if st.kind in ("critical",) else ""
            describe = f"{item.text()}: {st.words}" + (f" ({word})" if word else "")
            item.setToolTip(plain_tip(describe))
            item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, describe)

    def state_of(self, name: str) -> StepState | None:
        item = self.item(self.names.index(name))
        value = item.data(StateRole) if item is not None else None
        return value if isinstance(value, StepState) else None


class VerdictBanner(QFrame):
    """The one line on top of every page once a diagnosis exists, with a way to the diagnosis."""

    open_diagnosis = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verdict")
        self.icon = Label()
        self.icon.setFixedSize(22, 22)
        self.severity = style.text_label("", "body", wrap=False)
        self.severity.setFont(style.font("body", bold=True))
        self.label = style.text_label("", "body")
        self.label.setAccessibleName("Verdict")
        self.button = QPushButton("See the diagnosis")
        self.button.setAccessibleName("See the diagnosis")
        self.button.clicked.connect(self.open_diagnosis.emit)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(style.SPACE_M, style.SPACE_S, style.SPACE_M, style.SPACE_S)
        lay.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignVCenter)
        lay.addWidget(self.severity, 0, Qt.AlignmentFlag.AlignVCenter)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.hide()

    def set_on_diagnosis_page(self, on: bool) -> None:
        self.button.setVisible(not on)

    def show_verdict(self, d: Any) -> None:
        sev = d.top.severity if d.top is not None else ("ok" if d.setup.expected else "info")
        self.icon.setPixmap(icon(sev).pixmap(QSize(20, 20)))
        self.icon.setToolTip(style.severity_word(sev))
        self.severity.setText(style.severity_word(sev) + ":")
        self.label.setText(verdict_text(d))
        p = style.current()
        self.setStyleSheet(
            f"QFrame#verdict {{ background: {p.banner}; border-left: 5px solid {style.severity_colour(sev)}; }}"
        )
        self.show()

    @property
    def text(self) -> str:
        return self.label.text()
