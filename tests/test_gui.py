"""The window, driven through qtbot: the guided flow, errors in place, settings, never freezing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage

from core.evaluation.scoring import EvalSettings
from gui.main_window import MainWindow
from gui.models import ModelEntry, ModelListModel, PathRole


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "qd.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    w = MainWindow(settings, detect_hardware=False)
    qtbot.addWidget(w)
    w.show()
    return w


def open_and_wait(qtbot, w, path):
    with qtbot.waitSignal(w.state.diagnosis_changed, timeout=30_000):
        w.state.open_model(str(path))


def test_open_demo_gives_ranked_diagnosis(qtbot, window, demo):
    with qtbot.waitSignals(
        [window.state.profile_changed, window.state.diagnosis_changed], order="strict", timeout=60_000
    ):
        window.start_demo()
    assert window.current_page() == "diagnosis"
    first = window.diagnosis_page.cards[0]
    assert (first.finding.id, first.finding.severity) == ("quant-tier", "critical")
    assert not first.body.isHidden()  # the top problem opens expanded
    assert window.diagnosis_page.cards[-1].body.isHidden()
    qtbot.waitUntil(lambda: first.body.isVisible())
    assert "Q2_0 (type 42)" in window.model_page.details.toPlainText()
    assert "3.57" in window.model_page.title.text()


def test_broken_file_shows_message_and_window_stays_usable(qtbot, window, demo, tmp_path):
    bad = tmp_path / "page.gguf"
    bad.write_text("<html><body>Sign in</body></html>")
    with qtbot.waitSignal(window.state.error, timeout=10_000):
        window.state.open_model(str(bad))
    assert window.banner.isVisible()
    assert "web page" in window.banner.text and "What to do" in window.banner.text
    open_and_wait(qtbot, window, demo.reference)
    assert not window.banner.isVisible()
    assert "Q4_1" in window.model_page.details.toPlainText()


def test_import_command_fills_the_setup(qtbot, window, demo):
    open_and_wait(qtbot, window, demo.reference)
    page = window.setup_page
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=5_000):
        page.import_command(f"llama-server -m {demo.reference} -c 8192 -ctk q4_0 -ctv q4_0 -fa on --mystery 3")
    assert page.ctx.value() == 8192
    assert page.cache_k.currentText() == page.cache_v.currentText() == "q4_0"
    assert page.fa.currentText() == "on"
    assert "--mystery 3" in page.unknown.text()
    top = window.diagnosis_page.cards[0].finding
    assert (top.id, top.severity) == ("kv-cache", "warning")
    # a typed change applies too (debounced)
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=5_000):
        page.cache_k.setCurrentText("q8_0")
        page.cache_v.setCurrentText("q8_0")
    assert window.state.setup.run.cache_type_k == "q8_0"
    assert window.diagnosis_page.cards[0].finding.id != "kv-cache"


def test_copy_button_copies_the_fix(qtbot, window, demo):
    open_and_wait(qtbot, window, demo.reference)
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=10_000):  # the checks run off the UI thread
        window.setup_page.import_command("llama-server -c 32768 -ctk q4_0 -ctv q4_0 -fa on")
    card = window.diagnosis_page.cards[0]
    field = card.copy_fields[0]
    qtbot.waitUntil(lambda: field.button.isVisible() and field.button.height() > 0)  # laid out, clickable
    qtbot.mouseClick(field.button, Qt.MouseButton.LeftButton)
    from PySide6.QtGui import QGuiApplication

    # their own command, with their model added and only the changed flags replaced (issue 16 item 4)
    assert QGuiApplication.clipboard().text() == f"llama-server -m {demo.reference} -c 8192 -ctk q8_0 -ctv q8_0 -fa on"


def test_settings_persist(qtbot, settings, demo):
    w = MainWindow(settings, detect_hardware=False)
    qtbot.addWidget(w)
    open_and_wait(qtbot, w, demo.reference)
    w.setup_page.import_command("llama-server -c 4096 -ctk q8_0 -ctv q8_0")
    w.close()
    again = MainWindow(settings, detect_hardware=False)
    qtbot.addWidget(again)
    assert again.recent_files()[0] == str(demo.reference)
    assert again.model_page.recent_model.entries[0].path == str(demo.reference)
    assert (again.state.setup.run.n_ctx, again.state.setup.run.cache_type_k) == (4096, "q8_0")
    assert json.loads(settings.value("setup"))["cache_type_v"] == "q8_0"


def test_export_writes_reports(qtbot, window, demo, tmp_path):
    open_and_wait(qtbot, window, demo.candidates["Q2_0"])
    for fmt in ("html", "md", "json"):
        out = window.export_page.save(fmt, str(tmp_path / f"r.{fmt}"))
        assert out is not None and out.stat().st_size > 500
    assert "quant-tier" in (tmp_path / "r.json").read_text()
    assert "Saved" in window.export_page.status.text()


def test_unexpected_error_shows_crash_dialog_and_app_survives(qtbot, window):
    from gui.crash import CrashHook

    hook = CrashHook()
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        hook(type(exc), exc, exc.__traceback__)
    dialog = hook.dialogs[-1]
    qtbot.addWidget(dialog)
    text = dialog.details.toPlainText()
    assert "RuntimeError: boom" in text and "Quant Doctor:" in text and "Qt:" in text and "NVIDIA driver:" in text
    assert window.isVisible()


def test_model_list_model_without_a_window():
    m = ModelListModel("nothing yet")
    assert m.rowCount() == 1 and m.data(m.index(0)) == "nothing yet"
    assert m.flags(m.index(0)) == Qt.ItemFlag.NoItemFlags
    m.set_entries([ModelEntry("a.gguf", "/x/a.gguf"), ModelEntry("b.gguf", "/x/b.gguf", "7 GB")])
    assert m.rowCount() == 2
    assert m.data(m.index(1), PathRole) == "/x/b.gguf"
    assert m.data(m.index(1), Qt.ItemDataRole.ToolTipRole) == "<p style='white-space:pre'>7 GB</p>"  # never rich text


def test_every_page_renders(qtbot, window, demo, tmp_path):
    open_and_wait(qtbot, window, demo.candidates["Q2_0"])
    for name in window.pages:
        window.show_page(name)
        qtbot.wait(20)
        img: QImage = window.grab().toImage()
        colours = {img.pixel(x, y) for x in range(0, img.width(), 9) for y in range(0, img.height(), 9)}
        assert len(colours) > 8, f"page {name} looks blank"


def test_self_test_exits_zero():
    run = subprocess.run([sys.executable, "-m", "gui.app", "--self-test"], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "self-test: ok" in run.stdout


def test_find_a_better_quant_downloads_and_diagnoses(qtbot, window, demo, monkeypatch, tmp_path):
    """The finetune / quant-tier finding's button → Hub list with badges → download → diagnosis (fake Hub)."""
    from fakehub import make_gguf, running

    small = make_gguf(tmp_path / "small.gguf")
    for hub in running(monkeypatch, tmp_path):
        hub.add("acme/Small", {"config.json": b"{}"}, card={"license": "apache-2.0"})
        hub.add("quanter/Small-GGUF", {"Small-Q8_0.gguf": small},
                card={"base_model": "acme/Small", "base_model_relation": "quantized"})  # fmt: skip
        open_and_wait(qtbot, window, demo.candidates["Q2_0"])
        card = window.diagnosis_page.cards[0]
        assert card.action_button is not None and card.finding.id == "quant-tier"
        button = card.action_button
        qtbot.waitUntil(lambda b=button: b.isVisible() and b.height() > 0)
        qtbot.mouseClick(card.action_button, Qt.MouseButton.LeftButton)
        dialog = window.hub_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.expected.setText("acme/Small")
        with qtbot.waitSignal(window.state.busy_changed, timeout=20_000, check_params_cb=lambda busy: not busy):
            dialog.search()
        titles = [e.title for e in dialog.model.entries]
        row = next(i for i, t in enumerate(titles) if "Small-Q8_0.gguf" in t)
        assert "fits" in titles[row] or "fit unknown" in titles[row]
        dialog.list.setCurrentIndex(dialog.model.index(row))
        assert dialog.download_button.isEnabled()
        with qtbot.waitSignal(window.state.diagnosis_changed, timeout=30_000):
            dialog.fetch("diagnose")
        assert window.state.profile.path.endswith("Small-Q8_0.gguf")
        assert "verified" in dialog.status.text() or "downloaded" in dialog.status.text()


