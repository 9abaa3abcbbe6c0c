"""A fake NVML at the library seam, built from what real GPUs answered.

The fixtures in tests/fixtures/nvml/ are recorded NVML sessions (an H200 and an H100 80GB on
driver 580, call by call). `install` replaces the functions of the real `pynvml` module with a
replay of such a record, so core.hardware runs its real code path, chokepoint included, against
answers a real driver gave. The scenario helpers edit a copy of the record the way a real machine
would answer in that situation (no driver, a lost GPU, MIG, an old driver without the v2 call...).

The recordings live in the repository, so every test runs on a plain clone.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pynvml
import pytest

from core.hardware.nvml_replay import ReplayNvml

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nvml"
H200 = "h200-driver580.json"
H100 = "h100-80gb-driver580.json"

# every pynvml function core.hardware may call; all of them are replaced, so a test never reaches
# the real driver library even on a machine that has one
CALLS = (
    "nvmlInit", "nvmlShutdown", "nvmlSystemGetDriverVersion", "nvmlSystemGetCudaDriverVersion",
    "nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetNVMLVersion", "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetCudaComputeCapability", "nvmlDeviceGetMemoryBusWidth", "nvmlDeviceGetMaxClockInfo",
    "nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex",
    "nvmlDeviceGetBrand", "nvmlDeviceGetArchitecture",
)  # fmt: skip


def fixture_path(name: str = H200) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        raise FileNotFoundError(f"NVML fixture {name} is missing from {FIXTURES}")
    return path


def record(name: str = H200) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_path(name).read_text())
    return copy.deepcopy(data)


def install(monkeypatch: pytest.MonkeyPatch, rec: dict[str, Any]) -> ReplayNvml:
    """Make `pynvml` answer from `rec`; returns the replay (its `calls` list records every call)."""
    replay = ReplayNvml(rec)
    for name in CALLS:
        monkeypatch.setattr(pynvml, name, getattr(replay, name), raising=False)
    monkeypatch.delenv("QUANTDOCTOR_FAKE_NVML", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return replay


# --- scenarios: what a machine in that state answers ----------------------------------------------


def failing_init(error: str) -> dict[str, Any]:
    """nvmlInit fails: 'LibraryNotFound', 'DriverNotLoaded', 'LibRmVersionMismatch'..."""
    return {"init": {"error": error}}


def two_gpus_one_lost() -> dict[str, Any]:
    """An H100 that answers, and an H200 that has fallen off the bus (its handle: GPU is lost)."""
    rec = record(H100)
    lost = record(H200)["devices"][0]
    lost["handle"] = {"error": "GpuIsLost"}
    rec["devices"].append(lost)
    rec["count"] = {"ok": 2}
    return rec


def two_gpus() -> dict[str, Any]:
    rec = record(H100)
    rec["devices"].append(record(H200)["devices"][0])
    rec["count"] = {"ok": 2}
    return rec


def memory_not_supported() -> dict[str, Any]:
    """A unified-memory device (GB10, Jetson): both memory calls answer NotSupported."""
    rec = record(H200)
    dev = rec["devices"][0]
    dev["name"] = {"ok": "NVIDIA GB10"}
    dev["memory_v1"] = {"error": "NotSupported"}
    dev["memory_v2"] = {"error": "NotSupported"}
    return rec


def v2_missing() -> dict[str, Any]:
    """An older driver: nvmlDeviceGetMemoryInfo_v2 does not exist (FunctionNotFound)."""
    rec = record(H100)
    rec["devices"][0]["memory_v2"] = {"error": "FunctionNotFound"}
    return rec


def mig_on(slices: int = 2) -> dict[str, Any]:
    """MIG enabled on the H100 with `slices` instances of 1g.10gb / 3g.40gb shape."""
    rec = record(H100)
    dev = rec["devices"][0]
    dev["mig_mode"] = {"ok": [1, 1]}
    dev["max_mig_device_count"] = {"ok": 7}
    sizes = [10_468_982_784, 42_949_672_960]
    dev["mig_devices"] = [
        {
            "name": {"ok": f"NVIDIA H100 80GB HBM3 MIG {'1g.10gb' if i % 2 == 0 else '3g.40gb'}"},
            "uuid": {"ok": f"MIG-0000000{i}-aaaa-bbbb-cccc-dddddddddddd"},
            "memory_v1": {"ok": {"total": sizes[i % 2], "free": sizes[i % 2] - 25_165_824, "used": 25_165_824}},
        }
        for i in range(slices)
    ]
    return rec
