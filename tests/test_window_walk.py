"""Five walks a person would take through the window, offscreen, with a picture of every step (in
pytest's tmp dir) and what each step must show. No real comparison here: test_gui has one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from windowkit import base_model, llama8b, make_window, shot, wait_diagnosis, what_if


def test_walk_first_start(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    assert w.current_page() == "start"
    assert shot(w, tmp_path, "1-start").stat().st_size > 10_000
    assert [w.sidebar.state_of(n).words for n in ("model", "diagnosis", "advice")] == ["not yet"] * 3
    assert not w.verdict.isVisible() and not w.banner.isVisible()
    w.resize(900, 600)
    qtbot.wait(5)
    assert w.width() == 900
    assert all(way.button.width() > 300 for way in w.start_page.ways)
    shot(w, tmp_path, "1-start-900x600")


def test_walk_demo_end_to_end(qtbot, tmp_path, demo):
    w = make_window(qtbot, tmp_path)
    w.state.hardware = what_if("GeForce RTX 4060")
    wait_diagnosis(qtbot, w, lambda: qtbot.mouseClick(w.start_page.demo_button, Qt.MouseButton.LeftButton))
    assert w.current_page() == "diagnosis"
    top = w.diagnosis_page.cards[0].finding
    assert (top.id, top.severity) == ("quant-tier", "critical")
    assert w.verdict.text.startswith("Most likely cause: the quantization is too aggressive")
    assert w.sidebar.state_of("diagnosis").kind == "critical"
    shot(w, tmp_path, "2-diagnosis")
    w.show_page("model")
    assert w.model_page.name_label.text() == "SmolLM2-135M-Instruct"
    shot(w, tmp_path, "2-model")
    w.show_page("advice")
    assert w.advice_page.answer_text.text().startswith("It fits")
    shot(w, tmp_path, "2-advice")
    w.show_page("export")
    out = w.export_page.save("html", str(tmp_path / "report.html"))
    assert out is not None and "quant-tier" in out.read_text()
    shot(w, tmp_path, "2-export")


def test_walk_base_model_without_an_expected_model(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    path = base_model(tmp_path / "Llama-3.1-8B.Q5_K_M.gguf")
    wait_diagnosis(qtbot, w, lambda: w.state.open_model(str(path)))
    page = w.diagnosis_page
    assert w.current_page() == "diagnosis" and page.question.isVisible()
    assert (page.cards[0].finding.id, page.cards[0].finding.severity) == ("finetune", "warning")  # inferred (issue 14)
    shot(w, tmp_path, "3-question")
    page.question.field.setText("Llama 3.1 8B Instruct")
    wait_diagnosis(qtbot, w, lambda: qtbot.mouseClick(page.question.check, Qt.MouseButton.LeftButton))
    assert page.cards[0].finding.id == "finetune" and page.cards[0].finding.severity == "critical"
    assert "base model" in w.verdict.text
    shot(w, tmp_path, "3-answered")


def test_walk_imported_server_command(qtbot, tmp_path, demo):
    w = make_window(qtbot, tmp_path)
    w.show_page("setup")
    command = f"llama-server -m {demo.reference} -c 16384 -ctk q4_0 -ctv q4_0 -fa on -ngl 99"
    wait_diagnosis(qtbot, w, lambda: w.setup_page.import_command(command))
    qtbot.waitUntil(lambda: w.state.profile is not None and w.state.diagnosis.model.path == str(demo.reference))
    assert w.current_page() == "diagnosis"  # pointed to the new diagnosis, not left on Setup
    assert w.sidebar.state_of("setup").words == "llama.cpp command line"
    top = w.diagnosis_page.cards[0].finding
    assert top.id == "kv-cache" and "KV cache" in w.verdict.text
    shot(w, tmp_path, "4-diagnosis")


def test_walk_8b_model_with_a_small_what_if_gpu(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    path = llama8b(tmp_path / "Llama-3.1-8B-Instruct-Q4_K_M.gguf")
    w.state.session.detected = what_if("GeForce RTX 4090")  # "this machine", then a what-if
    with qtbot.waitSignal(w.state.hardware_changed):
        w.machine_page.what_if.setCurrentText("GeForce RTX 4060")
    assert "Test CPU" in w.machine_page.system.text()
    shot(w, tmp_path, "5-machine")
    wait_diagnosis(qtbot, w, lambda: w.state.open_model(str(path)))
    w.show_page("setup")
    wait_diagnosis(qtbot, w, lambda: w.setup_page.ctx.setValue(65536))
    assert w.sidebar.state_of("advice").words == "fits with one change"
    assert w.sidebar.state_of("advice").kind == "attention"
    w.show_page("advice")
    page = w.advice_page
    assert "The one change that makes it fit: smaller context" in page.answer_text.text()
    assert page.upgrade_box is None
    assert page.bars and page.bars[0].capacity is not None
    shot(w, tmp_path, "5-advice")
    w.resize(900, 600)
    qtbot.wait(5)
    assert w.width() == 900
    assert Path(shot(w, tmp_path, "5-advice-900x600")).exists()
