"""Windows and macOS, checked here (issue 22 items 1 and 2): the same code, each OS's facts passed in.

Nothing patches sys.platform: every function that differs by OS takes the platform (and the environment,
the sysctl answers, Metal's answer, the registry's answer) as a parameter, and these tests pass each OS's
recorded or documented answers (tests/fixtures/windows, tests/fixtures/macos, each entry with its source).
What only a real Windows or macOS machine can show runs in the release workflow's matrix.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import fakenvml
import pytest

from core import files
from core.engines import logs
from core.errors import ModelFileError
from core.hardware.apple import detect_apple
from core.hardware.machine import GIB, metal_working_set
from core.hardware.nvidia import detect_nvidia
from core.hardware.windows import NOT_DETECTED, detect_windows_adapters
from core.model.discovery import default_locations, discover_models
from core.model.inspection import inspect_model

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MIB = 2**20


# --- positional reads without pread (Windows) -------------------------------------------------------------


def test_seek_read_answers_what_pread_answers(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, every offset distinguishable
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    with files.open_regular(path) as fd:
        for offset, n in ((0, 4), (1, 255), (4095, 10_000), (len(data) - 3, 100), (len(data) + 10, 5)):
            assert files.seek_read(fd, n, offset) == files.read_at(fd, n, offset) == data[offset : offset + n]


def test_seek_read_is_safe_from_many_threads_on_one_fd(tmp_path: Path) -> None:
    """Two threads moving one fd's offset would read each other's bytes without the lock."""
    data = os.urandom(1 << 20)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    wrong: list[int] = []
    with files.open_regular(path) as fd:

        def reader(seed: int) -> None:
            for i in range(300):
                offset = (seed * 7919 + i * 104729) % (len(data) - 64)
                if files.seek_read(fd, 64, offset) != data[offset : offset + 64]:
                    wrong.append(offset)

        threads = [threading.Thread(target=reader, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert wrong == []


def test_a_model_and_a_log_read_whole_through_seek_read(
    demo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read path Windows takes (no os.pread), end to end on a real GGUF and a real-sized log."""
    expected = inspect_model(demo.reference)
    monkeypatch.setattr(files, "read_at", files.seek_read)
    monkeypatch.setattr(logs, "read_at", files.seek_read)
    got = inspect_model(demo.reference)
    assert got.to_dict() == expected.to_dict()
    log = tmp_path / "server.log"
    head = "llama_context: n_ctx         = 8192\n"
    log.write_text(head + "x" * (logs.HEAD_BYTES + logs.TAIL_BYTES) + "\nllama_context: n_ctx = 4096\n")
    reading = logs.read_log(log)
    assert reading.bytes_skipped == log.stat().st_size - logs.HEAD_BYTES - logs.TAIL_BYTES


def test_a_file_cut_short_while_read_is_a_plain_error_through_seek_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 100)
    monkeypatch.setattr(files, "read_at", files.seek_read)
    with files.open_regular(path) as fd, pytest.raises(ModelFileError, match="changed while it was read"):
        files.pread_exact(fd, 500, 0, path, ModelFileError)


# --- where the tools keep models ---------------------------------------------------------------------------


