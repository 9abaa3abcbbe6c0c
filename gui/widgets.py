"""Small widgets the pages share: icons, bars, charts, finding cards, an in-place error banner."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QFontMetrics,
    QGuiApplication,
    QIcon,
    QPainter,
    QPalette,
    QResizeEvent,
    QTextOption,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import display_text, numbers
from core.app.engines import copy_words
from core.app.types import CONFIDENCE_WORDS, Finding, FixStep
from core.errors import QuantDoctorError
from core.palette import LIMIT, series
from core.paths import resources_dir
from core.severity import ICONS, LABELS
from core.severity import colour as severity_colour

# --- Text from files, servers and the Hub is data: plain text, always -------------------------------
#
# QLabel, tooltips and QTextBrowser all guess "rich text" from the text itself, so a model named
# `<img src="/dev/zero">` would make Qt load that "image". Every label in the app is a `Label`
# (plain text, whatever the text looks like); a `RichLabel` is for the app's own HTML, and every
# value put into it goes through `esc`. tests/test_hardening_gui.py fails if a page makes a bare QLabel.
# Control, bidi and line-separator characters (an ESC, a U+202E that shows a name backwards) are
# shown as escapes in both, by core.display_text, the one door for text from outside.


def esc(value: object) -> str:
    """A value made safe to put inside the app's own HTML."""
    return display_text.html(value)


def plain(value: object) -> str:
    """A value for a plain-text widget (a list item, a text box): control and bidi characters shown as
    escapes, newlines kept."""
    return display_text.visible(value)


def plain_tip(text: str) -> str:
    """A tooltip that shows `text` literally (tooltips, too, guess rich text from their content)."""
    return "<p style='white-space:pre'>" + esc(text).replace("\n", "<br>") + "</p>"


