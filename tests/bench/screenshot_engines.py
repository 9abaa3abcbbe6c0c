"""The README's picture of "Connect to my app": the real llama-server (built by build_llama_tools.sh)
serving the demo model with a 4-bit cache, beside a fake Ollama replaying its recorded answers.
Without the llama-server binary, a fake llama-server replays its recorded answers instead (--fake).

    .venv/bin/python tests/bench/screenshot_engines.py docs/screenshots/connect.png
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from engine_fakes import fake_engine, routes_for  # noqa: E402
from test_engines_llama_server import BINARY, _free_port  # noqa: E402

from core.demo.prepare import prepare_demo  # noqa: E402
from core.progress import run_job  # noqa: E402


def main(out: str) -> int:
    demo = run_job(prepare_demo())
    if BINARY is None or "--fake" in sys.argv:
        import json

        from engine_fakes import fixture

        props = json.loads(fixture("llama-server", "props.json"))
        props["model_path"] = str(demo.reference)
        props["default_generation_settings"]["n_ctx"] = 16384
        routes = {**routes_for("llama-server"), "GET /props": json.dumps(props).encode()}
        with fake_engine(routes) as (port, _):
            return _shoot(out, port)
    port = _free_port(8080)
    cmd = [str(BINARY), "-m", str(demo.reference), "--host", "127.0.0.1", "--port", str(port),
           "-c", "16384", "-ctk", "q4_0", "-ctv", "q4_0", "-fa", "on", "-t", "2", "--no-webui"]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        return _shoot(out, port)
    finally:
        server.terminate()
        server.wait(10)


def _shoot(out: str, port: int) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with fake_engine(routes_for("ollama")) as (ollama, _):
        w = MainWindow(QSettings(str(Path(out).with_suffix(".ini")), QSettings.Format.IniFormat), detect_hardware=False)
        w.resize(1100, 760)
        w.show()
        panel = w.setup_page.engine_panel
        panel.extra_ports = [port, ollama]
        w.show_page("setup")
        panel.scan()
        deadline = time.monotonic() + 20
        while (w.state.busy or not panel.found.count()) and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.02)
        app.processEvents()
        ok = w.grab().save(out)
    Path(out).with_suffix(".ini").unlink(missing_ok=True)
    print(f"screenshot: {'saved ' + out if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(next((a for a in sys.argv[1:] if not a.startswith("--")), "docs/screenshots/connect.png")))
