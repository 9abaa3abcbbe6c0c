"""Ask an engine on this machine a question, safely: loopback only, read-only, short, capped.

The person's own app is running their model; Quant Doctor must never disturb it nor reach beyond
the machine. So every request here goes to 127.0.0.1 or ::1 only (any other address is refused
before a socket is opened), uses GET — or POST only to the read-only endpoints in `READ_ONLY_POSTS`
(Ollama's /api/show) —, gives up at a deadline (the socket timeout is reset to the time left before
every read, so a server that trickles bytes cannot hold it), and reads at most `MAX_BODY` bytes
of an answer. Every failure is an `Answer` with a plain `error`, never an exception.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core import jsonfile, redact
from core.errors import EngineNotFoundError, QuantDoctorError

PROBE_TIMEOUT_S = 1.0
MAX_BODY = 4 * 1024 * 1024  # the largest honest answer (Ollama's /api/show with tensors) is well under this
READ_ONLY_POSTS = frozenset({"/api/show"})
LOOPBACK_HOSTS = ("127.0.0.1", "::1")


def loopback_host(host: str) -> str:
    """The loopback address for a host name, or a plain error: nothing off this machine is contacted."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        ip = None
    if ip is None or not ip.is_loopback:
        raise EngineNotFoundError(
            f"Quant Doctor only connects to engines on this machine, not to '{host}'.",
            "Give an address on this machine, e.g. http://127.0.0.1:8080, or import the engine's log instead.",
        )
    return "::1" if ip.version == 6 else "127.0.0.1"


def parse_url(url: str, default_port: int) -> tuple[str, int]:
    """(loopback host, port) from 'http://127.0.0.1:8081', '127.0.0.1:8081', ':8081' or '8081'."""
    text = url.strip()
    if text.isdigit():
        return "127.0.0.1", int(text)
    if "://" not in text:
        text = "http://" + (text if not text.startswith(":") else "127.0.0.1" + text)
    parts = urlsplit(text)
    if parts.scheme not in ("http", ""):
        raise EngineNotFoundError(f"'{redact.value(url)}' is not an http:// address.", "Give it as http://127.0.0.1:PORT.")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise EngineNotFoundError(f"'{redact.value(url)}' has no valid port.", "Give it as http://127.0.0.1:PORT.") from exc
    return loopback_host(parts.hostname or "127.0.0.1"), port


@dataclass
class Answer:
    path: str
    status: int | None = None
    body: bytes = b""
    error: str | None = None
    content_type: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200

    def json(self) -> Any:
        """The JSON body, or None for anything else (HTML, garbage, an error page)."""
        if not self.ok or not self.body:
            return None
        try:  # the one bounded loader: deep nesting, NaN or a huge number is "not JSON", not a crash
            return jsonfile.loads(self.body, self.path, expect=None, duplicates=True)
        except QuantDoctorError:
            return None

    def json_dict(self) -> dict[str, Any]:
        data = self.json()
        return data if isinstance(data, dict) else {}

    def describe(self) -> str:
        if self.error:
            return f"{self.path}: {self.error}"
        if self.status != 200:
            return f"{self.path}: HTTP {self.status}"
        if self.json() is None:
            kind = "an HTML page" if self.body.lstrip()[:1] == b"<" else "something that is not JSON"
            return f"{self.path}: answered {kind}"
        return f"{self.path}: ok"


class Loopback:
    """Requests to one engine on this machine, all sharing one deadline."""

    def __init__(self, host: str, port: int, deadline: float | None = None, timeout: float = PROBE_TIMEOUT_S) -> None:
        self.host = loopback_host(host)
        self.port = port
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else time.monotonic() + 10 * timeout

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def get(self, path: str) -> Answer:
        return self._request("GET", path, None)

    def post_json(self, path: str, payload: dict[str, Any]) -> Answer:
        if path not in READ_ONLY_POSTS:
            raise ValueError(f"{path} is not a read-only endpoint")  # a programming error, never the person's
        return self._request("POST", path, json.dumps(payload).encode())

    def _left(self, end: float) -> float:
        return end - time.monotonic()

    def _request(self, method: str, path: str, body: bytes | None) -> Answer:
        end = min(self.deadline, time.monotonic() + self.timeout)
        if self._left(end) <= 0:
            return Answer(path, error="no time left to ask")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self._left(end))
        aborted = threading.Event()
        watchdog = threading.Timer(
            self._left(end), _abort, (conn, aborted)
        )  # a trickled header cannot outlive the deadline
        watchdog.daemon = True
        watchdog.start()
        try:
            headers = {"Accept": "application/json", "Connection": "close"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            self._set_timeout(conn, end)
            resp = conn.getresponse()
            data = bytearray()
            while len(data) <= MAX_BODY:
                self._set_timeout(conn, end)
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    break
                data += chunk
            if len(data) > MAX_BODY:
                return Answer(path, resp.status, error=f"the answer is larger than {MAX_BODY // (1024 * 1024)} MiB")
            return Answer(path, resp.status, bytes(data), content_type=resp.getheader("Content-Type") or "")
        except ConnectionRefusedError:
            return Answer(path, error="nothing is listening")
        except TimeoutError:
            return Answer(path, error="no answer in time")
        except (http.client.HTTPException, OSError) as exc:
            if aborted.is_set():  # our own deadline closed it, however the socket then reported that
                return Answer(path, error="no answer in time")
            return Answer(path, error=f"the connection failed ({type(exc).__name__})")
        finally:
            watchdog.cancel()
            conn.close()

    def _set_timeout(self, conn: http.client.HTTPConnection, end: float) -> None:
        left = self._left(end)
        if left <= 0:
            raise TimeoutError
        if conn.sock is not None:
            conn.sock.settimeout(left)


def _abort(conn: http.client.HTTPConnection, aborted: threading.Event) -> None:
    aborted.set()
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def port_open(host: str, port: int, timeout: float) -> bool:
    """A quick TCP connect: most default ports are closed, and a refused connect costs nothing."""
    try:
        with socket.create_connection((loopback_host(host), port), timeout=max(0.01, timeout)):
            return True
    except OSError:
        return False
