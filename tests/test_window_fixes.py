"""The problems a new user met in the window (issue 16), each pinned by a test that failed before."""

from __future__ import annotations

import pytest
from foldermaker import make_folder
from PySide6.QtCore import Qt
from windowkit import base_model, llama8b, make_window, shaped_gguf, visible_text, wait_diagnosis, what_if

from core.hardware.machine import CpuInfo, HardwareProfile, SystemMemory
from core.model.discovery import FoundModel
from gui.pages.diagnosis_page import NotCheckedCard


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


# 1. a base model with no expected model: a question in the window, not a green card with a CLI flag
def test_base_model_asks_which_model_was_meant(qtbot, window, tmp_path):
    path = base_model(tmp_path / "base.gguf")
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(path)))
    page = window.diagnosis_page
    assert page.question.isVisible() and page.question.title.text() == "Which model did you mean to run?"
    assert "no chat template" in page.question.why.text()
    # no green "fine" card for it: issue 14 infers a base model and warns, beside the question
    assert [(c.finding.id, c.finding.severity) for c in page.cards if c.finding.id == "finetune"] == [
        ("finetune", "warning")
    ]
    assert "--expect ORG" not in visible_text(page)
    page.question.field.setText("meta-llama/Llama-3.1-8B-Instruct")
    wait_diagnosis(qtbot, window, lambda: qtbot.keyClick(page.question.field, Qt.Key.Key_Return))
    assert window.state.setup.expected == "meta-llama/Llama-3.1-8B-Instruct"
    top = page.cards[0].finding
    assert (top.id, top.severity) == ("finetune", "critical")
    assert not page.question.isVisible()


# 2. the memory advice: one answer first, the options after it, the upgrade only when no option fits
def test_advice_says_it_fits_without_contradicting_itself(qtbot, window, demo):
    window.state.hardware = what_if("H200")
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(demo.reference)))
    window.show_page("advice")  # a page is filled when the person looks at it (gui/deferred.py)
    page = window.advice_page
    assert page.answer_text.text().startswith("It fits")
    assert page.answer_icon.toolTip() == "Fine"
    assert "whole trained context (8,192 tokens) fits" in page.answer_more.text()
    assert "Largest context that fits" not in visible_text(page)
    assert page.upgrade_box is None


def test_advice_gives_the_one_change_and_no_upgrade_when_an_option_fits(qtbot, window, tmp_path):
    path = llama8b(tmp_path / "Llama-3.1-8B-Instruct-Q4_K_M.gguf")
    window.state.hardware = what_if("GeForce RTX 4060")
    window.state.setup = window.state.setup.of(n_ctx=65536)
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(path)))
    window.show_page("advice")  # a page is filled when the person looks at it (gui/deferred.py)
    page = window.advice_page
    answer = page.answer_text.text()
    assert answer.startswith("It does not fit as set up (65,536 tokens")
    assert "The one change that makes it fit: smaller context: 18944 tokens." in answer
    assert page.options_box is not None and page.upgrade_box is None  # no "the fix is hardware" under options
    assert "The fix is hardware" not in visible_text(page)
    # the arithmetic waits behind its toggle
    assert page.arithmetic and not any(lab.isVisible() for lab in page.arithmetic)
    qtbot.mouseClick(page.arithmetic_toggle, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(lab.isVisible() for lab in page.arithmetic), timeout=2000)
    assert any(lab.text().startswith("KV = 32 layers") for lab in page.arithmetic)


def test_advice_shows_the_upgrade_only_when_no_option_fits(qtbot, window, tmp_path):
    path = shaped_gguf(tmp_path / "big.gguf", 64, 5120, 27648, 40, 8)
    window.state.hardware = what_if("GeForce RTX 4060", ram_gib=1)
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(path)))
    window.show_page("advice")  # a page is filled when the person looks at it (gui/deferred.py)
    page = window.advice_page
    report = window.state.diagnosis.memory
    assert not any(a.fits for a in report.alternatives)
    assert page.upgrade_box is not None and "no setting makes it fit" in page.answer_text.text()
    assert page.answer_icon.toolTip() == "Critical"


