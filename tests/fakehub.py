"""A small model Hub on 127.0.0.1 for tests: the part of the Hub API that core.hub and the real
`huggingface_hub` client use, with faults on demand.

Two servers: the Hub itself (API, `resolve` URLs) and a separate "CDN" on another port that LFS
files redirect to, as on the real Hub, so tests can check that the token goes to the Hub and never
to the file host. Every request is recorded (server, method, path, query, headers).

Endpoints:
  GET  /api/models?filter=&search=&limit=&expand=   listing; filters match tags (model tree tags
                                                     "base_model:quantized:ORG/NAME" included)
  GET  /api/models/ORG/NAME[/revision/REV][?blobs=true]   model info: cardData, tags, gated,
                                                     siblings (sizes, blobId, lfs sha256 with blobs)
  GET  /api/models/ORG/NAME/tree/REV                 file tree with LFS sizes and sha256
  POST /api/models/ORG/NAME/paths-info/REV           the same for some paths
  HEAD/GET /ORG/NAME/resolve/REV/PATH                X-Repo-Commit, ETag, X-Linked-Etag, X-Linked-Size;
                                                     LFS files: 302 to the CDN; others: the bytes
  HEAD/GET (CDN) /blobs/SHA256                       the bytes, with Range (206) support
Errors: 401/403 GatedRepo for gated files (without / with a token that was not granted access),
404 RepoNotFound / RevisionNotFound / EntryNotFound, 429 with Retry-After.
Faults: `slow` (seconds before answering a path prefix), `rate_limited` (path prefixes), `cut_after`
(next CDN bodies stop after N bytes and the connection is dropped), `stall_after` (the body stops
for `stall_s`), `corrupt` (sha256s served with one byte flipped), `ignore_range`.
Hostile answers: `etag` / `commit` (sent instead of the real ETag / X-Repo-Commit, e.g. a path),
`trickle_after` (after N bytes, the CDN sends one byte every `trickle_s`), `html_api` (every API
answer is a captive portal's HTML page, with status 200), `etag_later` / `commit_later` (a harmless
ETag and commit on the first resolve request, these on every later one: a client that asks twice
acts on what it did not check), `api_answer` (every API answer as given: a redirect to another
origin, a gzip bomb, an endless body), `location` (where an LFS file's resolve answer sends the
client) and `cdn_redirect` (the CDN redirects to another origin).

Where each answer's shape comes from (huggingface_hub 2.4.0, the client installed with Quant Doctor, is the
one that reads them; file and class names in that package):
  listing and model info      hf_api.py: `list_models` (params filter/search/limit/expand), `model_info`
                              (`?blobs=true`), parsed by `ModelInfo` (cardData, tags, gated, siblings) and
                              `RepoSibling` / `BlobLfsInfo` (size, sha256, pointerSize)
  tree and paths-info         hf_api.py: `list_repo_tree` (`/api/{type}s/{id}/tree/{rev}`), `get_paths_info`
                              (POST `/paths-info/{rev}`), parsed by `RepoFile` (type, oid, size, lfs)
  resolve headers             constants.py: HUGGINGFACE_HEADER_X_REPO_COMMIT "X-Repo-Commit",
                              HUGGINGFACE_HEADER_X_LINKED_ETAG "X-Linked-Etag", HUGGINGFACE_HEADER_X_LINKED_SIZE
                              "X-Linked-Size"; file_download.py `get_hf_file_metadata` follows the LFS redirect
                              (the `Location` of a 302 to another host, the CDN) and reads ETag and size
  errors                      utils/_http.py `hf_raise_for_status`: the `X-Error-Code` header, "RepoNotFound",
                              "RevisionNotFound", "EntryNotFound", "GatedRepo" (401 without a token, 403 with one
                              not granted), and `_parse_retry_after` for a 429's `Retry-After`
  Range / 206                 RFC 9110 section 14; the resumable download sends `Range: bytes=N-`
The hostile answers (a path as ETag or commit, the portal's HTML with 200, a trickling CDN) are what the
product must refuse; they follow no source by design.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import gguf
from ggufmaker import llama_metadata, llama_tensors, write_gguf

from core.model.gguf_reader import read_gguf_header

Q = gguf.GGMLQuantizationType


@dataclass
class FakeFile:
    """A file in a repo: real bytes, or only a size (listing tests never download those)."""

    data: bytes | None = None
    size: int | None = None
    lfs: bool = True
    _sha: str | None = None

    def __post_init__(self) -> None:
        if self.data is not None:
            self.size = len(self.data)

    @property
    def sha256(self) -> str:
        if self._sha is None:
            self._sha = hashlib.sha256(self.data or str(self.size).encode()).hexdigest()
        return self._sha

    @property
    def git_oid(self) -> str:
        body = self.data if self.data is not None else b""
        return hashlib.sha1(f"blob {len(body)}\0".encode() + body).hexdigest()


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, FakeFile] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    gated: str | bool = False
    granted: set[str] = field(default_factory=set)  # tokens that accepted the license
    downloads: int = 0
    gguf: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    sha: str = ""

    def __post_init__(self) -> None:
        if not self.sha:
            self.sha = hashlib.sha1(self.repo_id.encode()).hexdigest()

    def all_tags(self) -> list[str]:
        tags = list(self.tags)
        bases = self.card.get("base_model") or []
        bases = [bases] if isinstance(bases, str) else bases
        relation = self.card.get("base_model_relation")
        if relation is None and bases and any(p.endswith(".gguf") for p in self.files):
            relation = "quantized"  # what the Hub infers for a GGUF repo naming its model
        for b in bases:
            tags.append(f"base_model:{b}")
            if relation:
                tags.append(f"base_model:{relation}:{b}")
        if any(p.endswith(".gguf") for p in self.files):
            tags.append("gguf")
        return tags


@dataclass
class Recorded:
    server: str  # "hub" or "cdn"
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[Recorded] = []
        self.slow: dict[str, float] = {}
        self.rate_limited: set[str] = set()
        self.cut_after: int | None = None
        self.cuts_left = 0
        self.stall_after: int | None = None
        self.stall_s = 0.0
        self.corrupt: set[str] = set()
        self.ignore_range = False
        self.etag: str | None = None
        self.commit: str | None = None
        self.trickle_after: int | None = None
        self.trickle_s = 0.5
        self.html_api = False
        self.etag_later: str | None = None  # sent from the second resolve request on (a client that asks twice)
        self.commit_later: str | None = None
        self.api_answer: tuple[int, dict[str, str], bytes | None] | None = None  # every API answer (None body: endless)
        self.location: str | None = None  # the Location of an LFS file's resolve answer, instead of the CDN's
        self.cdn_redirect: str | None = None  # the CDN answers 302 to this address
        self._resolves = 0
        self._lock = threading.Lock()
        self._hub = self._serve("hub")
        self._cdn = self._serve("cdn")
        self.url = f"http://127.0.0.1:{self._hub.server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{self._cdn.server_address[1]}"

    # --- setup -----------------------------------------------------------------------------------

    def add(self, repo_id: str, files: dict[str, FakeFile | bytes] | None = None, **kw: Any) -> FakeRepo:
        made = {k: v if isinstance(v, FakeFile) else FakeFile(v) for k, v in (files or {}).items()}
        repo = FakeRepo(repo_id, made, **kw)
        self.repos[repo_id.lower()] = repo
        return repo

    def close(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()

    def seen(self, server: str | None = None, method: str | None = None, prefix: str = "") -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (server is None or r.server == server)
                and (method is None or r.method == method)
                and r.path.startswith(prefix)
            ]

    # --- serving ---------------------------------------------------------------------------------

    def _serve(self, name: str) -> ThreadingHTTPServer:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                hub._handle(self, name, "GET")

            def do_HEAD(self) -> None:
                hub._handle(self, name, "HEAD")

            def do_POST(self) -> None:
                hub._handle(self, name, "POST")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]  # dropped on purpose
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return server

    def _handle(self, h: BaseHTTPRequestHandler, server: str, method: str) -> None:
        url = urlparse(h.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        body = b""
        if method == "POST":
            body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self._lock:
            self.requests.append(Recorded(server, method, path, query, {k.lower(): v for k, v in h.headers.items()}))
        try:
            for prefix, seconds in self.slow.items():
                if path.startswith(prefix):
                    time.sleep(seconds)
            if server == "hub" and any(path.startswith(p) for p in self.rate_limited):
                return self._send(h, method, 429, b"rate limited", {"Retry-After": "7"})
            if self.cdn_redirect is not None and server == "cdn":
                return self._send(h, method, 302, b"", {"Location": self.cdn_redirect})
            if server == "cdn":
                return self._cdn_file(h, method, path)
            if self.api_answer is not None and server == "hub" and path.startswith("/api/"):
                return self._raw(h, method, *self.api_answer)
            if self.html_api and server == "hub" and path.startswith("/api/"):
                page = b"<!DOCTYPE html><html><body>Sign in to the hotel Wi-Fi</body></html>"
                return self._send(h, method, 200, page, {"Content-Type": "text/html"})
            if path == "/api/models":
                return self._listing(h, method, query)
            if path.startswith("/api/models/"):
                return self._api_model(h, method, path[len("/api/models/") :], query, body)
            parts = path.strip("/").split("/")
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve(h, method, "/".join(parts[:2]), parts[3], "/".join(parts[4:]))
            return self._send(h, method, 404, b"no such route")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, h: BaseHTTPRequestHandler, method: str, status: int, body: bytes = b"",
              headers: dict[str, str] | None = None) -> None:  # fmt: skip
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(body)

    def _raw(self, h: BaseHTTPRequestHandler, method: str, status: int, headers: dict[str, str],
             body: bytes | None) -> None:  # fmt: skip
        """A hostile answer as given; a None body is an endless one (chunked, until the client hangs up)."""
        if body is not None:
            return self._send(h, method, status, body, headers)
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        block = b"[" + b"0," * 32767
        chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
        with contextlib.suppress(OSError):
            while True:
                h.wfile.write(chunk)

    def _json(self, h: BaseHTTPRequestHandler, method: str, data: Any, status: int = 200) -> None:
        self._send(h, method, status, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def _error(self, h: BaseHTTPRequestHandler, method: str, status: int, code: str, message: str,
               extra: dict[str, str] | None = None) -> None:  # fmt: skip
        headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
        self._send(h, method, status, json.dumps({"error": message}).encode(), {**headers, **(extra or {})})

    def _token(self, h: BaseHTTPRequestHandler) -> str | None:
        auth = h.headers.get("Authorization") or ""
        return auth[7:] if auth.startswith("Bearer ") else None

    # --- API -------------------------------------------------------------------------------------

    def _info(self, repo: FakeRepo, blobs: bool, expand: list[str] | None = None) -> dict[str, Any]:
        siblings = []
        for path, f in sorted(repo.files.items()):
            s: dict[str, Any] = {"rfilename": path}
            if blobs:
                s["size"] = f.size
                s["blobId"] = f.git_oid if not f.lfs else hashlib.sha1(f.sha256.encode()).hexdigest()
                if f.lfs:
                    s["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
            siblings.append(s)
        full: dict[str, Any] = {
            "_id": repo.sha[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": repo.sha,
            "private": False,
            "gated": repo.gated,
            "disabled": False,
            "downloads": repo.downloads,
            "likes": 0,
            "tags": repo.all_tags(),
            "library_name": "gguf" if any(p.endswith(".gguf") for p in repo.files) else "transformers",
            "cardData": repo.card,
            "siblings": siblings,
        }
        if repo.gguf is not None:
            full["gguf"] = repo.gguf
        if repo.config is not None:
            full["config"] = repo.config
        if expand:
            keep = {"id", "_id"} | set(expand)
            full = {k: v for k, v in full.items() if k in keep}
        return full

    def _listing(self, h: BaseHTTPRequestHandler, method: str, query: dict[str, list[str]]) -> None:
        filters = query.get("filter", [])
        search = (query.get("search") or [""])[0].lower()
        expand = query.get("expand")
        limit = int((query.get("limit") or ["1000"])[0])
        hits = [
            r for r in self.repos.values() if all(f in r.all_tags() for f in filters) and search in r.repo_id.lower()
        ]
        if (query.get("sort") or [""])[0] == "downloads":
            hits.sort(key=lambda r: -r.downloads)
        out = []
        for r in hits[:limit]:
            item = self._info(r, blobs=False, expand=expand)
            if not expand:
                item.pop("siblings", None)
                item.pop("cardData", None)
            out.append(item)
        self._json(h, method, out)

    def _api_model(self, h: BaseHTTPRequestHandler, method: str, rest: str, query: dict[str, list[str]],
                   body: bytes) -> None:  # fmt: skip
        parts = rest.split("/")
        repo = self.repos.get("/".join(parts[:2]).lower())
        if repo is None:
            return self._error(h, method, 404, "RepoNotFound", "Repository not found")
        tail = parts[2:]
        if tail and tail[0] == "revision":
            if tail[1] not in ("main", repo.sha):
                return self._error(h, method, 404, "RevisionNotFound", "Invalid rev id")
            tail = []
        if not tail:
            blobs = (query.get("blobs") or [""])[0].lower() == "true"
            return self._json(h, method, self._info(repo, blobs, query.get("expand")))
        if tail[0] == "tree":
            return self._json(h, method, [self._tree_entry(p, f) for p, f in sorted(repo.files.items())])
        if tail[0] == "paths-info":
            wanted = parse_qs(body.decode()).get("paths", [])
            return self._json(h, method, [self._tree_entry(p, repo.files[p]) for p in wanted if p in repo.files])
        return self._send(h, method, 404, b"no such route")

    def _tree_entry(self, path: str, f: FakeFile) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "path": path, "size": f.size, "oid": f.git_oid}
        if f.lfs:
            entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
        return entry

    def _resolve(self, h: BaseHTTPRequestHandler, method: str, repo_id: str, rev: str, path: str) -> None:
        repo = self.repos.get(repo_id.lower())
        if repo is None:
            return self._error(h, method, 404, "RepoNotFound", "Repository not found")
        if rev not in ("main", repo.sha):
            return self._error(h, method, 404, "RevisionNotFound", "Invalid rev id")
        with self._lock:
            self._resolves += 1
            later = self._resolves > 1
        commit = {"X-Repo-Commit": (self.commit_later if later and self.commit_later else self.commit or repo.sha)}
        etag = self.etag_later if later and self.etag_later else self.etag
        if repo.gated:
            token = self._token(h)
            if token is None:
                return self._error(h, method, 401, "GatedRepo", "Access to this model is restricted.", commit)
            if token not in repo.granted:
                return self._error(h, method, 403, "GatedRepo", "Access to this model is restricted.", commit)
        f = repo.files.get(path)
        if f is None:
            return self._error(h, method, 404, "EntryNotFound", "Entry not found", commit)
        if f.lfs:
            headers = {
                **commit,
                "ETag": f'"{etag or f.git_oid}"',
                "X-Linked-Etag": f'"{etag or f.sha256}"',
                "X-Linked-Size": str(f.size),
                "Location": self.location or f"{self.cdn_url}/blobs/{f.sha256}",
                "Content-Length": "0",
            }
            return self._send(h, method, 302, b"", headers)
        data = f.data or b""
        return self._send(h, method, 200, data, {**commit, "ETag": f'"{f.git_oid}"', "Accept-Ranges": "bytes"})

    # --- CDN -------------------------------------------------------------------------------------

    def _blob(self, sha: str) -> FakeFile | None:
        for repo in self.repos.values():
            for f in repo.files.values():
                if f.lfs and f.sha256 == sha:
                    return f
        return None

    def _cdn_file(self, h: BaseHTTPRequestHandler, method: str, path: str) -> None:
        sha = path.rsplit("/", 1)[-1]
        f = self._blob(sha)
        if f is None or f.data is None:
            return self._send(h, method, 404, b"no such blob")
        data = f.data
        if sha in self.corrupt:
            mid = len(data) // 2
            data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
        start = 0
        rng = h.headers.get("Range")
        if rng and not self.ignore_range:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            if start >= len(data):
                return self._send(h, method, 416, b"", {"Content-Range": f"bytes */{len(data)}"})
            end_txt = rng.split("-", 1)[1]
            end = int(end_txt) if end_txt else len(data) - 1
            part = data[start : end + 1]
            headers = {"Content-Range": f"bytes {start}-{start + len(part) - 1}/{len(data)}", "Accept-Ranges": "bytes"}
            status = 206
        else:
            part, headers, status = data, {"Accept-Ranges": "bytes"}, 200
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(part)))
        h.send_header("ETag", f'"{sha}"')
        h.end_headers()
        if method == "HEAD":
            return
        with self._lock:
            cut = self.cut_after if self.cuts_left > 0 else None
            if cut is not None:
                self.cuts_left -= 1
            stall = self.stall_after
            trickle = self.trickle_after
        if cut is not None and cut < len(part):
            h.wfile.write(part[:cut])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if stall is not None and stall < len(part):
            h.wfile.write(part[:stall])
            h.wfile.flush()
            time.sleep(self.stall_s)
            h.close_connection = True
            return
        if trickle is not None and trickle < len(part):
            h.wfile.write(part[:trickle])
            h.wfile.flush()
            for i in range(trickle, len(part)):  # one byte at a time, slowly: never a read timeout
                h.wfile.write(part[i : i + 1])
                h.wfile.flush()
                time.sleep(self.trickle_s)
            return
        h.wfile.write(part)


def make_gguf(path: Path, qtype: Q = Q.Q8_0, file_type: int = gguf.LlamaFileType.MOSTLY_Q8_0, n_layer: int = 2,
              n_embd: int = 256, n_vocab: int = 2048, metadata: dict[str, Any] | None = None) -> bytes:  # fmt: skip
    """A small real GGUF (llama shape) with random tensor data; returns its bytes."""
    md = llama_metadata(n_layer, n_embd, 2 * n_embd, 4, 4, file_type=file_type)
    md.update(metadata or {})
    write_gguf(
        path, metadata=md, tensors=llama_tensors(n_layer, n_embd, 2 * n_embd, 4, 4, n_vocab, qtype, qtype, qtype)
    )
    start = read_gguf_header(path).data_offset
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(start)
        f.write(os.urandom(size - start))
    return path.read_bytes()


TOKEN = "hf_FAKEtokenForTestsOnly0123456789"


def running(monkeypatch: Any, tmp_path: Path) -> Any:
    """Start a FakeHub and point the real client at it (for a pytest fixture: `yield from running(...)`).

    HF_ENDPOINT → the fake Hub; HF_HUB_CACHE / HF_HOME → tmp_path (no login store or cache of this
    machine); no token, not offline. A spy on socket connects fails the test if anything tries to leave
    127.0.0.1.
    """
    from huggingface_hub import constants

    hub = FakeHub()
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_OIDC_RESOURCE",
                "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))

    real_connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> Any:  # every request, whichever client makes it
        host = address[0] if isinstance(address, tuple) else address
        assert host in ("127.0.0.1", "::1"), f"a test tried to reach {host}"
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    try:
        yield hub
    finally:
        hub.close()


GB = 1_000_000_000


def build_world(hub: FakeHub, gguf_bytes: bytes) -> None:
    """A base model, its fine-tune, quants of each, an imatrix quant, an EXL2 quant, a gated repo."""
    st = {"config.json": FakeFile(b"{}", lfs=False), "model.safetensors": FakeFile(size=16 * GB)}
    hub.add("acme/Llama-8B", st, card={"license": "apache-2.0"}, downloads=1000)
    hub.add(
        "acme/Llama-8B-Instruct",
        st,
        card={
            "base_model": "acme/Llama-8B",
            "base_model_relation": "finetune",
            "datasets": ["ultrachat"],
            "language": ["en", "de"],
            "license": "apache-2.0",
        },
        downloads=900,
    )
    hub.add("acme/Other-7B", st, card={"license": "mit"})
    hub.add(
        "quanter/Llama-8B-GGUF",
        {
            "Llama-8B-Q2_K.gguf": FakeFile(size=int(3.2 * GB)),
            "Llama-8B-Q4_K_M.gguf": FakeFile(size=int(4.9 * GB)),
            "README.md": FakeFile(b"# quants\n", lfs=False),
        },
        card={"base_model": "acme/Llama-8B", "base_model_relation": "quantized", "license": "apache-2.0"},
        downloads=500,
    )
    hub.add(
        "quanter/Llama-8B-Instruct-GGUF",
        {
            "Llama-8B-Instruct-Q3_K_M.gguf": FakeFile(size=int(4.0 * GB)),
            "Llama-8B-Instruct-IQ4_XS.gguf": FakeFile(size=int(4.4 * GB)),
            "Llama-8B-Instruct-Q4_K_M.gguf": FakeFile(size=int(4.9 * GB)),
            "Llama-8B-Instruct-Q5_K_M.gguf": FakeFile(size=int(5.7 * GB)),
            "Llama-8B-Instruct-Q8_0.gguf": FakeFile(size=int(8.5 * GB)),
            "Llama-8B-Instruct-Q8_0-00001-of-00002.gguf": FakeFile(size=int(4.3 * GB)),
            "Llama-8B-Instruct-Q8_0-00002-of-00002.gguf": FakeFile(size=int(4.2 * GB)),
            "mmproj-Llama-8B-Instruct-f16.gguf": FakeFile(size=600_000_000),
        },
        card={"base_model": "acme/Llama-8B-Instruct"},  # no relation: the Hub's model tree infers "quantized"
        downloads=800,
    )
    hub.add(
        "other/Llama-8B-Instruct-i1-GGUF",
        {"Llama-8B-Instruct.i1-Q4_K_M.gguf": FakeFile(size=int(4.9 * GB)), "imatrix.dat": FakeFile(size=5_000_000)},
        card={"base_model": "acme/Llama-8B-Instruct", "base_model_relation": "quantized"},
        downloads=50,
    )
    hub.add(
        "exl/Llama-8B-Instruct-4.0bpw-exl2",
        {"model.safetensors": FakeFile(size=int(4.6 * GB)), "config.json": FakeFile(b"{}", lfs=False)},
        card={"base_model": "acme/Llama-8B-Instruct", "base_model_relation": "quantized"},
        tags=["exl2"],
        config={"quantization_config": {"quant_method": "exl2", "bits": 4.0, "calibration": {"dataset": "wikitext"}}},
        downloads=30,
    )
    hub.add(
        "acme/Gated-8B-GGUF",
        {"Gated-8B-Q4_K_M.gguf": gguf_bytes},
        card={"base_model": "acme/Gated-8B", "base_model_relation": "quantized", "license": "other"},
        gated="manual",
        granted={"hf_granted_token"},
    )