def _compare_only_general(window, qtbot):
    """One domain, two short chunks, a short sample: the window's path end to end in seconds (the
    benchmark, tests/bench/bench_eval.py, runs the full comparison)."""
    qtbot.waitUntil(lambda: not window.state.busy, timeout=30_000)  # Compare is disabled while a job runs
    window.compare_page.eval_settings = EvalSettings(chunk=128, max_chunks=1, sample_tokens=8)
    for name, box in window.compare_page.domain_boxes.items():
        box.setChecked(name == "general")


def test_compare_runs_with_progress_and_fills_both_columns(qtbot, window, demo):
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=30_000):
        window.on_demo_ready(demo)  # the demo pair: Q2_0 on screen, Q4_1 the reference
    _compare_only_general(window, qtbot)
    page = window.compare_page
    page.prompt_edit.setPlainText("Say hello in French.")  # "Try the prompt that went wrong"
    page.add_prompt_button.click()
    assert "1 prompt" in page.own_label.text()
    progress = []
    window.state.progress.connect(progress.append)
    rows_while_running = []
    window.state.progress.connect(lambda p: rows_while_running.append(page.domain_rows.text()) if p.overall else None)
    page.run_button.click()
    qtbot.waitUntil(lambda: window.state.comparison is not None, timeout=180_000)  # ~20 s on an idle machine
    assert any(p.total for p in progress)  # live progress with totals (tokens) reached the window
    assert any(p.overall and p.overall_eta_s for p in progress)  # one overall share with an ETA
    assert any("the general text: badly damaged" in r for r in rows_while_running)  # the row filled before the end
    assert "badly damaged" in page.verdict_label.text()
    assert "perplexity" not in page.verdict_label.text()  # words first; the numbers are under Details
    assert "general: badly damaged" in page.details_label.text() and "perplexity" in page.details_label.text()
    assert page.prompt_picker.count() == 2  # the shipped prompt and the person's own, as its own row
    assert "Say hello in French." in page.prompt_picker.itemText(0)  # the person's own, first
    page.prompt_picker.setCurrentIndex(1)
    assert page.reference_text.toPlainText().strip() and page.candidate_text.toPlainText().strip()
    assert page.reference_text.toPlainText() != page.candidate_text.toPlainText()
    assert "different" in page.candidate_label.text()  # where the two part, in words
    assert not page.results.isHidden() and page.hint.isHidden()
    qtbot.waitUntil(lambda: not window.state.busy, timeout=10_000)  # the re-diagnosis with the measurements
    m = page.comparison.metrics["general"]
    assert m.ppl_ratio > 1.5 and m.top1_agreement < 0.7
    top = window.diagnosis_page.cards[0].finding
    assert (top.id, top.confidence) == ("quant-tier", "confirmed-by-measurement")


