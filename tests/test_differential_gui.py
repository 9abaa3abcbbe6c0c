"""The window shows the differential findings: the headline, the cards, the copyable engine fixes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel
from test_differential import ALPACA, make, qwen

from core.checks.finding import Finding, FixStep
from core.engines.base import CopyKind
from gui.main_window import MainWindow
from gui.widgets import FindingCard


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(QSettings(str(tmp_path / "qd.ini"), QSettings.Format.IniFormat), detect_hardware=False)
    qtbot.addWidget(w)
    w.show()
    return w


def test_base_model_warning_and_headline_in_the_window(qtbot, window, tmp_path):
    path = make(tmp_path, "Llama 3.1 8B")
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=30_000):
        window.state.open_model(str(path))
    page = window.diagnosis_page
    top = page.cards[0]
    assert (top.finding.id, top.finding.severity) == ("finetune", "warning")
    assert "Your quant looks fine; this looks like a base model" in page.summary.text()
    assert page.question.isVisible() and "no chat template" in page.question.why.text()


def test_chat_template_card_with_engine_fix(qtbot, window, tmp_path):
    path = qwen(tmp_path, "Qwen2.5 7B Alpaca Instruct", template=ALPACA)
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=30_000):
        window.state.open_model(str(path))
    top = window.diagnosis_page.cards[0]
    assert top.finding.id == "chat-template"
    assert top.copy_fields[0].field.text() == f"llama-server -m {path} --jinja --chat-template chatml"


def test_tokens_in_titles_and_multi_line_fixes_stay_text(qtbot):
    f = Finding(
        id="chat-template",
        severity="warning",
        title="The template ends each turn with <|im_end|>",
        evidence=["metadata tokenizer.ggml.eos_token_id: 2 ('<b>x</b>')"],
        fix=[FixStep("In the Modelfile:", "PARAMETER temperature 0.6\nPARAMETER repeat_penalty 1.1", CopyKind.MODELFILE)],
    )
    card = FindingCard(f, expanded=True)
    qtbot.addWidget(card)
    labels = [lab.text() for lab in card.findChildren(QLabel)]
    assert any("&lt;|im_end|&gt;" in t for t in labels)
    evidence = next(lab for lab in card.findChildren(QLabel) if "eos_token_id" in lab.text())
    assert evidence.textFormat() == Qt.TextFormat.PlainText
    card.copy_fields[0].copy()
    assert QGuiApplication.clipboard().text() == "PARAMETER temperature 0.6\nPARAMETER repeat_penalty 1.1"
