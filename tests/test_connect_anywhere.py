"""Connect to an app on any port: found from the person's own processes' listening sockets (psutil),
typed into the Setup page's address field, still loopback only.

The engines here are real processes: a real llama-cpp-python server (`python -m llama_cpp.server`,
the demo model) and the recorded-shape fakes of tests/engine_fakes.py, each in its own process like
every real engine, on ports the kernel picks (never a default one). Only the macOS refusal is faked,
at psutil's seam: psutil documents that `net_connections()` needs root on macOS and AIX and raises
AccessDenied there, while a process's own `Process.net_connections()` still answers for the user's
own processes (psutil's documentation of net_connections / Process.net_connections).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from engine_fakes import fake_engine, fake_engine_process, real_server, routes_for

from core.engines import process as engine_proc
from core.engines.live import default_ports, parse_address, program_words, scan
from core.engines.process import DENIED_NOTE, engine_listeners, looks_like
from core.errors import EngineNotFoundError

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_engine_on_a_port_of_its_own_is_found_by_its_listening_socket() -> None:
    with fake_engine_process("ollama") as port:
        assert port not in default_ports()
        seen = engine_listeners(program_words())
        mine = [li for li in seen.listeners if li.port == port]
        assert mine and mine[0].host == "127.0.0.1" and not seen.denied, seen
        assert psutil.Process(mine[0].pid).parent().pid == os.getpid()  # the fake this test started
        result = scan(seconds=10, probe_seconds=5)  # the person's scan: no port given
    assert port in result.ports
    found = [e for e in result.found if e.url == f"http://127.0.0.1:{port}"]
    assert [e.key for e in found] == ["ollama"], (result.problems, result.notes)
    assert found[0].loaded is not None and found[0].loaded.name == "llama3.2:3b"


def test_this_process_own_listening_socket_is_read_through_psutil() -> None:
    """The same reading, on a server this test process itself listens with (its name taken as the word)."""
    me = psutil.Process()
    with fake_engine(routes_for("llama-server")) as (port, _):
        seen = engine_listeners([me.name()])
        assert [li.pid for li in seen.listeners if li.port == port] == [me.pid]
        assert port not in {li.port for li in engine_listeners(["no-such-engine-program"]).listeners}
        assert port not in {li.port for li in engine_listeners([me.name()], skip_ports=[port]).listeners}


def test_other_programs_are_not_taken_for_engines() -> None:
    words = program_words()
    assert looks_like("ollama", ["/usr/local/bin/ollama", "serve"], words)
    assert looks_like("python3", ["python3", "-m", "llama_cpp.server", "--port", "8091"], words)
    assert looks_like("python", ["python", "/home/me/text-generation-webui/server.py"], words)
    assert looks_like("llama-server", [], words)
    assert not looks_like("python3", ["python3", "-m", "http.server", "8091"], words)
    assert not looks_like("postgres", ["postgres", "-D", "/var/lib/postgres"], words)


@pytest.mark.parametrize(
    ("ip", "host"),
    [("127.0.0.1", "127.0.0.1"), ("127.0.0.53", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("::", "::1"),
     ("::1", "::1"), ("192.168.1.20", None), ("10.0.0.5", None), ("fe80::1%eth0", None)],
)  # fmt: skip
def test_only_sockets_reachable_on_loopback_are_asked(ip: str, host: str | None) -> None:
    assert engine_proc._probe_host(ip) == host


def test_when_the_system_hides_the_sockets_the_default_ports_are_tried_with_a_note(monkeypatch) -> None:
    def denied(*_a: Any, **_k: Any) -> Any:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", denied)
    monkeypatch.setattr(psutil.Process, "net_connections", denied)
    seen = engine_listeners(program_words())
    assert seen.denied and seen.listeners == [] and seen.notes == [DENIED_NOTE]
    with fake_engine_process("llama-server") as port:
        result = scan(seconds=3)
        assert result.notes == [DENIED_NOTE]
        assert set(default_ports()) <= set(result.ports) and port not in result.ports
        typed = scan(seconds=10, probe_seconds=5, addresses=[parse_address(f"http://localhost:{port}")])
    assert any(e.url == f"http://127.0.0.1:{port}" and e.key == "llama-server" for e in typed.found), typed.problems


def test_macos_style_refusal_still_reads_the_person_own_processes(monkeypatch) -> None:
    """The system-wide table refused, as on macOS without root: each own process is asked instead."""

    def denied(*_a: Any, **_k: Any) -> Any:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", denied)
    with fake_engine_process("koboldcpp") as port:
        seen = engine_listeners(program_words())
    assert not seen.denied and port in {li.port for li in seen.listeners}


@pytest.mark.parametrize(
    ("typed", "where"),
    [("8091", ("127.0.0.1", 8091)), ("127.0.0.1:8091", ("127.0.0.1", 8091)),
     ("http://localhost:8091", ("127.0.0.1", 8091)), ("  http://127.0.0.1:8091/  ", ("127.0.0.1", 8091)),
     ("[::1]:8091", ("::1", 8091)), (":8091", ("127.0.0.1", 8091))],
)  # fmt: skip
def test_the_address_forms_a_person_types(typed: str, where: tuple[str, int]) -> None:
    assert parse_address(typed) == where


@pytest.mark.parametrize("typed", ["192.168.1.20:8091", "http://10.0.0.5:8080", "example.com:80", "", "localhost"])
def test_addresses_off_this_machine_or_without_a_port_are_refused(typed: str) -> None:
    with pytest.raises(EngineNotFoundError) as err:
        parse_address(typed)
    assert "\n" not in err.value.message and err.value.fix


def test_the_cli_finds_it_without_a_port_and_refuses_a_lan_address() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with fake_engine_process("vllm") as port:
        out = subprocess.run([sys.executable, "-m", "core", "engines", "--json", "--seconds", "10"],
                             capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert port in data["ports"]
    assert any(e["url"] == f"http://127.0.0.1:{port}" and e["engine"] == "vllm" for e in data["engines"]), data
    bad = subprocess.run([sys.executable, "-m", "core", "engines", "--address", "192.168.1.20:8091"],
                         capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)  # fmt: skip
    assert bad.returncode != 0
    assert "only connects to engines on this machine" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


@contextlib.contextmanager
def _llama_cpp_python_server(model: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--verbose", "False"]  # fmt: skip
    with real_server(cmd, log, f"http://127.0.0.1:{port}/v1/models", "llama_cpp.server") as proc:
        yield proc


def test_a_real_llama_cpp_python_server_on_another_port_is_found(demo: Any, tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")  # llama-cpp-python's [server] extra
    port = _free_port()
    with _llama_cpp_python_server(demo.reference, port, tmp_path / "server.log") as proc:
        seen = engine_listeners(program_words())
        assert [li.pid for li in seen.listeners if li.port == port] == [proc.pid]
        result = scan(seconds=20, probe_seconds=10)
    found = [e for e in result.found if e.url == f"http://127.0.0.1:{port}"]
    assert [e.key for e in found] == ["llama-cpp-python"], (result.problems, result.notes)
    assert found[0].process is not None and found[0].process.pid == proc.pid
    assert any("llama_cpp.server" in part for part in found[0].process.cmdline)


# --- the Setup page's address field, driven through qtbot ------------------------------------------


@pytest.fixture
def window(qtbot: Any, tmp_path: Path) -> Any:
    from windowkit import make_window

    return make_window(qtbot, tmp_path)


def _idle(qtbot: Any, window: Any, action: Any) -> None:
    with qtbot.waitSignal(window.state.busy_changed, timeout=30_000, check_params_cb=lambda busy: not busy):
        action()


def test_the_address_field_appears_when_nothing_answered_and_finds_the_app_there(qtbot: Any, window: Any) -> None:
    from PySide6.QtCore import Qt

    panel = window.setup_page.engine_panel
    window.show_page("setup")
    assert not panel.address_row.isVisible()
    panel.everywhere = False  # only where this test says: other apps may run on this machine's usual ports
    panel.extra_ports = [_free_port()]  # nothing listens there
    _idle(qtbot, window, panel.connect_button.click)
    assert panel.status.text().startswith("No app answered on this computer (looked at ports ")
    assert panel.address_row.isVisible() and panel.found.isHidden()
    panel.extra_ports = []
    with fake_engine_process("llama-server") as port:
        qtbot.keyClicks(panel.address, f"http://localhost:{port}")
        _idle(qtbot, window, lambda: qtbot.keyClick(panel.address, Qt.Key.Key_Return))
        texts = [panel.found.item(i).text() for i in range(panel.found.count())]
    assert len(texts) == 1 and texts[0].startswith(f"llama-server at http://127.0.0.1:{port}: "), texts
    assert panel.status.text().startswith("Click your app")


def test_a_lan_address_is_refused_before_anything_is_contacted(qtbot: Any, window: Any) -> None:
    panel = window.setup_page.engine_panel
    window.show_page("setup")
    panel.address_button.click()
    assert panel.address_row.isVisible()  # reachable at any time, not only after a failed scan
    runs: list[Any] = []
    window.state.busy_changed.connect(runs.append)
    panel.address.setText("192.168.1.20:8091")
    panel.look_button.click()
    assert "only connects to engines on this machine, not to '192.168.1.20'" in panel.status.text()
    assert runs == [] and not window.state.busy  # no scan was started
    panel.address.setText("")
    panel.look_button.click()
    assert panel.status.text().startswith("Type the address your app listens on.")


def test_an_engine_named_without_its_address_is_found_on_its_own_port() -> None:
    """`--from-engine ollama` when Ollama was started on another port (OLLAMA_HOST=127.0.0.1:PORT)."""
    from core.engines.live import connect

    with fake_engine_process("ollama") as port:
        found = connect("ollama", seconds=10)
    assert found.url == f"http://127.0.0.1:{port}" and found.key == "ollama"
