"""Pictures for reviewing the Compare page and the Setup page's connect panel, light and dark, at
1366×768 and 900×600: Compare before it starts (the estimate), while it runs (each model's line),
finished (the verdict in words, the person's prompt first, Details open); the connect panel after
nothing answered (the address field) and after a LAN address was refused.

    .venv/bin/python tests/bench/screenshot_compare_connect.py OUT_DIR
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from core.demo.prepare import prepare_demo  # noqa: E402
from core.progress import run_job  # noqa: E402


def _wait(app, until, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()


def main(out_dir: str) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from core.app.compare import EvalSettings
    from gui.main_window import MainWindow
    from gui.screenshots import SIZES, capture, set_theme

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    demo = run_job(prepare_demo())
    app = QApplication.instance() or QApplication(sys.argv[:1])
    ini = Path(tempfile.mkdtemp()) / "qd.ini"
    w = MainWindow(QSettings(str(ini), QSettings.Format.IniFormat), detect_hardware=False)
    w.resize(*SIZES[0])
    w.show()
    w.on_demo_ready(demo)
    _wait(app, lambda: w.state.diagnosis is not None and not w.state.busy, 60)
    page = w.compare_page
    page.eval_settings = EvalSettings(chunk=128, max_chunks=2, sample_tokens=24, n_batch=128)
    for name, box in page.domain_boxes.items():
        box.setChecked(name in ("general", "code"))
    page.prompt_edit.setPlainText("My model keeps repeating the same sentence. Why does that happen?")
    page.add_prompt_button.click()
    saved = []

    def all_shots(name: str) -> None:
        for dark in (False, True):
            for size in SIZES:
                path = out / f"{name}-{'dark' if dark else 'light'}-{size[0]}x{size[1]}.png"
                if capture(w, name.split("-")[0], path, size, dark):
                    saved.append(path)
        set_theme(w, False)
        w.resize(*SIZES[0])

    all_shots("compare-before")
    running: list[bool] = []

    def mid(event: object) -> None:
        if not running and "Your model (" in page.board_label.text() and "scoring" in page.board_label.text():
            running.append(True)
            capture(w, "compare", out / "compare-running-light-1366x768.png", SIZES[0], False)
            capture(w, "compare", out / "compare-running-dark-900x600.png", SIZES[1], True)
            set_theme(w, False)
            w.resize(*SIZES[0])

    w.state.progress.connect(mid)
    page.run_button.click()
    _wait(app, lambda: w.state.comparison is not None and not w.state.busy, 300)
    page.details_button.setChecked(True)
    all_shots("compare-done")

    panel = w.setup_page.engine_panel
    panel.everywhere = False
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    panel.extra_ports = [closed]
    w.show_page("setup")
    panel.scan()
    _wait(app, lambda: not w.state.busy and panel.address_row.isVisible(), 20)
    all_shots("setup-nothing")
    panel.address.setText("192.168.1.20:8091")
    panel.look_button.click()
    all_shots("setup-refused")
    for p in saved:
        print(p)
    print(f"{len(saved)} screenshots; running: {bool(running)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "shots"))
