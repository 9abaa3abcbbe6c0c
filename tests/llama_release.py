"""A llama.cpp release on 127.0.0.1 for tests: its listing and one release-shaped archive, with faults on demand.

The archive is the CPU build of the same sources the app runs: the shared libraries of the installed
llama-cpp-python (built from its vendored llama.cpp) and, when built, `llama-server` and
`llama-perplexity` from tests/bench/build_llama_tools.sh (the same sources again), packed as llama.cpp's
release workflow packs its Linux builds (.github/workflows/release.yml, job ubuntu-cpu, step "Pack
artifacts": `tar -czvf llama-<tag>-bin-ubuntu-x64.tar.gz --transform "s,^\\.,llama-<tag>," -C ./build/bin .`,
so every file sits under one folder `llama-<tag>/`).

The listing has the shape of GitHub's REST answer to `GET /repos/{owner}/{repo}/releases/tags/{tag}`
(docs.github.com, "REST API endpoints for releases" and "release assets": `tag_name`, `assets[]` with
`name`, `size`, `digest` "sha256:<hex>", `browser_download_url`). The download answers Range requests
with 206 (RFC 9110 section 14), as GitHub's asset host does.

Faults: `cut_after` (the next download stops after N bytes and the connection is dropped), `stall_after` /
`stall_s` (the next download pauses after N bytes: a slow link, for cancelling mid-download),
`wrong_digest` (the listing names another sha256), `no_digest` (the listing has none), `ignore_range`.
Every request is recorded (path and Range header).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

import llama_cpp

from core.paths import cache_dir

TAG = "b11312"


def wheel_libraries() -> Path:
    return Path(llama_cpp.__file__).resolve().parent / "lib"


def built_tools() -> list[Path]:
    """llama-server and llama-perplexity built from the installed llama-cpp-python's sources, where built."""
    version = metadata.version("llama_cpp_python")
    bin_dir = cache_dir() / "llama-tools" / version / "bin"
    return [p for p in (bin_dir / "llama-server", bin_dir / "llama-perplexity") if p.is_file()]


def cpu_archive(tag: str = TAG) -> bytes:
    """`llama-<tag>-bin-ubuntu-x64.tar.gz` as the release workflow packs it, from the CPU build of these sources."""
    buf = io.BytesIO()
    top = f"llama-{tag}"
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(wheel_libraries().iterdir()):  # libllama.so, libggml*.so and their version links
            tar.add(path, arcname=f"{top}/{path.name}", recursive=False)
        for tool in built_tools():
            tar.add(tool, arcname=f"{top}/{tool.name}")
        notice = f"CPU build of llama.cpp {tag} for tests\n".encode()
        info = tarfile.TarInfo(f"{top}/LICENSE")
        info.size = len(notice)
        tar.addfile(info, io.BytesIO(notice))
    return buf.getvalue()


@dataclass
class Seen:
    path: str
    range: str | None


@dataclass
class FakeRelease:
    tag: str = TAG
    files: dict[str, bytes] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    cut_after: int | None = None
    wrong_digest: bool = False
    no_digest: bool = False
    ignore_range: bool = False
    stall_after: int | None = None  # the next download pauses `stall_s` seconds after this many bytes
    stall_s: float = 0.0
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/repos/ggml-org/llama.cpp"

    def downloads(self) -> list[Seen]:
        return [s for s in self.seen if "/download/" in s.path]

    def listing(self) -> dict[str, Any]:
        assets = []
        for name, data in self.files.items():
            digest = hashlib.sha256(data).hexdigest()
            if self.wrong_digest:
                digest = hashlib.sha256(data + b"x").hexdigest()
            asset: dict[str, Any] = {
                "name": name,
                "size": len(data),
                "content_type": "application/gzip",
                "browser_download_url": f"{self.base}/releases/download/{self.tag}/{name}",
            }
            if not self.no_digest:
                asset["digest"] = f"sha256:{digest}"
            assets.append(asset)
        return {"tag_name": self.tag, "name": self.tag, "draft": False, "prerelease": False, "assets": assets}

    def start(self) -> FakeRelease:
        release = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                release.seen.append(Seen(self.path, self.headers.get("Range")))
                prefix = "/repos/ggml-org/llama.cpp/releases/"
                if self.path == f"{prefix}tags/{release.tag}":
                    body = json.dumps(release.listing()).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                name = self.path.rsplit("/", 1)[-1]
                data = release.files.get(name)
                if not self.path.startswith(f"{prefix}download/{release.tag}/") or data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and not release.ignore_range:
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if release.cut_after is not None:
                    cut, release.cut_after = release.cut_after, None
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if release.stall_after is not None:  # a slow link: the first part, a pause, the rest
                    cut, release.stall_after = release.stall_after, None
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    time.sleep(release.stall_s)
                    body = body[cut:]
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
