"""The window's "Connect to my app" and "Import a log…", driven through qtbot with fake engines on
127.0.0.1 (recorded-shape answers, tests/fixtures/engines) and a recorded-shape log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_fakes import FIXTURES, fake_engine, fixture, routes_for
from PySide6.QtCore import QSettings

from gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(QSettings(str(tmp_path / "qd.ini"), QSettings.Format.IniFormat), detect_hardware=False)
    qtbot.addWidget(w)
    w.show()
    return w


def _llama_server_routes(model: Path) -> dict:
    props = json.loads(fixture("llama-server", "props.json"))
    props["model_path"] = str(model)
    props["default_generation_settings"]["n_ctx"] = 16384
    return {**routes_for("llama-server"), "GET /props": json.dumps(props).encode()}


def test_connect_lists_engines_and_one_click_leads_to_the_diagnosis(qtbot, window, demo):
    panel = window.setup_page.engine_panel
    with fake_engine(routes_for("ollama")) as (ollama, _), fake_engine(_llama_server_routes(demo.reference)) as (ls, _):
        panel.extra_ports = [ollama, ls]
        panel.scan_seconds, panel.probe_seconds = 20, 10  # fake servers in this process on a busy machine
        window.show_page("setup")
        with qtbot.waitSignal(window.state.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
            panel.connect_button.click()
        texts = [panel.found.item(i).text() for i in range(panel.found.count())]
        assert any(t.startswith("Ollama at") and "llama3.2:3b" in t for t in texts), texts
        assert any(t.startswith("llama-server at") for t in texts), texts
        row = next(i for i, t in enumerate(texts) if t.startswith("llama-server at"))
        with qtbot.waitSignal(window.state.diagnosis_changed, timeout=60_000):
            panel.found.itemClicked.emit(panel.found.item(row))
    assert window.current_page() == "diagnosis"
    assert window.state.profile is not None and Path(window.state.profile.path) == demo.reference
    assert window.state.setup.run.n_ctx == 16384 and window.state.setup.source.startswith("llama-server at")
    d = window.state.diagnosis
    assert d.findings[0].id == "kv-cache"  # 16K context on a model trained for 8K
    assert any("llama-server's API does not report the KV cache types" in n for n in d.notes)


def test_import_a_log_fills_the_setup(qtbot, window):
    panel = window.setup_page.engine_panel
    with qtbot.waitSignal(window.state.setup_changed, timeout=10_000):
        panel.import_log(str(FIXTURES / "llamacpp-logs" / "llama-server.sample.log"))
    s = window.state.setup
    assert (s.run.n_ctx, s.run.cache_type_k, s.run.cache_type_v, s.run.n_gpu_layers) == (8192, "q8_0", "q4_0", 20)
    assert "double-bos" in panel.status.text()
    assert window.state.engine_evidence is not None


def test_a_bad_log_is_a_plain_message(qtbot, window, tmp_path):
    bad = tmp_path / "x.log"
    bad.write_bytes(b"\x00\x01\x02" * 1000)
    with qtbot.waitSignal(window.state.error, timeout=10_000):
        window.setup_page.engine_panel.import_log(str(bad))
    assert "not a text log" in window.setup_page.engine_panel.status.text()
