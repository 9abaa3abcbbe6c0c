"""Hostile HTTP answers for the door's tests (tests/test_net.py, tests/test_hub_hostile.py): a real server on
127.0.0.1 whose routes are functions, and a gzip bomb built the way real ones are.

The bomb: deflate blocks that each inflate 1 MiB of zeros, every block ended with a full flush so
that it is byte-for-byte the same as the one before (zlib's Z_FULL_FLUSH resets the dictionary;
RFC 1951 section 3.2.3, blocks are independent after it), repeated, and wrapped in a gzip member
with its real CRC-32 and size (RFC 1952 section 2.3). 2,900 blocks give the issue's bomb: about
3 MB on the wire, 2.9 GB decoded.
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MIB = 1 << 20
Route = Callable[[BaseHTTPRequestHandler], None]


def gzip_bomb(mib: int = 2900) -> bytes:
    """A valid gzip member that inflates to `mib` MiB of zeros."""
    zeros = bytes(MIB)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH) == block  # independent blocks: the same bytes
    end = c.flush()
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * mib + end + struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)


def send(status: int, body: bytes = b"", **headers: str) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k.replace("_", "-"), v)
        if "Content_Length" not in headers:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            with contextlib.suppress(OSError):
                h.wfile.write(body)

    return route


def endless(h: BaseHTTPRequestHandler) -> None:
    """200, chunked, never ends (until the client hangs up)."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    block = b"[" + b"0," * 32767
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    with contextlib.suppress(OSError):
        while True:
            h.wfile.write(chunk)


def trickled_headers(h: BaseHTTPRequestHandler) -> None:
    """A status line, then one header byte every 0.1 s: every read is quick, the headers never end."""
    with contextlib.suppress(OSError):
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(600):
            h.wfile.write(b"X")
            h.wfile.flush()
            time.sleep(0.1)


def trickled_body(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "100000")
    h.end_headers()
    with contextlib.suppress(OSError):
        for _ in range(100000):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.1)


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 answering `routes` by path ("GET /x" or "/x"); yields (its URL, requests seen)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _any(self) -> None:
            seen.append(f"{self.command} {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            route = routes.get(f"{self.command} {self.path}") or routes.get(self.path.split("?")[0])
            (route or send(404, b"no such route"))(self)

        do_GET = do_POST = do_HEAD = _any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]  # hung-up clients
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
