"""The first window: opens a model, shows errors in place, runs the demo off the UI thread."""

from __future__ import annotations

import subprocess
import sys

from gui.app import MainWindow


def test_open_model_shows_profile(qtbot, demo):
    w = MainWindow()
    qtbot.addWidget(w)
    assert w.show_model(str(demo.candidates["Q2_0"]))
    assert "Q2_0 (type 42)" in w.details.toPlainText()
    assert "3.57 bpw" in w.status.text()


def test_broken_file_shows_message_and_window_stays_usable(qtbot, tmp_path, demo):
    bad = tmp_path / "page.gguf"
    bad.write_text("<html><body>Sign in</body></html>")
    w = MainWindow()
    qtbot.addWidget(w)
    assert not w.show_model(str(bad))
    assert "web page" in w.status.text() and "What to do" in w.status.text()
    assert w.show_model(str(demo.reference))  # and the next file opens fine
    assert "Q4_1" in w.details.toPlainText()


def test_demo_runs_in_worker_with_ordered_signals(qtbot, demo):
    w = MainWindow()
    qtbot.addWidget(w)
    with qtbot.waitSignals([w.model_shown, w.job_finished], order="strict", timeout=60_000):
        w.start_demo()
    assert "Q2_0" in w.details.toPlainText()
    assert w.demo_button.isEnabled() and not w.cancel_button.isEnabled()


def test_self_test_exits_zero():
    run = subprocess.run([sys.executable, "-m", "gui.app", "--self-test"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "self-test: ok" in run.stdout