def test_cancel_stops_a_comparison(qtbot, window, demo):
    import psutil

    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=30_000):
        window.on_demo_ready(demo)
    _compare_only_general(window, qtbot)
    started = []
    window.state.progress.connect(
        lambda p: started.append(p) if p.phase.startswith("Reference") and psutil.Process().children() else None
    )
    errors = []
    window.state.error.connect(errors.append)
    window.compare_page.run_button.click()
    qtbot.waitUntil(lambda: bool(started), timeout=60_000)  # a llama.cpp child is running
    children = psutil.Process().children(recursive=True)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.state.busy, timeout=10_000)
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive
    assert children, "the reference model should have been running in a child process"
    assert not errors and not window.banner.isVisible()  # a cancel is not an error
    assert window.compare_page.comparison is None
    assert "Cancelled" in window.compare_page.status.text()


def test_qt_signals_carry_python_objects_safely():
    """PySide6 6.12.0 decrefs the argument of every Signal(object) emission and aborts within a few
    hundred; the window's progress and results travel that way, so the installed Qt must not."""
    code = (
        "import os; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtCore import QObject, Signal\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "class S(QObject):\n"
        "    sig = Signal(object)\n"
        "s = S(); got = []\n"
        "s.sig.connect(got.append)\n"
        "for i in range(5000):\n"
        "    s.sig.emit(None if i % 2 else {'i': i})\n"
        "assert len(got) == 5000 and got[1] is None and got[4998] == {'i': 4998}\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-500:]


def test_add_a_text_file_checks_it_in_place(qtbot, window, demo, tmp_path):
    page = window.compare_page
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\x00\x00")
    with qtbot.waitSignal(window.state.error, timeout=5_000):
        assert not page.add_text_file(str(binary))
    assert "binary" in window.banner.text
    good = tmp_path / "notes.md"
    good.write_text("Minutes of the meeting. " * 200, encoding="utf-8")
    assert page.add_text_file(str(good))
    assert "notes" in page.own_label.text() and page.own_texts["notes"].startswith("Minutes")
