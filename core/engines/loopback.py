"""Ask an engine on this machine a question, safely: loopback only, read-only, short, capped.

The person's own app is running their model; Quant Doctor must never disturb it nor reach beyond
the machine. So every request here goes through the one HTTP door (core.net) with `loopback_only`:
127.0.0.1 or ::1 only (any other address is refused before a socket is opened, and no proxy is
used), GET — or POST only to the read-only endpoints in `READ_ONLY_POSTS` (Ollama's /api/show) —,
one deadline for the whole answer (a server that trickles bytes, headers included, cannot hold it),
at most `MAX_BODY` bytes of an answer (decoded), redirects only within the same address. Every
failure is an `Answer` with a plain `error`, never an exception.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from core import jsonfile, net, redact, textnum
from core.errors import (
    EngineNotFoundError,
    NetAddressError,
    NetAnswerError,
    NetRedirectError,
    NetRefusedError,
    NetTimeoutError,
    NetTooLargeError,
    NetUnreachableError,
    QuantDoctorError,
)

PROBE_TIMEOUT_S = 1.0
MAX_BODY = 4 * 1024 * 1024  # the largest honest answer (Ollama's /api/show with tensors) is well under this
READ_ONLY_POSTS = frozenset({"/api/show"})
LOOPBACK_HOSTS = ("127.0.0.1", "::1")


def loopback_host(host: str) -> str:
    """The loopback address for a host name, or a plain error: nothing off this machine is contacted."""
    try:
        return net.loopback_host(host)
    except NetAddressError as exc:
        raise EngineNotFoundError(
            f"Quant Doctor only connects to engines on this machine, not to '{host}'.",
            "Give an address on this machine, e.g. http://127.0.0.1:8080, or import the engine's log instead.",
        ) from exc


def parse_url(url: str, default_port: int) -> tuple[str, int]:
    """(loopback host, port) from 'http://127.0.0.1:8081', '127.0.0.1:8081', ':8081' or '8081'."""
    text = url.strip()
    if text.isdigit() or textnum.is_number(text):  # a bare port: '8081' (and '٨٠٨١' or '99999' are refused plainly)
        port = textnum.whole(text, textnum.PORT, "The port", EngineNotFoundError, "Give it as http://127.0.0.1:PORT.")
        return "127.0.0.1", port
    if "://" not in text:
        text = "http://" + (text if not text.startswith(":") else "127.0.0.1" + text)
    parts = net.split_url(text)
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

    def _request(self, method: str, path: str, body: bytes | None) -> Answer:
        left = min(self.deadline - time.monotonic(), self.timeout)
        if left <= 0:
            return Answer(path, error="no time left to ask")
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:  # the one door: loopback only, same-origin redirects, capped, one deadline for the whole answer
            reply = net.request(method, self.url + path, headers=headers, content=body, loopback_only=True,
                                max_bytes=MAX_BODY, timeout=left, deadline=left, max_redirects=3)  # fmt: skip
        except NetTooLargeError:
            return Answer(path, error=f"the answer is larger than {MAX_BODY // (1024 * 1024)} MiB")
        except NetAnswerError:
            return Answer(path, error="the answer could not be read")
        except NetTimeoutError:
            return Answer(path, error="no answer in time")
        except NetRedirectError:
            return Answer(path, error="it redirected to another address")
        except NetRefusedError:
            return Answer(path, error="nothing is listening")
        except NetUnreachableError as exc:
            cause = exc.__cause__
            return Answer(path, error=f"the connection failed ({type(cause).__name__ if cause else 'closed'})")
        return Answer(path, reply.status, reply.body, content_type=reply.headers.get("Content-Type") or "")


def port_open(host: str, port: int, timeout: float) -> bool:
    """A quick TCP connect: most default ports are closed, and a refused connect costs nothing."""
    try:
        with socket.create_connection((loopback_host(host), port), timeout=max(0.01, timeout)):
            return True
    except OSError:
        return False
