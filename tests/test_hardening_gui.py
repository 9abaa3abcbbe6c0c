"""The window and hostile input (issue 12): file text is plain text everywhere; FIFOs, broken saved
settings and signals never hang or stop the app."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel

from gui.main_window import MainWindow
from gui.widgets import Label, RichLabel

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '<img src="/dev/zero"><a href="https://example.invalid">click</a><b>bold</b>'


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "qd.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings, detect_hardware=False)
    qtbot.addWidget(w)
    w.show()
    return w


def hostile_gguf(path: Path) -> Path:
    md = llama_metadata(2, 256, 512, 4, 2)
    md["general.name"] = HOSTILE
    md["general.finetune"] = HOSTILE
    md["general.basename"] = HOSTILE
    return write_gguf(path, metadata=md, tensors=llama_tensors(2, 256, 512, 4, 2, 1024, Q.Q4_0, Q.Q8_0, Q.Q8_0))


def test_no_page_makes_a_bare_label() -> None:
    """The root of the fix: every label is a Label (plain) or a RichLabel (the app's own HTML, values
    escaped). A bare QLabel would guess rich text from a file's text again."""
    offenders = []
    for path in (ROOT / "gui").rglob("*.py"):
        if path.name == "widgets.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bQ(Label|TextBrowser|TextEdit)\(", text) or re.search(r"\.setHtml\(", text):
            offenders.append(path.name)
    assert not offenders, offenders


def test_label_stays_plain_whatever_is_asked(qtbot) -> None:
    lab = Label(HOSTILE)
    qtbot.addWidget(lab)
    lab.setTextFormat(Qt.TextFormat.RichText)
    assert lab.textFormat() == Qt.TextFormat.PlainText
    rich = RichLabel("<b>x</b>")
    qtbot.addWidget(rich)
    assert rich.textFormat() == Qt.TextFormat.RichText


def test_hostile_model_name_is_shown_as_text(qtbot, window, tmp_path) -> None:
    path = hostile_gguf(tmp_path / "m.gguf")
    t0 = time.monotonic()
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=60_000):
        window.state.open_model(str(path))
    for page in ("model", "diagnosis", "advice", "export"):
        window.show_page(page)
        qtbot.wait(50)
    assert time.monotonic() - t0 < 60
    seen = 0
    for lab in window.findChildren(QLabel):
        text = lab.text()
        if lab.textFormat() != Qt.TextFormat.PlainText:  # a RichLabel, or Qt's own (form rows)
            assert "<img" not in text and "<a href" not in text, text  # escaped: shown, not obeyed
            seen += "&lt;img" in text
        else:
            seen += "<img" in text
    assert seen >= 1  # the name is on screen, as the characters it is
    preview = window.export_page.preview
    assert preview.loadResource(2, "file:///dev/zero") is None  # documents never load what they point at


def test_saved_settings_of_the_wrong_type_do_not_stop_the_app(qtbot, tmp_path) -> None:
    ini = tmp_path / "qd.ini"
    settings = QSettings(str(ini), QSettings.Format.IniFormat)
    for value in ("[1, 2]", '{"model_path": {}}', '{"unknown": 5}', "[" * 100_000, '{"n_ctx": NaN}', "5"):
        settings.setValue("setup", value)
        settings.setValue("recent", 12)
        settings.setValue("geometry", "not bytes")
        settings.sync()
        w = MainWindow(settings, detect_hardware=False)
        qtbot.addWidget(w)
        w.show()
        assert w.recent_files() == []
        w.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_as_model_in_the_window(qtbot, window, tmp_path) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    with qtbot.waitSignal(window.state.error, timeout=10_000):
        window.state.open_model(str(fifo))
    assert "named pipe" in window.banner.text
    qtbot.waitUntil(lambda: not window.state.busy, timeout=10_000)
    window.close()  # and the window can quit after it


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_window_quits_on_signal(sig: int, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from gui.app import main; print('up', flush=True); sys.exit(main([]))"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    time.sleep(3)  # the window may or may not be up: either way the signal ends the app cleanly
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the window did not quit on " + signal.Signals(sig).name)
    assert rc in (0, 128 + sig), (rc, proc.stderr.read() if proc.stderr else "")  # not killed by the signal
