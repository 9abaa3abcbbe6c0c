"""One severity vocabulary and palette: the report, the text output and the window say and draw a
severity the same way, all from core.severity."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette

from core.checks.finding import Finding, FixStep
from core.cli.main import main
from core.diagnosis import rank
from core.severity import COLOURS, DARK_COLOURS, GLYPHS, LABELS, SEVERITIES, colour


def test_every_severity_has_every_word_and_colour():
    for vocabulary in (LABELS, GLYPHS, COLOURS, DARK_COLOURS):
        assert tuple(vocabulary) == SEVERITIES
    assert len(set(COLOURS.values())) == len(SEVERITIES) and all(len(g) == 2 for g in GLYPHS.values())
    for s in SEVERITIES:  # a dark background needs the lighter colour
        assert QColor(DARK_COLOURS[s]).lightness() > QColor(COLOURS[s]).lightness()
        assert colour(s) == COLOURS[s] and colour(s, dark=True) == DARK_COLOURS[s]


def test_report_text_and_window_share_the_words_and_colours(qtbot, demo, tmp_path, capsys, qapp):
    from gui.widgets import FindingCard

    assert main(["diagnose", str(demo.candidates["Q2_0"]), "--report", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert f"--c:{COLOURS['critical']}" in html and f">{LABELS['critical']}</span>" in html
    capsys.readouterr()
    assert main(["diagnose", str(demo.candidates["Q2_0"])]) == 0
    assert f"[{GLYPHS['critical']}] 1." in capsys.readouterr().out

    f = rank([Finding(id="quant-tier", severity="info", title="t", fix=[FixStep("x")])])[0]
    card = FindingCard(f)
    qtbot.addWidget(card)
    assert COLOURS["info"] in card.styleSheet()
    dark = QPalette(qapp.palette())
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    qapp.setPalette(dark)
    try:
        dark_card = FindingCard(f)
        qtbot.addWidget(dark_card)
        assert DARK_COLOURS["info"] in dark_card.styleSheet()
    finally:
        qapp.setPalette(qapp.style().standardPalette())
