"""One style for the whole window: palette (light and dark, following the system), spacing, type
scale, the focus ring, and the severity colours, words and icons.

Pages take every colour and size from here, never a hex literal of their own, so the window looks
the same everywhere and a dark desktop gets a dark window. Severity words and colours come from
core.severity (shared with the HTML report), read through `severity_colour` and `severity_word`.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from core import severity as severity_vocabulary
from gui.widgets import Label

# -- spacing (px) and type scale (relative to the system font) -------------------------------------
SPACE_S, SPACE_M, SPACE_L, SPACE_XL = 4, 8, 16, 24
TYPE_SCALE = {"title": 1.6, "heading": 1.25, "body": 1.0, "small": 0.9}

SEVERITY_WORDS = {**severity_vocabulary.LABELS, "unchecked": "Not checked"}
SEVERITY_ICONS = {**severity_vocabulary.ICONS, "unchecked": "unchecked"}


@dataclass(frozen=True)
class Palette:
    dark: bool
    window: str
    base: str
    alt_base: str
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    focus: str
    banner: str


LIGHT = Palette(
    dark=False,
    window="#f5f6f8",
    base="#ffffff",
    alt_base="#eef1f4",
    text="#1f2328",
    muted="#57606a",
    border="#c9d1d9",
    accent="#0b62d6",
    accent_text="#ffffff",
    focus="#0b62d6",
    banner="#e8f0fe",
)
DARK = Palette(
    dark=True,
    window="#1d2025",
    base="#262a30",
    alt_base="#2d323a",
    text="#e6edf3",
    muted="#a3abb5",
    border="#444c56",
    accent="#4c9aff",
    accent_text="#0d1117",
    focus="#79b8ff",
    banner="#1f2f4a",
)

_current: Palette = LIGHT


def current() -> Palette:
    return _current


def system_is_dark() -> bool:
    """The desktop's choice (Qt 6.5+ reports it); an unknown scheme falls back to the palette's lightness."""
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def severity_colour(severity: str) -> str:
    """The one place pages get a severity's colour from: core's shared palette (the HTML report's),
    in its dark variant on a dark window; "not checked" is the muted text colour."""
    if severity not in severity_vocabulary.COLOURS:
        return _current.muted
    return severity_vocabulary.colour(severity, dark=_current.dark)


def diff_colours() -> tuple[str, str]:
    """Background and text of "your model's text differs from here", readable in both themes."""
    return ("#5c1f24", "#ffd7d9") if _current.dark else ("#ffcdd2", "#b71c1c")


def severity_word(severity: str) -> str:
    return SEVERITY_WORDS.get(severity, severity)


def font(role: str = "body", bold: bool = False) -> QFont:
    f = QFont(QGuiApplication.font())
    size = f.pointSizeF()
    if size > 0:
        f.setPointSizeF(size * TYPE_SCALE[role])
    f.setBold(bold or role in ("title", "heading"))
    return f


def text_label(text: str = "", role: str = "body", muted: bool = False, wrap: bool = True) -> QLabel:
    """A label for data or prose: plain text (never read as HTML), sized from the type scale."""
    lab = Label()
    lab.setText(text)
    lab.setFont(font(role))
    lab.setWordWrap(wrap)
    if muted:
        lab.setProperty("muted", True)
    return lab


def _qpalette(p: Palette) -> QPalette:
    pal = QPalette()
    role = QPalette.ColorRole
    for r, c in (
        (role.Window, p.window),
        (role.WindowText, p.text),
        (role.Base, p.base),
        (role.AlternateBase, p.alt_base),
        (role.Text, p.text),
        (role.Button, p.alt_base),
        (role.ButtonText, p.text),
        (role.ToolTipBase, p.base),
        (role.ToolTipText, p.text),
        (role.PlaceholderText, p.muted),
        (role.Highlight, p.accent),
        (role.HighlightedText, p.accent_text),
        (role.Link, p.accent),
        (role.Mid, p.border),
        (role.Light, p.base),
        (role.Midlight, p.alt_base),
        (role.Dark, p.border),
        (role.Shadow, p.border),
        (role.BrightText, p.accent_text),
    ):
        pal.setColor(r, QColor(c))
    for r in (role.WindowText, role.Text, role.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, r, QColor(p.muted))
    return pal


def stylesheet(p: Palette) -> str:
    """Buttons drawn the same on every desktop, a 2 px focus ring (the accent colour) on buttons and
    check boxes (Fusion already rings text fields, lists and combo boxes in the highlight colour),
    and muted text."""
    return f"""
QPushButton, QToolButton {{
    border: 1px solid {p.border}; border-radius: 5px; background: {p.alt_base}; color: {p.text};
    padding: 5px 12px;
}}
QToolButton {{ padding: 3px 6px; }}
QPushButton:hover, QToolButton:hover {{ border-color: {p.accent}; }}
QPushButton:disabled, QToolButton:disabled {{ color: {p.muted}; }}
QPushButton[primary="true"] {{ background: {p.accent}; color: {p.accent_text}; border-color: {p.accent}; }}
QPushButton:focus {{ border: 2px solid {p.focus}; padding: 4px 11px; }}
QToolButton:focus {{ border: 2px solid {p.focus}; padding: 2px 5px; }}
QCheckBox:focus, QRadioButton:focus {{ border: 2px solid {p.focus}; border-radius: 3px; }}
QLabel[muted="true"] {{ color: {p.muted}; }}
"""


def apply(app: QApplication | None = None, dark: bool | None = None) -> Palette:
    """Style the application: Fusion, the palette (the system's choice unless `dark` is given), and
    the focus ring. Idempotent: a second call with the same choice does nothing."""
    global _current
    app = app or QApplication.instance()  # type: ignore[assignment]
    if app is None:
        return _current
    want = DARK if (system_is_dark() if dark is None else dark) else LIGHT
    if app.property("quantdoctor_style") == want.dark:
        _current = want
        return want
    _current = want
    app.setStyle("Fusion")
    app.setPalette(_qpalette(want))
    app.setStyleSheet(stylesheet(want))
    app.setProperty("quantdoctor_style", want.dark)
    return want


def set_muted(widget: QWidget) -> None:
    widget.setProperty("muted", True)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