# 7. "Memory not estimated" is not green; no "still looking" once the machine is known
def test_memory_not_estimated_is_not_shown_as_fine(qtbot, window, tmp_path):
    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    window.state.hardware = what_if("GeForce RTX 4060")
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(folder)))
    page = window.diagnosis_page
    assert all(c.finding.id != "vram" for c in page.cards)
    assert any(isinstance(c, NotCheckedCard) and c.finding.id == "vram" for c in page.unchecked)
    window.show_page("advice")
    advice = window.advice_page
    assert advice.answer_icon.toolTip() == "Not checked"
    assert advice.answer_text.text().startswith("Not checked.")
    assert "still looking" not in visible_text(advice)


# 8. layout: 900x600 works; the profile is not squeezed; found lines are not clipped; what-if CPU
def test_model_page_profile_takes_the_width_at_900(qtbot, window, demo):
    window.resize(900, 600)
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(demo.candidates["Q2_0"])))
    window.show_page("model")
    qtbot.wait(10)
    page = window.model_page
    assert window.width() == 900
    assert page.profile_box.width() >= 0.9 * page.width() - 40
    page.details_toggle.click()
    assert page.details.isVisible() and not page.details.horizontalScrollBar().isVisible()


def test_found_models_are_not_clipped(qtbot, window, tmp_path):
    window.resize(900, 600)
    window.show_page("model")
    long = "bartowski/Meta-Llama-3.1-70B-Instruct-abliterated-GGUF/Meta-Llama-3.1-70B-Instruct-Q4_K_M.gguf"
    window.model_page.set_found([FoundModel(long, tmp_path / "x.gguf", "LM Studio", 42 * 2**30)])
    qtbot.wait(10)
    view = window.model_page.found
    title = window.model_page.found_model.entries[0].title
    assert title.split("\n")[1] == "42.00 GiB · LM Studio · Q4_K_M: good precision"  # on their own line
    rect = view.visualRect(window.model_page.found_model.index(0))
    assert rect.right() <= view.viewport().width()


def test_what_if_keeps_this_computers_cpu(qtbot, window):
    page = window.machine_page
    window.state.session.detected = HardwareProfile(
        ram=SystemMemory(total_bytes=64 * 2**30), cpu=CpuInfo(model="Ryzen 9 7950X")
    )
    with qtbot.waitSignal(window.state.hardware_changed):
        page.what_if.setCurrentText("GeForce RTX 4060")
    assert "Ryzen 9 7950X" in page.system.text() and "unknown" not in page.system.text()


# 9. jargon: plain words first, the technical line under Details
def test_model_page_speaks_plainly(qtbot, window, demo):
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(demo.candidates["Q2_0"])))
    page = window.model_page
    assert page.name_label.text() == "SmolLM2-135M-Instruct"  # not "Smollm2 135M 8k Lc100K Mix1 Ep2"
    assert page.precision.text().startswith("Critical: Very low precision")
    shown = visible_text(page)
    assert "general.file_type" not in shown and "nominal" not in shown
    labels = [label for label, _, _ in page.types.parts]
    assert "F32: under 1%" in labels and not any(label.endswith(" 0%") for label in labels)
    assert not page.details.isVisible()
    assert "nominal type Q2_0 (general.file_type)" in page.details.toPlainText()


# 10. onboarding: after an import the person is taken to the new diagnosis
def test_import_points_to_the_new_diagnosis(qtbot, window, demo):
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(demo.reference)))
    window.show_page("setup")
    wait_diagnosis(
        qtbot, window, lambda: window.setup_page.import_command("llama-server -c 8192 -ctk q4_0 -ctv q4_0 -fa on")
    )
    assert window.current_page() == "diagnosis"
    assert window.verdict.isVisible() and "KV cache" in window.verdict.text
    # a typed change does not pull the person away from the form
    window.show_page("setup")
    wait_diagnosis(qtbot, window, lambda: window.setup_page.ctx.setValue(4096))
    assert window.current_page() == "setup"
