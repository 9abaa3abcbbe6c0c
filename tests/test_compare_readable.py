"""The Compare results and the reports read plainly (issue 16, item 6): the reference is never marked
as wrong, numbers are never in e-notation, chart labels are whole, and code keeps its lines."""

from __future__ import annotations

import re

import pytest
from PySide6.QtGui import QFontMetrics

from core import numbers
from core.diagnosis import diagnose
from core.evaluation.compare import Comparison
from core.evaluation.metrics import DomainMetrics
from core.evaluation.samples import Sample
from core.model.inspection import inspect_model
from core.report.diagnosis_report import to_html, to_markdown
from core.settings.setup import Setup
from gui import style
from gui.pages.compare_page import _highlight
from gui.widgets import BarChart

CODE = "def add(a, b):\n    return a + b\n\nprint(add(1, 2))"


def test_texts_that_differ_from_the_first_character_mark_only_the_candidate(qapp):
    bg, fg = style.diff_colours()
    reference = _highlight("The capital of France is Paris.", 0, yours=False)
    candidate = _highlight("Paris is the capital.", 0, yours=True)
    assert bg not in reference and fg not in reference and "background" not in reference
    assert f"background:{bg}" in candidate and "Paris is the capital." in candidate
    same = _highlight("same", None, yours=True)
    assert "span" not in same
    assert "&lt;b&gt;" in _highlight("<b>", 0, yours=True)  # model text is data, never markup


def test_charts_write_numbers_as_a_person_reads_them(qapp):
    chart = BarChart(["perplexity ratio"], log=True, fmt=lambda v: "× " + numbers.plain(v))
    chart.set_rows([("general", [57490.399]), ("code", [1.0213])], reference=1.01)
    texts = [chart.value_text(r, v[0]) for r, (_, v) in enumerate(chart.rows)]
    assert texts == ["× 57,490", "× 1.02"]
    assert not any(re.search(r"\de[+-]\d", t) for t in texts)
    assert "e+" not in chart.toolTip()


def test_chart_labels_are_whole_at_900_pixels(qapp):
    chart = BarChart(["mean KL divergence"])
    chart.set_rows(
        [("general", [0.2788]), ("multilingual", [0.4926])], notes=["76% same top token", "62% same top token"]
    )
    chart.resize(430, chart.minimumHeight())  # half of a 900-px window, as on the Compare page
    fm = QFontMetrics(chart.font())
    label_w, value_w = chart.columns(fm)
    assert label_w - 6 >= fm.horizontalAdvance("multilingual")  # the old fixed 130-px column cut it
    assert value_w >= fm.horizontalAdvance(chart.value_text(1, 0.4926))
    assert chart.value_text(1, 0.4926) == "0.493 · 62% same top token"


@pytest.fixture
def code_diagnosis(demo):
    comparison = Comparison(
        "demo-f16.gguf", "demo-Q2_0.gguf", "quant",
        {"code": DomainMetrics(3.0, 172_500.0, 57_500.0, 11.2, 20.0, 0.01, 0.9, 512)},
        [Sample("code", "add", "Write add().", CODE, "def add(a, b):\n    return a - b", 9, 33)],
    )  # fmt: skip
    return diagnose(inspect_model(demo.candidates["Q2_0"]), Setup(), comparison=comparison)


def test_html_report_keeps_the_lines_of_code_samples(code_diagnosis):
    html = to_html(code_diagnosis)
    assert "<pre class='sample'>def add(a, b):\n    return a + b\n\nprint(add(1, 2))</pre>" in html
    assert "pre.sample{white-space:pre-wrap" in html
    assert not re.search(r"\d\.\d+e\+\d", html)  # the bars say 57,500×, not 5.75e+04×


def test_markdown_report_keeps_the_lines_of_code_samples(code_diagnosis):
    md = to_markdown(code_diagnosis)
    assert "~~~text\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2))\n~~~" in md


def test_a_finished_comparison_brings_its_verdict_into_view_on_a_small_window(qtbot, tmp_path):
    from windowkit import make_window

    window = make_window(qtbot, tmp_path)
    window.resize(900, 600)
    window.show_page("compare")
    page = window.compare_page
    page.own_label.setText("\n".join(f"your text {i}" for i in range(12)))  # the verdict starts below the fold
    page.verdict_label.setText("Against the reference: badly damaged.")
    page.hint.hide()
    page.results.show()
    holder = window.stack.currentWidget()
    qtbot.waitUntil(lambda: holder.verticalScrollBar().maximum() > 0)
    bar = holder.verticalScrollBar()
    bar.setValue(0)
    page.scroll_to_results()
    bottom = page.verdict_label.mapTo(holder.widget(), page.verdict_label.rect().bottomLeft()).y()
    assert bar.value() <= bottom <= bar.value() + holder.viewport().height()  # the verdict is in view
