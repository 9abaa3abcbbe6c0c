"""The severity vocabulary every view shares: the names, their order, the words people read, the
plain-text marks, the icon names and the colours, on a light and on a dark background.

The checks, the ranking, the reports (HTML, Markdown, text) and the window all speak of a finding's
severity; they take every word and colour from here, so a "Note" in the window is a "Note" in the
report, drawn in the same blue.
"""

from __future__ import annotations

SEVERITIES = ("critical", "warning", "info", "ok")  # worst first: the ranking's order

LABELS = {"critical": "Critical", "warning": "Warning", "info": "Note", "ok": "Fine"}
GLYPHS = {"critical": "!!", "warning": "! ", "info": "i ", "ok": "ok"}  # two characters, for plain text
ICONS = {s: s for s in SEVERITIES}  # resources/icons/<name>.svg

COLOURS = {"critical": "#c62828", "warning": "#ef6c00", "info": "#1565c0", "ok": "#2e7d32"}
DARK_COLOURS = {"critical": "#ef5350", "warning": "#ffa726", "info": "#64b5f6", "ok": "#66bb6a"}


def colour(severity: str, dark: bool = False) -> str:
    """The severity's colour on a light background, or on a dark one."""
    return (DARK_COLOURS if dark else COLOURS)[severity]


# A check that could not look (its finding's status, core.checks.finding.NOT_CHECKED) is "not checked", never "fine":
# the same words, mark and grey everywhere (the window's muted text colour, gui.style).
NOT_CHECKED = "Not checked"
NOT_CHECKED_GLYPH = "--"
NOT_CHECKED_COLOUR = "#57606a"
