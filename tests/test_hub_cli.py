"""`quantdoctor-cli hub …` against the fake Hub: card, alternatives, download; offline and gated end
with exit code 2 and a plain message, never a traceback; the token never appears in the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gguf
import pytest
from fakehub import TOKEN, build_world, make_gguf, running

from core.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
Q = gguf.GGMLQuantizationType


@pytest.fixture(scope="module")
def small_gguf(tmp_path_factory) -> bytes:
    return make_gguf(tmp_path_factory.mktemp("gguf") / "small.gguf")


@pytest.fixture
def hub(monkeypatch, tmp_path, small_gguf):
    for h in running(monkeypatch, tmp_path):
        build_world(h, small_gguf)
        h.add("quanter/Small-GGUF", {"Small-Q8_0.gguf": small_gguf, "Small-Q4_K_M.gguf": small_gguf[:-1] + b"!"},
              card={"base_model": "acme/Small", "base_model_relation": "quantized"})  # fmt: skip
        yield h


def local(tmp_path: Path, name: str = "Llama-8B-Q2_K.gguf") -> Path:
    p = tmp_path / name
    make_gguf(p, Q.Q2_K, gguf.LlamaFileType.MOSTLY_Q2_K)
    return p


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_card(hub, capsys):
    assert main(["hub", "card", "quanter/Llama-8B-GGUF"]) == 0
    out = capsys.readouterr().out
    assert "Quantization of: acme/Llama-8B" in out and "license: apache-2.0" in out
    assert "Q4_K_M" in out and "4.9 GB" in out
    assert main(["hub", "card", "acme/Gated-8B-GGUF", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gated"] == "manual" and data["quantizes"] == ["acme/Gated-8B"]
    assert data["gguf_models"][0]["quant_type"] == "Q4_K_M"


def test_alternatives(hub, tmp_path, capsys):
    path = str(local(tmp_path))
    assert main(["hub", "alternatives", path, "--expect", "acme/Llama-8B-Instruct", "--gpu", "6GB", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["expected"] == "acme/Llama-8B-Instruct"
    assert data["candidates"][0]["file"] == "Llama-8B-Instruct-Q4_K_M.gguf"
    assert data["candidates"][0]["fits"] is True
    assert main(["hub", "alternatives", path, "--expect", "acme/Llama-8B-Instruct", "--gpu", "RTX 4070 12GB"]) == 0
    out = capsys.readouterr().out
    assert "Quants of acme/Llama-8B-Instruct" in out and "hub download quanter/Llama-8B-Instruct-GGUF" in out


def test_alternatives_with_an_unknown_unsized_gpu_is_a_plain_error(hub, tmp_path, capsys):
    assert main(["hub", "alternatives", str(local(tmp_path)), "--gpu", "Voodoo Banshee"]) == 2
    err = capsys.readouterr().err
    assert "cannot tell how much memory" in err and "Traceback" not in err


def test_alternatives_size_a_catalog_gpu_with_the_memory_estimate(hub, tmp_path, capsys):
    path = str(local(tmp_path))
    assert main(["hub", "alternatives", path, "--expect", "acme/Llama-8B-Instruct", "--gpu", "RTX 4090", "--json"]) == 0
    big = json.loads(capsys.readouterr().out)
    assert main(["hub", "alternatives", path, "--expect", "acme/Llama-8B-Instruct", "--gpu", "1GB", "--json"]) == 0
    tiny = json.loads(capsys.readouterr().out)
    fit_big = {c["file"]: c["fits"] for c in big["candidates"]}
    fit_tiny = {c["file"]: c["fits"] for c in tiny["candidates"]}
    assert all(isinstance(v, bool) for v in fit_big.values())  # the estimate answered for every candidate
    assert fit_big["Llama-8B-Instruct-Q8_0.gguf"] is True  # 8.5 GB of weights in 24 GiB
    assert fit_tiny["Llama-8B-Instruct-Q8_0.gguf"] is False  # a bare size still works, and 1 GB is too little


def test_download_and_reference(hub, small_gguf, capsys):
    assert main(["hub", "download", "quanter/Small-GGUF", "Small-Q4_K_M.gguf", "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verified"] and Path(data["path"]).read_bytes() == small_gguf[:-1] + b"!"
    assert main(["hub", "download", "quanter/Small-GGUF", "--reference", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "Reference: the Q8_0 of quanter/Small-GGUF (Small-Q8_0.gguf, 2.5 MB; " in captured.err  # its size first
    assert "sha256 verified" in captured.out and "quantdoctor-cli inspect" in captured.out


def test_gated_download_is_a_plain_error(hub, capsys):
    assert main(["hub", "download", "acme/Gated-8B-GGUF", "Gated-8B-Q4_K_M.gguf", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is gated" in err and "accept the license" in err and "Traceback" not in err


def test_not_found_is_a_plain_error_with_json(hub, capsys):
    assert main(["hub", "card", "nobody/nothing", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "HubNotFoundError"
    assert "not found" in captured.err


def test_offline_cli_says_offline_and_inspect_still_works(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "home"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    r = cli("hub", "card", "some/repo", env=env)
    assert r.returncode == 2 and r.returncode != 0
    assert "offline" in r.stderr and "Traceback" not in r.stderr + r.stdout
    r = cli("inspect", str(local(tmp_path)), env=env)
    assert r.returncode == 0, r.stderr
    assert "Q2_K" in r.stdout


def test_token_never_in_cli_output(hub, tmp_path):
    """A real CLI process, the client configured by environment only, the token set: never printed."""
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_CACHE": str(tmp_path / "cli-cache"),
        "HF_HOME": str(tmp_path / "cli-home"),
        "HF_TOKEN": TOKEN,
        "HF_DEBUG": "1",  # the client's own most verbose logging
    }
    env.pop("HF_HUB_OFFLINE", None)
    r = cli("hub", "download", "quanter/Small-GGUF", "Small-Q8_0.gguf", env=env)
    assert r.returncode == 0, r.stderr
    r2 = cli("hub", "download", "acme/Gated-8B-GGUF", "Gated-8B-Q4_K_M.gguf", env=env)
    assert r2.returncode == 2 and "not been granted" in r2.stderr
    assert all(TOKEN not in text for text in (r.stdout, r.stderr, r2.stdout, r2.stderr))
    assert any(req.headers.get("authorization") == f"Bearer {TOKEN}" for req in hub.seen("hub"))
