"""The window a new person meets: the start page, the steps with their states, the verdict on top of
every page, the minimum size, keyboard and accessibility."""

from __future__ import annotations

from typing import ClassVar

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QFileDialog, QPushButton
from windowkit import make_window, wait_diagnosis

from gui.main_window import MainWindow
from gui.pages.setup_page import SetupPage
from gui.pages.start_page import CONNECT_PENDING
from gui.widgets_steps import verdict_text


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def test_first_start_shows_the_start_page_with_three_ways_in(window):
    assert window.current_page() == "start"
    page = window.start_page
    assert [w.button.text() for w in page.ways] == ["Connect to my app", "Open a model file", "Try the demo"]
    assert page.intro.text().count(". ") >= 1 and "finds out why" in page.intro.text()
    assert not window.verdict.isVisible()  # no diagnosis yet: no verdict


def test_connect_waits_for_the_setup_pages_connection_section(qtbot, window, tmp_path, monkeypatch):
    button = window.start_page.connect_button
    assert window.can_connect()  # the Setup page has its "Connect to my app" section
    assert button.isEnabled() and window.start_page.ways[0].sentence.text() != CONNECT_PENDING
    window.start_page.set_connect_available(False)
    assert not button.isEnabled() and button.toolTip() == CONNECT_PENDING
    called = []
    monkeypatch.setattr(SetupPage, "focus_connect", lambda self: called.append(self), raising=False)
    w = make_window(qtbot, tmp_path, "other.ini")
    assert w.start_page.connect_button.isEnabled()
    qtbot.mouseClick(w.start_page.connect_button, Qt.MouseButton.LeftButton)
    assert w.current_page() == "setup" and called == [w.setup_page]


def test_a_person_with_a_recent_model_starts_on_the_model_page(qtbot, tmp_path, demo):
    settings = QSettings(str(tmp_path / "r.ini"), QSettings.Format.IniFormat)
    settings.setValue("recent", [str(demo.reference)])
    w = MainWindow(settings, detect_hardware=False)
    qtbot.addWidget(w)
    assert w.current_page() == "model"


def test_start_open_button_opens_the_chosen_file_and_shows_its_diagnosis(qtbot, window, demo, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(demo.candidates["Q2_0"]), ""))
    wait_diagnosis(qtbot, window, lambda: qtbot.mouseClick(window.start_page.open_button, Qt.MouseButton.LeftButton))
    assert window.current_page() == "diagnosis"
    assert window.diagnosis_page.cards[0].finding.id == "quant-tier"


def test_step_states_follow_the_work(qtbot, window, demo):
    states = window.sidebar
    assert states.state_of("model").kind == "todo" and states.state_of("diagnosis").words == "not yet"
    assert states.state_of("setup").words == "defaults"
    wait_diagnosis(qtbot, window, window.start_demo)
    d = window.state.diagnosis
    assert states.state_of("model").kind == "done" and states.state_of("model").words == "SmolLM2-135M-Instruct"
    diag = states.state_of("diagnosis")
    assert diag.kind == "critical" and diag.words == f"{len(d.problems)} finding" + ("s" * (len(d.problems) != 1))
    row = states.item(states.names.index("diagnosis"))
    assert "1 finding" in row.toolTip() and "Critical" in row.toolTip()  # the state in words, not only an icon
    wait_diagnosis(qtbot, window, lambda: window.setup_page.import_command("llama-server -c 4096 --mystery 1"))
    assert states.state_of("setup").kind == "attention" and "not understood" in states.state_of("setup").words


def test_verdict_banner_on_every_page_once_diagnosed(qtbot, window, demo):
    wait_diagnosis(qtbot, window, window.start_demo)
    text = window.verdict.text
    assert text.startswith("Most likely cause: the quantization is too aggressive for this model.")
    assert text.endswith("Fix: use a Q4_K_M or better of the same model.") and "most likely cause." not in text[20:]
    assert window.verdict.severity.text() == "Critical:"  # a word, not only a red stripe
    for name in window.pages:
        window.show_page(name)
        assert window.verdict.isVisible(), name
        assert window.verdict.button.isVisible() == (name != "diagnosis")
    window.show_page("advice")
    qtbot.mouseClick(window.verdict.button, Qt.MouseButton.LeftButton)
    assert window.current_page() == "diagnosis"


def test_verdict_prefers_one_core_composed():
    class D:
        verdict = "The 4-bit KV cache at 16K context. Fix: a q8_0 cache."
        top = None

    assert verdict_text(D()) == D.verdict


def test_the_window_fits_900_by_600(qtbot, window, demo):
    assert window.minimumSizeHint().width() <= 900
    wait_diagnosis(qtbot, window, window.start_demo)
    window.resize(900, 600)
    for name in window.pages:
        window.show_page(name)
        qtbot.wait(5)
        assert window.width() == 900 and window.height() == 600, name


def test_focus_ring_is_visible(qtbot, window):
    button = window.start_page.open_button
    before = button.grab().toImage()
    button.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(button.hasFocus)
    after = button.grab().toImage()
    assert before != after  # the focused button is drawn differently (a 2 px accent ring)
    assert "QPushButton:focus" in QApplication.instance().styleSheet()


def test_every_control_is_reachable_by_keyboard_and_named(qtbot, window, demo):
    wait_diagnosis(qtbot, window, window.start_demo)
    for name in ("start", "model", "diagnosis", "advice"):
        page = window.pages[name]
        for b in page.findChildren(QAbstractButton):
            if not b.isVisibleTo(page):
                continue
            assert b.focusPolicy() & Qt.FocusPolicy.TabFocus or (isinstance(b, QPushButton) and b.isFlat()), b.text()
            assert b.text().strip() or b.accessibleName(), f"an icon-only button on {name} has no name"
    assert window.sidebar.focusPolicy() & Qt.FocusPolicy.TabFocus


def test_the_verdict_line_never_ends_on_a_dangling_with() -> None:
    """A fix step that introduces text to copy ("Start llama.cpp with:") is summed up by what it
    changes, not cut into "Fix: start llama.cpp with." (the copy text is not in the banner)."""
    from core.engines.base import FixStep

    class Top:
        title = "A 4-bit KV cache garbles long conversations"
        fix: ClassVar[list[FixStep]] = [
            FixStep("Start llama.cpp with:", "llama-server -m m.gguf -ctk q8_0", sets=(("cache_type_k", "q8_0"),))
        ]

    class D:
        top = Top()
        verdict = None

    assert verdict_text(D()).endswith("Fix: start llama.cpp with K cache q8_0.")
    Top.fix = [FixStep("Start llama-server with a context of 8,192 tokens:", "llama-server -c 8192")]
    assert verdict_text(D()).endswith("Fix: start llama-server with a context of 8,192 tokens.")
