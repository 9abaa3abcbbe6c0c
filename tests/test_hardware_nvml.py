"""NVIDIA detection against recorded NVML answers (fake at the pynvml seam), scenario by scenario."""

from __future__ import annotations

import fakenvml
import pytest

from core.hardware import detect_hardware
from core.hardware.nvidia import bandwidth_gbps, detect_nvidia, visible_devices

RAM_TOTAL, RAM_FREE = 128 * 1024**3, 100 * 1024**3


def test_h200_as_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    replay = fakenvml.install(monkeypatch, fakenvml.record(fakenvml.H200))
    result = detect_nvidia(RAM_TOTAL, RAM_FREE)
    assert result.notes == []
    [gpu] = result.gpus
    assert gpu.name == "NVIDIA H200"
    assert gpu.total_bytes == 150_754_820_096
    assert gpu.reserved_bytes == 644_939_776  # only the v2 call reports it
    assert gpu.free_bytes == gpu.usable_bytes == 150_109_880_320
    assert gpu.used_bytes == 0
    assert gpu.uuid == "GPU-80db2997-9f8e-b142-f737-71cdcafbdcac"
    assert (gpu.compute_capability, gpu.driver_version, gpu.cuda_driver_version) == ("9.0", "580.159.04", "13.0")
    assert gpu.bandwidth_gbps == pytest.approx(4814.3)  # 6016 bit x 3201 MHz x 2; spec sheet 4.8 TB/s
    assert gpu.mig_enabled is False and not gpu.lost and not gpu.unified_memory
    assert "nvmlDeviceGetMemoryInfo_v2" in replay.calls and "nvmlDeviceGetMemoryInfo" not in replay.calls
    assert replay.calls[0] == "nvmlInit" and replay.calls[-1] == "nvmlShutdown"


def test_h100_bandwidth_matches_its_spec_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    fakenvml.install(monkeypatch, fakenvml.record(fakenvml.H100))
    [gpu] = detect_nvidia(RAM_TOTAL, RAM_FREE).gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.total_bytes == 85_520_809_984
    assert gpu.bandwidth_gbps == pytest.approx(3352.3)  # spec sheet: 3.35 TB/s


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("LibraryNotFound", "No NVIDIA driver was found"),
        ("DriverNotLoaded", "installed but not running"),
        ("LibRmVersionMismatch", "restart the computer"),
    ],
)
def test_start_failures_give_cpu_only_with_the_reason(monkeypatch: pytest.MonkeyPatch, error: str, words: str) -> None:
    replay = fakenvml.install(monkeypatch, fakenvml.failing_init(error))
    result = detect_nvidia(RAM_TOTAL, RAM_FREE)
    assert result.gpus == []
    assert len(result.notes) == 1 and words in result.notes[0]
    assert replay.calls == ["nvmlInit"]  # nothing else is asked of a driver that did not start
    profile = detect_hardware()
    assert profile.cpu_only and profile.cpu_only_reason is not None and words in profile.cpu_only_reason


def test_a_lost_gpu_is_listed_as_lost_and_the_other_still_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    fakenvml.install(monkeypatch, fakenvml.two_gpus_one_lost())
    profile = detect_hardware()
    nvidia = [g for g in profile.gpus if g.vendor == "nvidia"]
    assert [g.lost for g in nvidia] == [False, True]
    good, lost = nvidia
    assert good.name == "NVIDIA H100 80GB HBM3" and good.available_bytes == 85_017_493_504
    assert lost.available_bytes == 0 and "lost" in lost.notes[0]
    assert profile.usable_gpus == [good] and not profile.cpu_only


def test_gpu_lost_in_the_middle_of_the_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = fakenvml.record(fakenvml.H200)
    rec["devices"][0]["memory_v2"] = {"error": "GpuIsLost"}
    fakenvml.install(monkeypatch, rec)
    [gpu] = detect_nvidia(RAM_TOTAL, RAM_FREE).gpus
    assert gpu.lost and gpu.name == "NVIDIA H200" and gpu.total_bytes is None


def test_memory_not_supported_counts_system_ram(monkeypatch: pytest.MonkeyPatch) -> None:
    fakenvml.install(monkeypatch, fakenvml.memory_not_supported())
    [gpu] = detect_nvidia(RAM_TOTAL, RAM_FREE).gpus
    assert gpu.unified_memory and gpu.name == "NVIDIA GB10"
    assert (gpu.total_bytes, gpu.usable_bytes) == (RAM_TOTAL, RAM_FREE)
    assert "unified memory" in gpu.notes[0]


