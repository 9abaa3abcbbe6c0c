"""A real llama-server, started here on 127.0.0.1 with the demo model and a 4-bit KV cache.

The binary is built from the llama.cpp inside the installed llama-cpp-python's sdist by
`bash tests/bench/build_llama_tools.sh llama-server llama-perplexity` (cached; `make test` runs it, so CI
has it, and under CI=true a missing binary fails these tests instead of skipping them).
Its /props, /v1/models and /slots are read for real, its process's command line gives the cache
types (the API has none), and its real log is parsed; the CLI ranks kv-cache first from that alone.
The server starts once for the module.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import fake_engine, fake_engine_process, real_server, routes_for

from core.engines.live import SCAN_SECONDS, connect, scan
from core.engines.logs import read_log
from core.paths import cache_dir

CTX = 16384
BUILD = "bash tests/bench/build_llama_tools.sh llama-server"


def llama_server_binary() -> Path | None:
    import importlib.metadata

    env = os.environ.get("LLAMA_SERVER")
    if env:
        return Path(env)
    version = importlib.metadata.version("llama_cpp_python")
    path = Path(os.environ.get("LLAMA_TOOLS_DIR") or cache_dir() / "llama-tools") / version / "bin" / "llama-server"
    return path if path.is_file() else None


BINARY = llama_server_binary()
pytestmark = pytest.mark.skipif(
    BINARY is None,
    reason=f"llama-server is not built: run `{BUILD}` (about 7 minutes once; cached), or set $LLAMA_SERVER",
)


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    log: Path
    model: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def spec(self) -> str:
        """`llama-server` alone when it got the default port, as the person would type it."""
        return "llama-server" if self.port == 8080 else f"llama-server:{self.url}"


@pytest.fixture(scope="module")
def server(demo: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("llama-server")
    port = _free_port(8080)
    log = tmp / "llama-server.log"
    cmd = [str(BINARY), "-m", str(demo.reference), "--host", "127.0.0.1", "--port", str(port),
           "-c", str(CTX), "-ctk", "q4_0", "-ctv", "q4_0", "-fa", "on", "-t", "2", "--no-webui",
           "-lv", "4"]  # this llama-server logs its settings and buffers only at level 4  # fmt: skip
    with real_server(cmd, log, f"http://127.0.0.1:{port}/health", "llama-server") as proc:
        yield Server(port, log, demo.reference, proc)


def _props(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(server.url + "/props", timeout=5) as r:
        data: dict[str, Any] = json.load(r)
        return data


def test_the_server_is_read_for_real(server: Server) -> None:
    e = connect(server.spec)
    per_slot = _props(server)["default_generation_settings"]["n_ctx"]
    assert e.key == "llama-server" and e.setup is not None
    run = e.setup.run
    assert run.n_ctx == per_slot and per_slot <= CTX  # the context one conversation gets
    assert (run.cache_type_k, run.cache_type_v, run.flash_attn.value) == ("q4_0", "q4_0", "on")  # its command line
    assert Path(e.setup.model_path or "") == server.model
    assert e.process is not None and e.process.pid == server.proc.pid
    m = e.loaded
    assert m is not None and m.n_ctx_train == 8192  # /v1/models meta
    assert e.setup.sampling.temperature is not None and e.setup.sampling.top_k is not None  # /props defaults
    assert not e.missing  # the process filled in what the API leaves out


def test_the_scan_finds_it_beside_a_fake_ollama(server: Server) -> None:
    """The person's scan as it runs for them (the default ports too, 2 s in all, 1 s a request): the real
    llama-server and an Ollama (its recorded answers, in a process of its own as the real one is) found in time."""
    with fake_engine_process("ollama") as ollama_port:
        start = time.monotonic()
        result = scan(ports=[server.port, ollama_port])
        took = time.monotonic() - start
    by_port = {int(e.url.rsplit(":", 1)[1]): e.key for e in result.found}
    assert (by_port.get(server.port), by_port.get(ollama_port)) == ("llama-server", "ollama"), result.problems
    assert took <= SCAN_SECONDS + 0.1, took


def _cli(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def test_diagnose_from_the_engine_ranks_kv_cache_first(server: Server) -> None:
    d = _cli("diagnose", "--from-engine", server.spec, "--json")
    per_slot = _props(server)["default_generation_settings"]["n_ctx"]
    assert d["findings"][0]["id"] == "kv-cache"
    # a 4-bit cache at the 8,192 tokens each of this llama-server's two slots gets (16,384 / 2): a warning;
    # at 16,384 tokens the same check says critical, at 4,096 info -- one run, one outcome
    assert (per_slot, d["findings"][0]["severity"]) == (8192, "warning"), d["findings"][0]
    s = d["setup"]
    assert (s["ctx"], s["cache_type_k"], s["cache_type_v"], s["flash_attn"]) == (per_slot, "q4_0", "q4_0", True)
    assert Path(s["model_path"]) == server.model
    assert d["engine"]["engine"]["engine"] == "llama-server"


def test_diagnose_from_its_log_gives_the_same_settings_and_the_buffers(server: Server) -> None:
    reading = read_log(server.log)
    assert reading.engine == "llama-server"
    assert reading.n_ctx == CTX and (reading.cache_type_k, reading.cache_type_v) == ("q4_0", "q4_0")
    assert {b.component for b in reading.buffers} >= {"weights", "kv", "compute"}
    assert reading.offloaded is None  # a CPU-only build prints no "offloaded X/Y layers" line
    log_copy = server.log.with_name("copy.log")
    shutil.copy(server.log, log_copy)
    d = _cli("diagnose", "--from-log", str(log_copy), "--json")
    live = _cli("diagnose", "--from-engine", server.spec, "--json")
    for key in ("ctx", "cache_type_k", "cache_type_v", "flash_attn", "model_path"):
        assert d["setup"][key] == live["setup"][key], key
    assert d["findings"][0]["id"] == "kv-cache"
    table = d["engine"]["estimate_vs_log"]
    rows = {(r["device"], r["component"]): r for r in table["rows"]}
    # every part within 5%: the compute buffer too, since the estimate reserves what llama-server reserves
    # (logits for n_outputs_max = one row per slot, read from the log, not for a whole batch as the library does)
    assert reading.n_outputs_max is not None
    for part in ("weights", "kv", "compute"):
        assert abs(rows[("host", part)]["difference"]) <= 0.05, table["rows"]
    compute = rows[("host", "compute")]
    logged = sum(b["mib"] for b in d["engine"]["log"]["buffers"] if b["component"] in ("compute", "output"))
    assert compute["logged_bytes"] == pytest.approx(logged * 1024**2, rel=1e-6)
    assert "trust the log" not in table["verdict"]


def test_the_window_connects_to_it_beside_a_fake_ollama(server: Server, qtbot: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    from gui.main_window import MainWindow

    w = MainWindow(QSettings(str(tmp_path / "qd.ini"), QSettings.Format.IniFormat), detect_hardware=False)
    qtbot.addWidget(w)
    w.show()
    panel = w.setup_page.engine_panel
    with fake_engine(routes_for("ollama")) as (ollama_port, _):
        panel.extra_ports = [server.port, ollama_port]
        panel.scan_seconds, panel.probe_seconds = 20, 10  # a busy test machine: finding, not speed, is tested here
        with qtbot.waitSignal(w.state.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
            panel.connect_button.click()
    texts = [panel.found.item(i).text() for i in range(panel.found.count())]
    assert any(t.startswith("Ollama at") for t in texts), texts
    row = next(i for i, t in enumerate(texts) if t.startswith(f"llama-server at {server.url}"))
    with qtbot.waitSignal(w.state.diagnosis_changed, timeout=60_000):
        panel.found.itemClicked.emit(panel.found.item(row))
    assert w.current_page() == "diagnosis"
    assert Path(w.state.profile.path) == server.model  # type: ignore[union-attr]
    assert (w.state.setup.run.cache_type_k, w.state.setup.run.cache_type_v) == ("q4_0", "q4_0")
    assert w.state.diagnosis is not None and w.state.diagnosis.findings[0].id == "kv-cache"


def test_its_secrets_reach_no_output(demo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real llama-server with an HF token on its command line and credentials in its environment (issue 24):
    its command line is read for the settings, and no secret reaches the JSON, the report or a copy field; the
    fix is the person's command without the secret flag, and it says so. (--api-key is left to
    tests/test_redact.py: with it this llama-server answers no API request without the key.)"""
    token, password = "hf_zqtok9e8d7c6b", "zqpw4a3b2c1d"
    monkeypatch.setenv("OLLAMA_HOST", f"http://me:{password}@127.0.0.1:11434")  # inherited by the server
    port = _free_port(8093)
    cmd = [str(BINARY), "-m", str(demo.reference), "--host", "127.0.0.1", "--port", str(port), "-c", "16384",
           "-ctk", "q4_0", "-ctv", "q4_0", "-fa", "on", "-t", "2", "--no-webui", "--hf-token", token]  # fmt: skip
    report = tmp_path / "r.html"
    with real_server(cmd, tmp_path / "server.log", f"http://127.0.0.1:{port}/health", "llama-server"):
        d = _cli("diagnose", str(demo.reference), "--from-engine", f"llama-server:http://127.0.0.1:{port}", "--json",
                 "--report", str(report))  # fmt: skip
    everything = json.dumps(d) + report.read_text(encoding="utf-8")
    assert token not in everything and password not in everything
    assert (d["setup"]["cache_type_k"], d["setup"]["cache_type_v"]) == ("q4_0", "q4_0")  # its command line was read
    assert d["engine"]["engine"]["process"]["env"]["OLLAMA_HOST"] == "http://(hidden)@127.0.0.1:11434"
    steps = [s for f in d["findings"] for s in f["fix"] if (s["command"] or "").startswith(str(BINARY))]
    assert steps, [s for f in d["findings"] for s in f["fix"]]
    for s in steps:
        argv = shlex.split(s["command"])
        assert "--hf-token" not in argv and "(hidden)" not in s["command"] and "-ctk" in argv
        assert "a secret Quant Doctor never copies or shows: --hf-token." in s["text"]
