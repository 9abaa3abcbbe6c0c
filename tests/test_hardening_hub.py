"""A hostile or broken server behind HF_ENDPOINT (issue 12): nothing is written outside the Hugging
Face cache, a captive portal's page is a plain error, a trickling server is a plain stall."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakehub import make_gguf, running

from core.errors import HubDownloadError, HubError, HubUnreachableError
from core.hub import download
from core.progress import run_job

REPO = "quanter/Tiny-GGUF"
FILE = "Tiny-Q8_0.gguf"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> bytes:
    return make_gguf(tmp_path_factory.mktemp("tiny") / FILE, n_layer=2, n_embd=256, n_vocab=1024)


@pytest.fixture
def hub(monkeypatch, tmp_path, tiny):
    for h in running(monkeypatch, tmp_path):
        h.add(REPO, {FILE: tiny}, card={"base_model": "acme/Tiny"})
        yield h


def everything_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")} if root.exists() else set()


@pytest.mark.parametrize(
    "etag", ["../../../../escaped", "..", "a/../../b", "/tmp/abs", "x\\..\\..\\y", ".hidden", "a" * 300]
)
def test_hostile_etag_never_becomes_a_path(hub, tmp_path, etag):
    hub.etag = etag
    before = everything_under(tmp_path) - everything_under(tmp_path / "hf-cache")
    with pytest.raises(HubError) as err:
        run_job(download(REPO, FILE))
    assert "not a version id" in err.value.message
    after = everything_under(tmp_path) - everything_under(tmp_path / "hf-cache")
    assert after == before, after - before  # nothing written outside the cache
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/abs").exists()
    assert not hub.seen("cdn")  # refused before a byte was fetched


def test_hostile_commit_never_becomes_a_path(hub, tmp_path):
    hub.commit = "../../../../../escaped"
    with pytest.raises(HubError, match="not a commit id"):
        run_job(download(REPO, FILE))
    assert not hub.seen("cdn")


def test_captive_portal_page_is_a_plain_error(hub):
    from core.hub.card import fetch_card
    from core.hub.resolve import search_by_filename

    hub.html_api = True
    with pytest.raises(HubUnreachableError) as err:
        fetch_card(REPO)
    assert "web page" in err.value.message and "captive portal" in err.value.fix
    with pytest.raises(HubUnreachableError, match="web page"):
        search_by_filename("Tiny-Model-Q8_0.gguf")


def test_trickling_server_is_a_plain_stall_and_resume_works(hub, tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTDOCTOR_STALL_S", "0.6")
    hub.trickle_after, hub.trickle_s = 100_000, 0.05
    t0 = time.monotonic()
    with pytest.raises(HubDownloadError) as err:
        run_job(download(REPO, FILE, retries=0))
    assert time.monotonic() - t0 < 10
    assert "stalled" in err.value.message and "kept" in err.value.message
    (part,) = list((tmp_path / "hf-cache").rglob("*.incomplete"))
    kept = part.stat().st_size
    assert kept >= 100_000
    hub.trickle_after = None
    done = run_job(download(REPO, FILE))
    assert done.resumed_from == kept and done.verified and done.path.read_bytes() == tiny


# --- an OpenAI-compatible server that answers nonsense ---------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[1, 2, 3]", b"[" * 100_000 + b"]" * 100_000, b"<!DOCTYPE html><html>portal</html>", b'{"data": 5}',
     b'{"data": [1, "x"]}', b'{"data": NaN}'],
)  # fmt: skip
def test_remote_server_nonsense_is_a_plain_error(body: bytes) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from core.errors import RemoteEngineError
    from core.evaluation.remote import RemoteEngine

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        engine = RemoteEngine(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
        with pytest.raises(RemoteEngineError):
            run_job(engine.connect())
    finally:
        server.shutdown()
