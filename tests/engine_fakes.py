"""Fake engines on 127.0.0.1 that replay recorded-shape answers (tests/fixtures/engines/*/SOURCES.md).

Only what cannot run here is faked: Ollama, LM Studio, koboldcpp, text-generation-webui, TabbyAPI
and vLLM. Each route answers the fixture file its engine's source or documentation defines; any
other path answers 404 like the real servers' routers do. Misbehaving servers (garbage, HTML, a
3 GB body, a slow trickle, a closed connection) are here too.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

FIXTURES = Path(__file__).parent / "fixtures" / "engines"

Route = bytes | tuple[int, bytes] | Callable[[BaseHTTPRequestHandler], None]


def fixture(engine: str, name: str) -> bytes:
    return (FIXTURES / engine / name).read_bytes()


def routes_for(engine: str) -> dict[str, Route]:
    f = lambda name: fixture(engine, name)  # noqa: E731
    if engine == "ollama":
        return {"GET /api/version": f("api_version.json"), "GET /api/tags": f("api_tags.json"),
                "GET /api/ps": f("api_ps.json"), "POST /api/show": f("api_show.json"),
                "GET /": b"Ollama is running"}  # fmt: skip
    if engine == "lmstudio":
        return {"GET /api/v0/models": f("api_v0_models.json"), "GET /api/v1/models": f("api_v1_models.json"),
                "GET /v1/models": f("v1_models.json")}  # fmt: skip
    if engine == "koboldcpp":
        return {"GET /api/extra/version": f("api_extra_version.json"), "GET /api/v1/model": f("api_v1_model.json"),
                "GET /api/extra/true_max_context_length": f("api_extra_true_max_context_length.json"),
                "GET /api/v1/config/max_context_length": f("api_v1_config_max_context_length.json"),
                "GET /v1/models": f("v1_models.json")}  # fmt: skip
    if engine == "textgen-webui":
        return {"GET /v1/internal/model/info": f("v1_internal_model_info.json"), "GET /v1/models": f("v1_models.json"),
                "GET /v1/internal/health": f("v1_internal_health.json")}  # fmt: skip
    if engine == "tabbyapi":
        return {"GET /.well-known/serviceinfo": f("well-known_serviceinfo.json"), "GET /v1/model": f("v1_model.json"),
                "GET /v1/models": f("v1_models.json"), "GET /props": f("props.json"), "GET /health": f("health.json"),
                "GET /api/extra/version": f("api_extra_version.kobold-impersonation.json"),
                "GET /api/v1/model": f("api_v1_model.kobold.json")}  # fmt: skip
    if engine == "vllm":
        return {"GET /v1/models": f("v1_models.json"), "GET /version": f("version.json"), "GET /health": b""}
    if engine == "llama-server":
        return {"GET /props": f("props.json"), "GET /v1/models": f("v1_models.json"), "GET /slots": f("slots.json"),
                "GET /health": f("health.json")}  # fmt: skip
    raise KeyError(engine)


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Route]] = {}
    seen: ClassVar[list[str]] = []

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(f"{method} {self.path} {body.decode('utf-8', 'replace')}".strip())
        route = self.routes.get(f"{method} {self.path}")
        if route is None:
            route = (404, b'{"error": "not found"}')
        if callable(route):
            route(self)
            return
        status, data = route if isinstance(route, tuple) else (200, route)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up at its deadline: what a real server sees too
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_HEAD(self) -> None:
        self._serve("HEAD")


class _Server(ThreadingHTTPServer):
    # The engines' own listen backlogs are large: Go's net.Listen takes the system's somaxconn (Ollama),
    # uvicorn 2048 (vLLM, TabbyAPI, text-generation-webui), Node 511 (LM Studio). Python's socketserver
    # default of 5 drops the scan's parallel connections on a busy machine, which no real engine does.
    request_queue_size = 128


@contextmanager
def fake_engine(routes: dict[str, Route], port: int = 0) -> Iterator[tuple[int, list[str]]]:
    """A server on 127.0.0.1 answering `routes`; yields (port, the requests it saw)."""
    seen: list[str] = []
    handler = type("H", (_Handler,), {"routes": routes, "seen": seen})
    server = _Server(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


# --- misbehaving answers -------------------------------------------------------------------------------


def huge_body(handler: BaseHTTPRequestHandler) -> None:
    """Claims 3 GB and streams zeros until the client hangs up."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(3 * 1024**3))
    handler.end_headers()
    block = b"[" + b"0," * 32767
    try:
        for _ in range(3 * 1024**3 // len(block)):
            handler.wfile.write(block)
    except OSError:
        pass


def trickle(handler: BaseHTTPRequestHandler) -> None:
    """Answers one byte every 0.3 s: each read is quick, the whole answer takes minutes."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    try:
        for _ in range(1000):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.3)
    except OSError:
        pass


def hang(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(5)


def close(handler: BaseHTTPRequestHandler) -> None:
    handler.connection.shutdown(socket.SHUT_RDWR)


def bad_routes(kind: str) -> dict[str, Route]:
    every = ("/.well-known/serviceinfo", "/api/version", "/api/tags", "/props", "/api/extra/version", "/api/v1/model",
             "/api/v0/models", "/api/v1/models", "/v1/internal/model/info", "/v1/models", "/version", "/api/ps")  # fmt: skip
    answer: Route = {
        "garbage": b"\x00\xff{{not json at all",
        "html": b"<!doctype html><html><body>Router login</body></html>",
        "huge": huge_body,
        "slow": trickle,
        "hang": hang,
        "closed": close,
    }[kind]
    return {f"GET {p}": answer for p in every}


def json_bytes(data: Any) -> bytes:
    return json.dumps(data).encode()


@contextmanager
def fake_engine_process(kind: str) -> Iterator[int]:
    """A server in its own process, as every real engine is (a 3 GB body streamed from here would starve
    the test's threads): `kind` is a misbehaviour of `bad_routes` or an engine of `routes_for`."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, __file__, kind], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    import sys

    try:
        served = routes_for(sys.argv[1])
    except KeyError:
        served = bad_routes(sys.argv[1])
    with fake_engine(served) as (served_port, _):
        print(served_port, flush=True)
        while True:
            time.sleep(60)


@contextmanager
def real_server(cmd: list[str], log: Path, ready_url: str, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real engine started from `cmd`, its output in `log` (a file, not a pipe: a full pipe would stop it
    mid-start), yielded once `ready_url` answers 200; stopped afterwards, killed if it lingers."""
    import pytest

    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"{name} stopped:\n" + log.read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(ready_url, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"{name} did not come up:\n" + log.read_text(errors="replace")[-3000:])
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
