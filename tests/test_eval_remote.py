"""The remote engine against a real OpenAI-compatible server on loopback: llama-cpp-python's own.

The server serves the demo reference, so local-against-remote should come out (nearly) lossless;
its metrics are labelled approximate because a server shows only its top-k log-probs.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from core.errors import RemoteEngineError
from core.evaluation import EvalSettings, RemoteEngine, RunSettings, compare
from core.paths import CACHE_ENV
from core.progress import run_job

SERVER_MODULES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")
EV = EvalSettings(chunk=64, max_chunks=1, sample_tokens=8, remote_top_k=5)
RS = RunSettings(n_ctx=512, n_threads=2, flash_attn="off")  # the server's default is flash attention off


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"llama-cpp-python's server extra is not installed ({', '.join(missing)} missing): "
                    "pip install 'llama-cpp-python[server]'")  # fmt: skip
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(demo.reference), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "512", "--n_threads", "1"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not answer within 90 s:\n{log.read_text()[-2000:]}")
                time.sleep(0.25)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("eval-cache")))
            yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_local_reference_against_the_same_model_served_remotely(demo, server):
    c = run_job(compare(str(demo.reference), server, RS, RS, ["general"], eval_settings=EV))
    assert c.what == "remote" and c.approximate
    assert server in c.candidate
    m = c.metrics["general"]
    assert m.approximate and m.tokens >= 10
    assert m.ppl_ratio == pytest.approx(1.0, rel=0.03)
    assert m.kld_mean < 0.05
    assert m.top1_agreement >= 0.8
    assert any("approximate" in n or "estimate" in n for n in c.notes)
    (s,) = c.samples
    assert s.candidate.strip() and s.reference.strip()
    assert s.first_divergence is None or s.first_divergence >= 3
    assert c.to_dict()["metrics"]["general"]["approximate"] is True


def test_server_errors_are_plain_words(server):
    closed = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(RemoteEngineError, match="Could not reach"):
        run_job(RemoteEngine(closed, timeout=5).connect())
    with pytest.raises(RemoteEngineError, match="has no /v1/models"):
        run_job(RemoteEngine(server + "/not-here").connect())
    with pytest.raises(RemoteEngineError, match="does not serve 'other-model'"):
        run_job(RemoteEngine(server, model="other-model").connect())
    with pytest.raises(RemoteEngineError, match="not a server address"):
        RemoteEngine("ftp://example.com")