def _build_home(layout: dict[str, Any], home: Path) -> dict[str, str]:
    for rel, what in layout["files"].items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if what == "gguf":
            p.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + os.urandom(64))
        elif what.startswith("ollama-manifest:"):
            digest = what.removeprefix("ollama-manifest:")
            p.write_text(json.dumps({"schemaVersion": 2, "layers": [
                {"mediaType": "application/vnd.ollama.image.model", "digest": digest, "size": 72},
                {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:00", "size": 1},
            ]}))  # fmt: skip
        elif what.startswith(("text:", "json:")):
            p.write_text(what.split(":", 1)[1].replace("{home}", home.as_posix()))
        else:
            p.write_text(what)
    return {k: v.replace("{home}", str(home)) for k, v in layout["environ"].items()}


@pytest.mark.parametrize(("os_dir", "platform"), [("windows", "win32"), ("macos", "darwin")])
def test_models_are_found_where_each_os_keeps_them(tmp_path: Path, os_dir: str, platform: str) -> None:
    layout = json.loads((FIXTURES / os_dir / "model-folders.json").read_text())
    environ = _build_home(layout, tmp_path)
    locations = default_locations(tmp_path, platform=platform, environ=environ)
    found = discover_models(locations)
    assert sorted([m.source, m.name] for m in found) == sorted(layout["expect"])
    assert all(m.path.is_file() and m.size == 72 for m in found)


def test_each_os_default_folders_and_overrides(tmp_path: Path) -> None:
    home = tmp_path
    win = default_locations(home, platform="win32", environ={"LOCALAPPDATA": r"C:\Users\ana\AppData\Local"})
    assert win["llama.cpp cache"] == [Path(r"C:\Users\ana\AppData\Local") / "llama.cpp"]
    assert win["Ollama"] == [home / ".ollama" / "models"]  # no /usr/share/ollama outside Linux
    assert win["Hugging Face cache"] == [home / ".cache" / "huggingface" / "hub"]
    mac = default_locations(home, platform="darwin", environ={})
    assert mac["llama.cpp cache"] == [home / "Library" / "Caches" / "llama.cpp"]
    assert mac["LM Studio"] == [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    linux = default_locations(home, platform="linux", environ={"XDG_CACHE_HOME": str(home / "xdg")})
    assert linux["llama.cpp cache"] == [home / "xdg" / "llama.cpp"]
    assert linux["Hugging Face cache"] == [home / "xdg" / "huggingface" / "hub"]
    assert linux["Ollama"][1] == Path("/usr/share/ollama/.ollama/models")
    every = {"LLAMA_CACHE": "/l", "HF_HUB_CACHE": "/h", "HF_HOME": "/ignored", "OLLAMA_MODELS": "/o"}
    for platform in ("win32", "darwin", "linux"):
        loc = default_locations(home, platform=platform, environ=every)
        assert (loc["llama.cpp cache"], loc["Hugging Face cache"], loc["Ollama"][0]) == (
            [Path("/l")],
            [Path("/h")],
            Path("/o"),
        )


def test_a_broken_lm_studio_pointer_or_settings_falls_back_to_the_default(tmp_path: Path) -> None:
    (tmp_path / ".lmstudio-home-pointer").write_text("relative/not/a/home\n")
    (tmp_path / ".lmstudio").mkdir()
    (tmp_path / ".lmstudio" / "settings.json").write_text("{not json")
    assert (
        default_locations(tmp_path, platform="win32", environ={})["LM Studio"][0] == tmp_path / ".lmstudio" / "models"
    )
    if not hasattr(os, "mkfifo"):  # Windows: no FIFOs in the file system
        return
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / ".lmstudio-home-pointer").unlink()
    os.symlink(tmp_path / "fifo", tmp_path / ".lmstudio-home-pointer")  # a pointer that is a FIFO never blocks
    assert (
        default_locations(tmp_path, platform="darwin", environ={})["LM Studio"][0] == tmp_path / ".lmstudio" / "models"
    )


# --- GPU facts: Apple Silicon ------------------------------------------------------------------------------

METAL = json.loads((FIXTURES / "macos" / "metal-working-set.json").read_text())["machines"]


def _sysctl(m: dict[str, Any]) -> Any:
    answers = {"hw.optional.arm64": "1", "hw.memsize": str(m["hw.memsize"]), "iogpu.wired_limit_mb": m["iogpu.wired_limit_mb"],
               "machdep.cpu.brand_string": m["name"]}  # fmt: skip
    return lambda cmd: answers.get(cmd[-1])


@pytest.mark.parametrize(
    "m", METAL, ids=lambda m: f"{m['name']}-{m['hw.memsize'] // GIB}G-limit{m['iogpu.wired_limit_mb']}"
)
def test_apple_silicon_plans_with_metals_own_working_set(m: dict[str, Any]) -> None:
    recorded = round(m["metal_mib"] * MIB)
    [gpu], notes = detect_apple(_sysctl(m), platform="darwin", metal=lambda: (m["name"], recorded))
    assert notes == [] and gpu.unified_memory and gpu.backend == "metal"
    assert gpu.total_bytes == m["hw.memsize"] and gpu.available_bytes == recorded
    assert "recommendedMaxWorkingSetSize" in gpu.notes[0]


@pytest.mark.parametrize(
    "m", METAL, ids=lambda m: f"{m['name']}-{m['hw.memsize'] // GIB}G-limit{m['iogpu.wired_limit_mb']}"
)
def test_without_metal_the_estimate_is_near_the_recorded_answer_and_never_above(m: dict[str, Any]) -> None:
    """The fallback rule (2/3 up to 36 GiB, 3/4 above, or the wired limit) against what Macs reported:
    exact where the rule was measured, under (safe) where newer macOS gives more."""
    [gpu], _ = detect_apple(_sysctl(m), platform="darwin", metal=lambda: None)
    recorded = m["metal_mib"] * MIB
    limit = int(m["iogpu.wired_limit_mb"]) or None
    assert gpu.available_bytes == metal_working_set(m["hw.memsize"], limit)
    assert gpu.available_bytes <= recorded + MIB
    if m["hw.memsize"] <= 36 * GIB or limit:
        assert gpu.available_bytes == pytest.approx(recorded, abs=MIB)
    assert "estimated" in gpu.notes[0] or "wired_limit" in gpu.notes[0]


# --- GPU facts: Windows --------------------------------------------------------------------------------------


def _adapters() -> list[dict[str, object]]:
    rows = json.loads((FIXTURES / "windows" / "display-adapters.json").read_text())["adapters"]
    return [{k: bytes.fromhex(v[6:]) if isinstance(v, str) and v.startswith("bytes:") else v for k, v in r.items()}
            for r in rows]  # fmt: skip


def test_amd_and_intel_on_windows_from_the_display_adapters() -> None:
    gpus, notes = detect_windows_adapters(_adapters, platform="win32")
    # NVIDIA is NVML's, the basic display adapter is no GPU, integrated graphics is RAM
    by_name = {g.name: g for g in gpus}
    assert list(by_name) == ["AMD Radeon RX 7900 XTX", "Intel(R) Arc(TM) A770 Graphics", "Radeon RX 580 Series"]
    xtx, arc, rx580 = by_name.values()
    assert (xtx.vendor, xtx.backend, xtx.available_bytes, xtx.index) == ("amd", "vulkan", 24 * GIB, 0)
    assert (arc.vendor, arc.available_bytes, arc.index) == ("intel", 16 * GIB, 0)
    assert (rx580.index, rx580.total_bytes) == (1, 0xFFFFFFFF) and "at most 4 GiB" in rx580.notes[0]
    assert xtx.driver_version == "32.0.21013.1000"
    assert notes == ["Intel(R) UHD Graphics 770 is integrated graphics (128 MiB of its own; it shares system RAM): "
                     "Quant Doctor plans with the RAM."]  # fmt: skip


def test_windows_adapters_unreadable_or_absent_say_use_what_if() -> None:
    def refuses() -> list[dict[str, object]]:
        raise PermissionError("access denied")

    gpus, notes = detect_windows_adapters(refuses, platform="win32")
    assert gpus == [] and "access denied" in notes[0] and NOT_DETECTED in notes[0]
    assert detect_windows_adapters(list, platform="win32") == ([], [NOT_DETECTED])
    no_size = [{"DriverDesc": "AMD Radeon 780M", "MatchingDeviceId": "PCI\\VEN_1002&DEV_15BF"}]
    gpus, notes = detect_windows_adapters(lambda: no_size, platform="win32")
    assert gpus == [] and notes[0].startswith("AMD Radeon 780M") and NOT_DETECTED in notes[0]
    assert detect_windows_adapters(_adapters, platform="linux") == ([], [])
    assert detect_windows_adapters(_adapters, platform="darwin") == ([], [])


@pytest.mark.parametrize(
    ("platform", "words"),
    [("win32", "nvml.dll"), ("darwin", "Macs have had none"), ("linux", "libnvidia-ml")],
)
def test_no_nvidia_driver_is_said_in_each_os_words(monkeypatch: pytest.MonkeyPatch, platform: str, words: str) -> None:
    """pynvml raises LibraryNotFound when nvml.dll (System32, then NVIDIA Corporation\\NVSMI) or
    libnvidia-ml.so.1 cannot be loaded (pynvml.py, _LoadNvmlLibrary)."""
    fakenvml.install(monkeypatch, fakenvml.failing_init("LibraryNotFound"))
    result = detect_nvidia(64 * GIB, 32 * GIB, platform=platform)
    assert result.gpus == [] and len(result.notes) == 1
    assert words in result.notes[0] and "No NVIDIA driver was found" in result.notes[0]


def test_nvml_on_windows_reads_the_same_recorded_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows nvidia-ml-py is the same API over nvml.dll: the recorded H100 answers the same way."""
    fakenvml.install(monkeypatch, fakenvml.record(fakenvml.H100))
    [gpu] = detect_nvidia(64 * GIB, 32 * GIB, platform="win32").gpus
    assert gpu.name.startswith("NVIDIA H100") and gpu.total_bytes == 85_520_809_984