class Label(QLabel):
    """A label that shows its text as plain text, whatever it looks like. Links never open."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setOpenExternalLinks(False)
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(display_text.visible(text))  # an ESC or a U+202E is shown, never obeyed

    def setTextFormat(self, fmt: Qt.TextFormat) -> None:
        super().setTextFormat(Qt.TextFormat.PlainText)  # a Label stays plain, whatever a caller asks


class RichLabel(Label):
    """A label for the app's own HTML (headings, bold). Anything from a file goes in through `esc`."""

    def __init__(self, html_text: str = "", parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        QLabel.setTextFormat(self, Qt.TextFormat.RichText)
        self.setText(html_text)

    def setTextFormat(self, fmt: Qt.TextFormat) -> None:
        QLabel.setTextFormat(self, fmt)


class SafeBrowser(QTextBrowser):
    """A QTextBrowser that never loads anything a document points at (images, style sheets, links)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)

    def loadResource(self, kind: int, url: Any) -> Any:
        return None

    def set_app_html(self, html_text: str) -> None:
        """The app's own HTML; every value in it went through `esc`."""
        self.setHtml(html_text)


GLOSSARY = {
    "bpw": "Bits per weight: how many bits each of the model's numbers takes on average. 16 is full "
    "precision; Q8_0 is 8.5; Q4_K_M about 4.8; below 4 quality drops fast.",
    "kv": "KV cache: the model's memory of the conversation so far (keys and values for every past "
    "token). Quantizing it saves memory but rounds that memory.",
    "kld": "KL divergence: how different the quant's next-word probabilities are from the reference's. "
    "0 means identical; above about 0.1 the difference shows in the text.",
    "ppl": "Perplexity: how surprised the model is by a text. Lower is better; a quant whose perplexity "
    "is more than 1% above the reference's has lost something measurable.",
    "fa": "Flash attention: a faster way to compute attention. llama.cpp needs it for a quantized V cache.",
    "ngl": "GPU layers: how many of the model's layers run on the graphics card; the rest run on the CPU, "
    "which is much slower.",
    "imatrix": "Importance matrix: calibration data used when quantizing, to keep the most important "
    "weights more precise.",
    "moe": "Mixture of experts: a model made of many expert blocks of which only a few run per token.",
}


@cache
def icon(name: str) -> QIcon:
    return QIcon(str(resources_dir() / "icons" / f"{name}.svg"))


def confidence_words(finding: Finding) -> str:
    """How sure a problem is, in plain words; a check that found nothing has nothing to be sure about."""
    return CONFIDENCE_WORDS[finding.confidence] if finding.is_problem else ""


def clear_layout(layout: QLayout) -> None:
    """Remove and delete every widget in a layout (pages rebuild their lists on each update)."""
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.deleteLater()


def dark_theme() -> bool:
    """Whether the window is drawn light on dark (the system's dark mode): severities then use their dark colours."""
    pal = QGuiApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


class StackedBar(QWidget):
    """One horizontal bar split into parts, with a legend; optional capacity marker."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.parts: list[tuple[str, float, str]] = []
        self.capacity: float | None = None
        self.setMinimumHeight(54)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_parts(self, parts: Sequence[tuple[str, float, str]], capacity: float | None = None) -> None:
        self.parts = [p for p in parts if p[1] > 0]
        self.capacity = capacity
        self.setToolTip(plain_tip("\n".join(label for label, _, _ in self.parts)))
        self._fit_rows()
        self.update()

    def columns(self) -> int:
        """Legend columns: three when every label fits a third of the width, fewer when one does not
        (a label is never cut: "conversation memory (KV cache) 1.25 GiB" at 900 px)."""
        widest = max((self.fontMetrics().horizontalAdvance(label) for label, _, _ in self.parts), default=0)
        return max(1, min(3, self.width() // (widest + 24)))

    def _fit_rows(self) -> None:
        rows = (len(self.parts) + self.columns() - 1) // self.columns()
        self.setMinimumHeight(34 + 18 * rows)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._fit_rows()
        super().resizeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(400, self.minimumHeight())

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w = self.width() - 2
        total = max(sum(v for _, v, _ in self.parts), self.capacity or 0.0) or 1.0
        x = 1.0
        for _, value, colour in self.parts:
            width = w * value / total
            p.fillRect(QRectF(x, 1, width, 22), QColor(colour))
            x += width
        p.setPen(self.palette().color(QPalette.ColorRole.Mid))
        p.drawRect(QRectF(1, 1, w, 22))
        if self.capacity:
            cx = 1 + w * self.capacity / total
            p.setPen(QColor(LIMIT))
            p.drawLine(int(cx), 0, int(cx), 25)
        p.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        cols = self.columns()
        col_w = max(1, self.width() // cols)
        for i, (label, _, colour) in enumerate(self.parts):
            lx, ly = (i % cols) * col_w, 30 + (i // cols) * 18
            p.fillRect(QRectF(lx, ly + 3, 10, 10), QColor(colour))
            p.drawText(QRectF(lx + 14, ly, col_w - 16, 16), Qt.AlignmentFlag.AlignVCenter, label)
        p.end()


class BarChart(QWidget):
    """Grouped horizontal bars, one group per row label, with an optional reference line.

    Values are written as a person reads them (core.numbers: "57,000", "2.2 million", never
    "5.75e+04"); labels and values take the width they need, and a label too long for a third of the
    chart is cut with "…" and given whole in the tooltip."""

    def __init__(
        self,
        series: Sequence[str],
        parent: QWidget | None = None,
        log: bool = False,
        fmt: Callable[[float], str] = numbers.plain,
    ) -> None:
        super().__init__(parent)
        self.log = log  # perplexity ratios span 1.01 to millions: a log scale keeps both readable
        self.series = list(series)
        self.rows: list[tuple[str, list[float]]] = []
        self.notes: list[str] = []
        self.reference: float | None = None
        self.fmt = fmt

    def set_rows(
        self,
        rows: Sequence[tuple[str, Sequence[float]]],
        reference: float | None = None,
        notes: Sequence[str] | None = None,
    ) -> None:
        """`notes`: one short text per row, written after its last value (e.g. "76% same top token")."""
        self.rows = [(label, list(values)) for label, values in rows]
        self.notes = list(notes) if notes is not None else [""] * len(self.rows)
        self.reference = reference
        self.setMinimumHeight(24 + len(self.rows) * (10 + 16 * len(self.series)))
        tips = []
        for (label, values), note in zip(self.rows, self.notes, strict=False):
            tips.append(f"{label}: " + ", ".join(self.fmt(v) for v in values) + (f" ({note})" if note else ""))
        self.setToolTip(plain_tip("\n".join(tips)))
        self.update()

    def columns(self, fm: QFontMetrics) -> tuple[int, int]:
        """The widths of the label column and of the value column: what the longest needs, the label
        up to a third of the chart, the value up to what leaves a quarter of it to the bars."""
        widest_label = max([fm.horizontalAdvance(label) for label, _ in self.rows] + [40])
        texts = [self.value_text(r, v) for r, (_, values) in enumerate(self.rows) for v in values]
        widest_value = max([fm.horizontalAdvance(t) for t in texts] + [30])
        label_w = min(widest_label + 10, max(60, self.width() // 3))
        return label_w, min(widest_value + 8, max(60, self.width() - label_w - self.width() // 4))

    def value_text(self, row: int, value: float) -> str:
        note = self.notes[row] if row < len(self.notes) else ""
        return self.fmt(value) + (f" · {note}" if note else "")

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        fm = p.fontMetrics()

        def scale(v: float) -> float:
            return math.log10(max(v, 1.0)) if self.log else v

        top = max([scale(max(v)) for _, v in self.rows if v] + [scale(self.reference or 0.0)] + [1e-9])
        value_texts = [[self.value_text(r, v) for v in values] for r, (_, values) in enumerate(self.rows)]
        label_w, right = self.columns(fm)
        bar_w = max(10, self.width() - label_w - right)
        y = 4
        for r, (label, values) in enumerate(self.rows):
            p.setPen(text)
            shown = fm.elidedText(label, Qt.TextElideMode.ElideRight, label_w - 6)
            p.drawText(QRectF(0, y, label_w - 6, 16), Qt.AlignmentFlag.AlignVCenter, shown)
            for i, value in enumerate(values):
                w = bar_w * scale(value) / top
                p.fillRect(QRectF(label_w, y + 2, w, 12), QColor(series(i)))
                p.setPen(text)
                value_shown = fm.elidedText(value_texts[r][i], Qt.TextElideMode.ElideRight, right)
                p.drawText(QRectF(label_w + w + 4, y, right, 16), Qt.AlignmentFlag.AlignVCenter, value_shown)
                y += 16
            y += 10
        if self.reference is not None:
            x = label_w + bar_w * scale(self.reference) / top
            p.setPen(QColor(LIMIT))
            p.drawLine(int(x), 0, int(x), y)
        step = max(150, (self.width() - label_w) // max(1, len(self.series)))
        for i, name in enumerate(self.series):
            p.fillRect(QRectF(label_w + i * step, y + 4, 10, 10), QColor(series(i)))
            p.setPen(text)
            shown = fm.elidedText(name, Qt.TextElideMode.ElideRight, step - 16)
            p.drawText(QRectF(label_w + i * step + 14, y, step - 16, 16), Qt.AlignmentFlag.AlignVCenter, shown)
        p.end()


class CopyText(QPlainTextEdit):
    """The text a Copy button copies, shown whole: wrapped anywhere (a long path has no spaces), as
    tall as its lines, read-only, in a fixed-width font."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(display_text.visible(text), parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(lambda _size: self._fit())
        self._fit()

    def text(self) -> str:
        return self.toPlainText()

    def _fit(self) -> None:
        lines = max(1, int(self.document().documentLayout().documentSize().height()))
        height = lines * self.fontMetrics().lineSpacing() + 2 * int(self.document().documentMargin()) + 6
        if self.height() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()


class CopyField(QWidget):
    """Something to paste as it is (a whole command, Modelfile lines, KEY=VALUE lines, setting names
    with values), with a Copy button; what kind it is stands above it, the explanation beside it."""

    def __init__(self, text: str, parent: QWidget | None = None, kind: str = "") -> None:
        super().__init__(parent)
        self.text = text  # copied as given: a Modelfile TEMPLATE or PARAMETER block spans lines
        self.field = CopyText(text)  # shown through core.display_text; FixStep's copy door keeps it clean
        self.field.setAccessibleName(kind or "Text to paste")
        self.button = QPushButton("Copy")
        self.button.setToolTip("Copy this to the clipboard")
        self.button.setAccessibleName(f"Copy {kind.lower()}" if kind else "Copy")
        self.button.clicked.connect(self.copy)
        self.kind = Label(kind)
        self.kind.setProperty("muted", True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        if kind:
            lay.addWidget(self.kind)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.field, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(row)

    def copy(self) -> None:
        if not display_text.is_clean(self.text):  # never a raw ESC or bidi control onto the clipboard
            self.button.setText("Not copied")
            return
        QGuiApplication.clipboard().setText(self.text)
        self.button.setText("Copied")


def confidence_badge(finding: Finding, dark: bool = False) -> Label:
    """ "Confirmed by measurement" as a visible badge: words in a framed pill, never grey small print."""
    words = confidence_words(finding)
    badge = Label(words)
    badge.setObjectName("confidence")
    colour = severity_colour("ok" if finding.confirmed else "info", dark=dark)
    badge.setStyleSheet(
        f"QLabel#confidence {{ border: 1px solid {colour}; border-radius: 8px; padding: 1px 8px; "
        f"color: palette(window-text); font-weight: {'bold' if finding.confirmed else 'normal'}; }}"
    )
    badge.setToolTip(
        {
            "confirmed-by-measurement": "Running the model showed it.",
            "confirmed": "Your app, its settings or its log showed it.",
            "likely": "The file's own data says so.",
            "suspected": "A rule of thumb: worth checking, not shown.",
        }[finding.confidence]
    )
    badge.setVisible(bool(words))
    return badge


def fix_widgets(step: FixStep, number: int) -> tuple[Label, CopyField | None]:
    """A fix step: its plain explanation, and beside it only what can be pasted as it is."""
    lab = Label(f"{number}. {step.text}")
    lab.setWordWrap(True)
    words = copy_words(step)
    field = CopyField(step.command, kind=words) if step.command and words else None
    return lab, field


class FindingCard(QFrame):
    """A finding: icon and title always visible; plain evidence, why and the fix when expanded; the
    technical lines under "Details" for the expert and for bug reports."""

    def __init__(
        self,
        finding: Finding,
        expanded: bool = False,
        parent: QWidget | None = None,
        action: tuple[str, Callable[[], None]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.finding = finding
        self.action_button: QPushButton | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.dark = dark_theme()  # a card drawn for one theme is not reused in the other
        colour = severity_colour(finding.severity, dark=self.dark)
        self.setStyleSheet(f"FindingCard {{ border-left: 5px solid {colour}; }}")
        self.toggle = QToolButton()
        self.toggle.setCheckable(True)
        self.toggle.setChecked(expanded)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.toggle.setToolTip("Show the evidence and the fix")
        self.toggle.setAccessibleName(f"Details of {finding.title}")
        icon_label = Label()
        icon_label.setPixmap(icon(ICONS[finding.severity]).pixmap(QSize(20, 20)))
        icon_label.setToolTip(LABELS[finding.severity])
        title = RichLabel(f"<b>{esc(finding.rank)}. {esc(finding.title)}</b>")
        title.setWordWrap(True)
        meta = Label(LABELS[finding.severity])
        self.badge = confidence_badge(finding, self.dark)
        head = QHBoxLayout()
        head.addWidget(self.toggle)
        head.addWidget(icon_label)
        head.addWidget(title, 1)
        meta_row = QHBoxLayout()
        meta_row.setContentsMargins(28, 0, 0, 0)
        meta_row.addWidget(meta)
        meta_row.addWidget(self.badge)
        meta_row.addStretch(1)

        self.action = action
        self._copy_fields: list[CopyField] = []
        self.body = QWidget(self)  # filled when first opened: a diagnosis shows a dozen cards, most closed
        self._built = False
        self.body.setVisible(False)
        self.toggle.toggled.connect(self.set_expanded)

        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(meta_row)
        lay.addWidget(self.body)
        if expanded:
            self.set_expanded(True)

    def _build_body(self) -> None:
        """The evidence, why and fix: built on first opening, so that showing a diagnosis stays within a
        frame or two (bench_ui_stall.py) however many checks there are."""
        if self._built:
            return
        self._built = True
        finding, action = self.finding, self.action
        body = QVBoxLayout(self.body)
        body.setContentsMargins(28, 0, 0, 0)
        for e in finding.evidence:
            lab = Label("• " + e)
            lab.setWordWrap(True)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            body.addWidget(lab)
        if finding.why:
            why = RichLabel(f"<i>Why it matters:</i> {esc(finding.why)}")
            why.setWordWrap(True)
            body.addWidget(why)
        if finding.fix:
            body.addWidget(RichLabel("<b>Fix:</b>"))
            for i, step in enumerate(finding.fix, 1):
                lab, field = fix_widgets(step, i)
                body.addWidget(lab)
                if field is not None:
                    self._copy_fields.append(field)
                    body.addWidget(field)
        if action is not None:
            self.action_button = QPushButton(action[0])
            self.action_button.clicked.connect(action[1])
            body.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.details_toggle = QToolButton()
        self.details_toggle.setText("Details")
        self.details_toggle.setCheckable(True)
        self.details_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.details_toggle.setAccessibleName(f"Technical details of {finding.title}")
        self.details_toggle.setToolTip("The technical lines behind this finding, for experts and bug reports")
        self.details = Label("\n".join([*finding.details, f"check: {finding.id} · confidence: {finding.confidence}"]))
        self.details.setWordWrap(True)
        self.details.setProperty("muted", True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setVisible(False)
        self.details_toggle.toggled.connect(self._show_details)
        body.addWidget(self.details_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        body.addWidget(self.details)

    def _show_details(self, on: bool) -> None:
        self.details.setVisible(on)
        self.details_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    @property
    def copy_fields(self) -> list[CopyField]:
        self._build_body()
        return self._copy_fields

    def set_expanded(self, on: bool) -> None:
        if on:
            self._build_body()
        self.body.setVisible(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)


class ErrorBanner(QFrame):
    """A typed error shown where it happened: what went wrong, and what to do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("ErrorBanner { border-left: 5px solid #c62828; }")
        self.label = RichLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.addWidget(self.label, 1)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_error(self, exc: BaseException) -> None:
        if isinstance(exc, QuantDoctorError):
            self.label.setText(f"<b>{esc(exc.message)}</b><br>What to do: {esc(exc.fix)}")
        else:
            self.label.setText(f"<b>Something unexpected went wrong:</b> {esc(repr(exc))}")
        self.show()

    @property
    def text(self) -> str:
        return self.label.text()
