"""`quantdoctor-cli gpus` and `quantdoctor-cli fit`, as a person would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import fakenvml
import pytest
from test_memory_agreement import write_shaped
from test_upgrade import LLAMA_70B

from core.cli.main import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh interpreter (no monkeypatching can leak in or out)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("QUANTDOCTOR_FAKE_NVML", "CUDA_VISIBLE_DEVICES")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=120
    )


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(list(args))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


@pytest.fixture(scope="module")
def model70b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shaped(tmp_path_factory.mktemp("m") / "llama-70b.gguf", **LLAMA_70B)


# --- gpus -----------------------------------------------------------------------------------------


def test_gpus_json_without_a_driver(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fakenvml.install(monkeypatch, fakenvml.failing_init("LibraryNotFound"))
    code, data = cli_json(capsys, "gpus", "--json")
    assert code == 0
    assert data["cpu_only"] is True and [g for g in data["gpus"] if g["vendor"] == "nvidia"] == []
    assert "No NVIDIA driver was found" in data["cpu_only_reason"]
    assert data["ram"]["total_bytes"] > 0 and data["cpu"]["logical_cores"] >= 1


def test_gpus_json_on_this_machine() -> None:
    """The Done-when line: exit 0 here; where there is no GPU, a CPU-only profile with the reason."""
    result = run_cli("gpus", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    if data["cpu_only"]:
        assert data["cpu_only_reason"]


def test_gpus_json_with_the_h200_fixture() -> None:
    """The other Done-when line, shown by a command: QUANTDOCTOR_FAKE_NVML replays the recorded H200."""
    result = run_cli("gpus", "--json", env={"QUANTDOCTOR_FAKE_NVML": str(fakenvml.fixture_path(fakenvml.H200))})
    assert result.returncode == 0, result.stderr
    [gpu] = [g for g in json.loads(result.stdout)["gpus"] if g["vendor"] == "nvidia"]
    assert gpu["name"] == "NVIDIA H200" and gpu["total_bytes"] == 150_754_820_096


def test_gpus_summary_and_save(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fakenvml.install(monkeypatch, fakenvml.two_gpus_one_lost())
    target = tmp_path / "machine.json"
    assert main(["gpus", "--save", str(target)]) == 0
    out = capsys.readouterr().out
    assert "GPU 0: NVIDIA H100 80GB HBM3" in out and "3352.3 GB/s" in out
    assert "GPU 1: NVIDIA GPU 1  LOST" in out and f"Saved the machine profile to {target}" in out
    saved = json.loads(target.read_text())
    assert [g["lost"] for g in saved["gpus"] if g["vendor"] == "nvidia"] == [False, True]


def test_gpus_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = cli_json(capsys, "gpus", "--catalog", "--json")
    assert code == 0 and len(data) >= 40 and {"name", "memory_gib", "bandwidth_gbps", "class", "year"} <= set(data[0])


def test_a_broken_fake_nvml_path_is_a_typed_error() -> None:
    result = run_cli("gpus", "--json", env={"QUANTDOCTOR_FAKE_NVML": "/nonexistent/fixture.json"})
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr


# --- fit ------------------------------------------------------------------------------------------


def test_fit_json_fields(demo: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, data = cli_json(capsys, "fit", str(demo.reference), "--ctx", "2048", "--gpu", "RTX 4060", "--json")
    assert code == 0
    for key in ("fits", "max_context", "n_gpu_layers", "alternatives", "upgrade"):
        assert key in data
    assert data["fits"] is True and data["n_gpu_layers"] == 31 and data["max_context"] == 8192
    gpu, host = data["devices"]
    for d in (gpu, host):
        assert d["total_bytes"] == d["weights_bytes"] + d["kv_bytes"] + d["compute_bytes"] + d["overhead_bytes"]
    assert gpu["kv_bytes"] == 30 * 2048 * 192 * 2 * 2  # SmolLM2: 3 KV heads of 64, f16 K and V
    assert data["hardware"]["source"] == "catalog"


def test_fit_on_the_demo_matches_llama_cpps_log(demo: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """CPU only, as the agreement test measured: llama.cpp printed 92.10 / 45.00 / 99.38 + 0.19 MiB."""
    profile = tmp_path / "cpu.json"
    profile.write_text(json.dumps({"gpus": [], "ram": {"total_bytes": 16 * 1024**3, "available_bytes": 8 * 1024**3}}))
    code, data = cli_json(
        capsys, "fit", str(demo.reference), "--ctx", "2048", "--flash-attn", "off", "--hardware", str(profile), "--json"
    )
    assert code == 0
    [host] = data["devices"]
    mib = 1024**2
    assert host["weights_bytes"] / mib == pytest.approx(92.10, abs=0.01)
    assert host["kv_bytes"] / mib == pytest.approx(45.00, abs=0.01)
    assert host["compute_bytes"] / mib == pytest.approx(99.38 + 0.19, abs=0.02)
    assert main(["fit", str(demo.reference), "--ctx", "2048", "--flash-attn", "off", "--hardware", str(profile)]) == 0
    text = capsys.readouterr().out
    assert "92.1 MiB" in text and "45.0 MiB" in text and "99.6 MiB" in text and "Fits: yes" in text


def test_fit_70b_on_an_rtx_3060(model70b: Path) -> None:
    """The Done-when line: a model that cannot fit gets alternatives and an upgrade, with arithmetic."""
    result = run_cli("fit", str(model70b), "--ctx", "8192", "--gpu", "RTX 3060 12GB", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["fits"] is False and data["max_context"] == 0
    labels = [a["label"] for a in data["alternatives"]]
    assert "q8_0 KV cache (with flash attention)" in labels and "CPU only" in labels
    assert any(label.startswith("partial offload: -ngl") for label in labels)
    assert all(a["arithmetic"] for a in data["alternatives"])
    up = data["upgrade"]
    assert up["q5_k_m"]["card"] and up["q8_0"]["card"] and up["cpu_only"]["ram_needed_bytes"] > 40 * 1024**3
    assert "GiB" in up["q5_k_m"]["arithmetic"] and "tokens/s" in up["q5_k_m"]["arithmetic"]
    text = run_cli("fit", str(model70b), "--ctx", "8192", "--gpu", "RTX 3060 12GB").stdout
    assert "Fits: NO" in text and "Alternatives:" in text and "Upgrade:" in text and "Smallest GPU for Q5_K_M" in text


def test_fit_with_a_saved_profile(model70b: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    profile = tmp_path / "h200.json"
    result = run_cli(
        "gpus", "--save", str(profile), env={"QUANTDOCTOR_FAKE_NVML": str(fakenvml.fixture_path(fakenvml.H200))}
    )
    assert result.returncode == 0, result.stderr
    code, data = cli_json(capsys, "fit", str(model70b), "--ctx", "32768", "--hardware", str(profile), "--json")
    assert code == 0 and data["fits"] is True and data["upgrade"] is None
    assert data["devices"][0]["device"] == "CUDA0 (NVIDIA H200)"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--gpu", "RTX 9999"], "is not in the GPU catalog"),
        (["--gpu", "RTX 4060 Ti"], "matches several cards"),
        (["--hardware", "/nonexistent/machine.json"], "does not exist"),
        (["--cache-type-v", "q4_0", "--flash-attn", "off"], "without flash attention"),
        (["--ctx", "-5"], "not possible"),
    ],
)
def test_fit_bad_input_is_a_message_not_a_traceback(
    demo: Any, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    code = main(["fit", str(demo.reference), *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Fix:" in err


def test_fit_unknown_gpu_lists_close_matches(demo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = cli_json(capsys, "fit", str(demo.reference), "--gpu", "RTX 4900", "--json")
    assert code == 2 and data["error"] == "UnknownGpuError" and "GeForce RTX 4090" in data["message"]


def test_fit_on_a_file_that_is_not_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")
    assert main(["fit", str(bad)]) == 2
    assert "Fix:" in capsys.readouterr().err
