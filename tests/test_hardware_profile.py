"""Profiles as data (save, load, reject), and the non-NVIDIA paths: Apple, AMD, CPU, RAM."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from core.errors import HardwareProfileError
from core.hardware import CpuInfo, GpuInfo, HardwareProfile, SystemMemory, load_profile, save_profile
from core.hardware.amd import detect_amd
from core.hardware.apple import detect_apple
from core.hardware.machine import metal_working_set
from core.hardware.system import cpu_info, system_memory

GIB = 1024**3


def _profile() -> HardwareProfile:
    return HardwareProfile(
        gpus=[
            GpuInfo(
                "nvidia",
                0,
                "NVIDIA GeForce RTX 3090",
                "cuda",
                total_bytes=24 * GIB,
                free_bytes=23 * GIB,
                usable_bytes=23 * GIB,
                bandwidth_gbps=936.2,
                compute_capability="8.6",
            ),
            GpuInfo("nvidia", 1, "NVIDIA GeForce RTX 3090", "cuda", total_bytes=24 * GIB, lost=True, usable_bytes=0),
        ],
        ram=SystemMemory(64 * GIB, 50 * GIB),
        cpu=CpuInfo("AMD Ryzen 9 7950X", "x86_64", 16, 32, True, True),
        notes=["a note"],
    )


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    original = _profile()
    path = save_profile(original, tmp_path / "machine.json")
    loaded = load_profile(path)
    assert loaded.source == "file"
    assert loaded.gpus == original.gpus
    assert loaded.ram == original.ram and loaded.cpu == original.cpu and loaded.notes == original.notes
    data = json.loads(path.read_text())
    assert data["gpus"][0]["available_bytes"] == 23 * GIB and data["gpus"][1]["available_bytes"] == 0
    assert data["cpu_only"] is False and data["cpu_only_reason"] is None


def test_cpu_only_reason() -> None:
    p = HardwareProfile(notes=["No NVIDIA driver was found."])
    assert p.cpu_only and p.cpu_only_reason == "No NVIDIA driver was found."
    lost = HardwareProfile(gpus=[GpuInfo("nvidia", 0, "H100", "cuda", total_bytes=80 * GIB, lost=True)])
    assert lost.cpu_only and "H100 (lost)" in (lost.cpu_only_reason or "")


def test_a_hand_written_minimal_profile_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"gpus": [{"name": "My card", "total_bytes": 8 * GIB}], "ram": {"total_bytes": GIB}}))
    p = load_profile(path)
    assert p.gpus[0].available_bytes == 8 * GIB and p.gpus[0].backend == "vulkan"
    assert p.ram.total_bytes == GIB and p.cpu == CpuInfo()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("not json", "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
        ('{"gpus": {}}', "'gpus' must be a list"),
        ('{"gpus": [{"total_bytes": 1}]}', "has no name"),
        ('{"gpus": [{"name": "X"}]}', "no memory size"),
        ('{"gpus": [{"name": "X", "total_bytes": -5}]}', "whole number"),
        ('{"gpus": [{"name": "X", "total_bytes": "8GB"}]}', "whole number"),
        ('{"gpus": [{"name": "X", "total_bytes": 1, "lost": "no"}]}', "true or false"),
        ('{"gpus": [], "ram": {"total_bytes": 1.5}}', "whole number"),
        ('{"schema": 99, "gpus": []}', "newer Quant Doctor"),
    ],
)
def test_bad_profiles_are_typed_errors(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(HardwareProfileError) as err:
        load_profile(path)
    assert words in err.value.message
    assert err.value.fix  # every error says what to do


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(HardwareProfileError, match="does not exist"):
        load_profile(tmp_path / "nope.json")


# --- Apple Silicon ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ram_gib", "usable_gib"),
    [(16, 16 * 2 / 3), (36, 24), (64, 48), (128, 96), (192, 144)],
)
def test_metal_working_set(ram_gib: int, usable_gib: float) -> None:
    assert metal_working_set(ram_gib * GIB) == pytest.approx(usable_gib * GIB, abs=1)


def _sysctl(values: dict[str, str]) -> types.FunctionType:
    def run(cmd: list[str]) -> str | None:
        return values.get(cmd[-1])

    return run  # type: ignore[return-value]


def test_apple_silicon_from_sysctl() -> None:
    run = _sysctl({"hw.optional.arm64": "1", "hw.memsize": str(96 * GIB), "machdep.cpu.brand_string": "Apple M2 Max"})
    [gpu], notes = detect_apple(run, platform="darwin")
    assert notes == []
    assert (gpu.vendor, gpu.backend, gpu.unified_memory) == ("apple", "metal", True)
    assert gpu.total_bytes == 96 * GIB and gpu.available_bytes == 72 * GIB
    assert gpu.bandwidth_gbps == 400  # from the catalog: Apple does not report it


def test_apple_wired_limit_raises_the_gpu_share() -> None:
    run = _sysctl({"hw.optional.arm64": "1", "hw.memsize": str(64 * GIB), "iogpu.wired_limit_mb": "57344",
                   "machdep.cpu.brand_string": "Apple M4 Pro"})  # fmt: skip
    [gpu], _ = detect_apple(run, platform="darwin")
    assert gpu.available_bytes == 56 * GIB and "wired_limit" in gpu.notes[0]


def test_intel_mac_and_other_systems() -> None:
    gpus, notes = detect_apple(_sysctl({"hw.optional.arm64": "0"}), platform="darwin")
    assert gpus == [] and "Intel" in notes[0]
    assert detect_apple(_sysctl({}), platform="linux") == ([], [])


# --- AMD ------------------------------------------------------------------------------------------


def _card(drm: Path, n: int, vendor: str, total: int | None, used: int | None, name: str | None = None) -> None:
    dev = drm / f"card{n}" / "device"
    dev.mkdir(parents=True)
    (dev / "vendor").write_text(vendor + "\n")
    if total is not None:
        (dev / "mem_info_vram_total").write_text(f"{total}\n")
    if used is not None:
        (dev / "mem_info_vram_used").write_text(f"{used}\n")
    if name:
        (dev / "product_name").write_text(name)


def test_amd_from_sysfs_without_amdsmi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "amdsmi", None)  # import amdsmi -> ImportError
    _card(tmp_path, 0, "0x1002", 24 * GIB, GIB, "Radeon RX 7900 XTX")
    _card(tmp_path, 1, "0x10de", 8 * GIB, 0)  # an NVIDIA card: not AMD's business
    _card(tmp_path, 2, "0x1002", None, None)  # an APU without VRAM figures
    gpus, notes = detect_amd(tmp_path, platform="linux")
    assert notes == []
    [gpu] = gpus
    assert (gpu.name, gpu.backend, gpu.total_bytes, gpu.available_bytes) == (
        "Radeon RX 7900 XTX",
        "rocm",
        24 * GIB,
        23 * GIB,
    )


def test_amd_through_amdsmi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    fake = types.SimpleNamespace(
        amdsmi_init=lambda *a: calls.append("init"),
        amdsmi_shut_down=lambda: calls.append("shutdown"),
        amdsmi_get_processor_handles=lambda: ["h0"],
        amdsmi_get_gpu_asic_info=lambda h: {"market_name": "AMD Instinct MI300X"},
        amdsmi_get_gpu_device_uuid=lambda h: "uuid-0",
        amdsmi_get_gpu_vram_usage=lambda h: {"vram_total": 196592, "vram_used": 592},
        amdsmi_get_gpu_vram_info=lambda h: {"vram_bit_width": 8192},
        amdsmi_get_gpu_driver_info=lambda h: (_ for _ in ()).throw(RuntimeError("no permission")),
    )
    monkeypatch.setitem(sys.modules, "amdsmi", fake)
    [gpu], notes = detect_amd(tmp_path, platform="linux")
    assert notes == [] and calls == ["init", "shutdown"]
    assert gpu.name == "AMD Instinct MI300X" and gpu.total_bytes == 196592 * 1024**2
    assert gpu.available_bytes == 196000 * 1024**2 and gpu.memory_bus_width_bits == 8192
    assert gpu.driver_version is None  # the refused field is unknown, not a crash


def test_amdsmi_failing_to_list_degrades_to_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("amdgpu driver not loaded")

    fake = types.SimpleNamespace(amdsmi_init=broken, amdsmi_shut_down=lambda: None)
    monkeypatch.setitem(sys.modules, "amdsmi", fake)
    gpus, notes = detect_amd(tmp_path, platform="linux")
    assert gpus == [] and "amdgpu driver not loaded" in notes[0]


# --- CPU and RAM ------------------------------------------------------------------------------------


def test_cpu_flags_from_proc_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: AMD Ryzen 9 7950X 16-Core Processor\nflags\t\t: fpu sse avx avx2 fma\n"
    )
    cpu = cpu_info(info)
    assert cpu.model == "AMD Ryzen 9 7950X 16-Core Processor"
    assert (cpu.avx2, cpu.avx512) == (True, False)
    info.write_text("model name\t: Xeon\nflags\t\t: avx2 avx512f avx512bw\n")
    assert (cpu_info(info).avx2, cpu_info(info).avx512) == (True, True)
    info.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes\n")
    assert (cpu_info(info).avx2, cpu_info(info).avx512) == (False, False)


def test_ram_falls_back_to_proc_meminfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16318480 kB\nMemFree:  1 kB\nMemAvailable:    8000000 kB\n")
    assert system_memory(meminfo) == SystemMemory(16318480 * 1024, 8000000 * 1024)


def test_ram_from_psutil() -> None:
    ram = system_memory()
    assert ram.total_bytes and ram.available_bytes and 0 < ram.available_bytes <= ram.total_bytes