def test_a_total_of_zero_is_unified_memory_too(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = fakenvml.record(fakenvml.H200)
    rec["devices"][0]["memory_v2"] = {"ok": {"version": 1, "total": 0, "reserved": 0, "free": 0, "used": 0}}
    fakenvml.install(monkeypatch, rec)
    [gpu] = detect_nvidia(RAM_TOTAL, RAM_FREE).gpus
    assert gpu.unified_memory and gpu.usable_bytes == RAM_FREE


def test_v2_call_missing_falls_back_to_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    replay = fakenvml.install(monkeypatch, fakenvml.v2_missing())
    [gpu] = detect_nvidia(RAM_TOTAL, RAM_FREE).gpus
    assert replay.calls.count("nvmlDeviceGetMemoryInfo_v2") == 1 and "nvmlDeviceGetMemoryInfo" in replay.calls
    assert gpu.total_bytes == 85_520_809_984
    assert gpu.free_bytes == gpu.usable_bytes == 85_017_493_504
    assert gpu.reserved_bytes is None  # v1 does not know it
    assert gpu.used_bytes == 503_316_480  # v1 counts the reserve as used


def test_mig_on_plans_with_the_largest_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    fakenvml.install(monkeypatch, fakenvml.mig_on(slices=2))
    [gpu] = detect_nvidia(RAM_TOTAL, RAM_FREE).gpus
    assert gpu.mig_enabled is True
    assert [m.name for m in gpu.mig_devices] == [
        "NVIDIA H100 80GB HBM3 MIG 1g.10gb",
        "NVIDIA H100 80GB HBM3 MIG 3g.40gb",
    ]
    assert gpu.usable_bytes == 42_949_672_960 - 25_165_824
    assert any("MIG is on" in n for n in gpu.notes)


def test_mig_on_without_slices_is_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    fakenvml.install(monkeypatch, fakenvml.mig_on(slices=0))
    [gpu] = detect_nvidia(RAM_TOTAL, RAM_FREE).gpus
    assert gpu.mig_enabled and gpu.available_bytes == 0


def test_fields_a_device_refuses_are_none_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = fakenvml.record(fakenvml.H200)
    dev = rec["devices"][0]
    for key in ("uuid", "cuda_compute_capability", "memory_bus_width", "max_clock_mem", "mig_mode"):
        dev[key] = {"error": "NotSupported"}
    rec["driver"] = {"error": "NoPermission"}
    fakenvml.install(monkeypatch, rec)
    [gpu] = detect_nvidia(RAM_TOTAL, RAM_FREE).gpus
    assert gpu.name == "NVIDIA H200" and gpu.total_bytes == 150_754_820_096
    assert (gpu.uuid, gpu.compute_capability, gpu.bandwidth_gbps, gpu.mig_enabled, gpu.driver_version) == (
        None, None, None, None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (None, ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]),
        ("1", ["NVIDIA H200"]),
        ("GPU-dcd46a61", ["NVIDIA H100 80GB HBM3"]),  # a UUID prefix, as CUDA accepts
        ("1,0", ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]),
        ("0,-1,1", ["NVIDIA H100 80GB HBM3"]),  # CUDA stops reading at the first invalid entry
        ("", []),
    ],
)
def test_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch, value: str | None, names: list[str]) -> None:
    fakenvml.install(monkeypatch, fakenvml.two_gpus())
    if value is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    result = detect_nvidia(RAM_TOTAL, RAM_FREE)
    assert [g.name for g in result.gpus] == names
    assert len(result.notes) == 2 - len(names)  # each hidden GPU is named in a note


def test_visible_devices_parsing() -> None:
    assert visible_devices(None) is None
    assert visible_devices("0, 2") == ["0", "2"]
    assert visible_devices("-1") == []
    assert visible_devices("MIG-abc,1") == ["MIG-abc", "1"]


def test_bandwidth_from_bus_width_and_clock() -> None:
    assert bandwidth_gbps(384, 10501) == pytest.approx(1008.1)  # RTX 4090: 1008 GB/s
    assert bandwidth_gbps(192, 7501) == pytest.approx(360.0)  # RTX 3060 12GB: 360 GB/s
    assert bandwidth_gbps(None, 7501) is None


def test_fake_nvml_environment_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDOCTOR_FAKE_NVML", str(fakenvml.fixture_path(fakenvml.H100)))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    [gpu] = [g for g in detect_hardware().gpus if g.vendor == "nvidia"]
    assert gpu.name == "NVIDIA H100 80GB HBM3" and gpu.total_bytes == 85_520_809_984
