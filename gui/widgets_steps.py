"""Where the person stands: the sidebar of steps (each with an icon, its state in words and the
number of findings) and the one-line verdict banner shown on top of every page.

What each step's state is comes from `step_states(state)`, a plain function of the app's state, so
it is tested without painting anything; the sidebar and the banner only draw it.
"""

from __future__ import annotations

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

from core.app.steps import KINDS, SETTING_WORDS, StepState, step_states, verdict_text
from gui import style
from gui.widgets import Label, icon, plain_tip

StateRole = Qt.ItemDataRole.UserRole + 10
NameRole = Qt.ItemDataRole.UserRole + 11

__all__ = ["KINDS", "SETTING_WORDS", "StepState", "step_states", "verdict_text"]

KIND_ICONS = {
    "todo": "step-todo",
    "done": "ok",
    "attention": "warning",
    "critical": "critical",
    "optional": "step-todo",
    "home": "start",
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
