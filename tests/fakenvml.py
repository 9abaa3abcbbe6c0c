"""A fake NVML at the library seam, built from what real GPUs answered.

The fixtures in tests/fixtures/nvml/ are recorded NVML sessions (an H200 and an H100 80GB on
driver 580, call by call). `install` replaces the functions of the real `pynvml` module with a
replay of such a record, so core.hardware runs its real code path, chokepoint included, against
answers a real driver gave. The scenario helpers edit a copy of the record the way a real machine
would answer in that situation (no driver, a lost GPU, MIG, an old driver without the v2 call...).

The recordings live in the repository, so every test runs on a plain clone; how they were made and the
script that makes new ones (tests/bench/record_nvml.py) are in tests/fixtures/nvml/README.md. Each scenario
below cites where the answer it writes comes from: pynvml's own error names (nvidia-ml-py's pynvml.py,
`NVML_ERROR_*` and the `NVMLError_<Name>` classes it makes from them), NVIDIA's NVML API reference, NVIDIA's
MIG user guide, or a public report from a real machine.
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
    """nvmlInit fails: 'LibraryNotFound', 'DriverNotLoaded', 'LibRmVersionMismatch'...

    Source: the NVML API reference, nvmlInit_v2's return values (NVML_ERROR_DRIVER_NOT_LOADED "if NVIDIA driver
    is not running", NVML_ERROR_LIB_RM_VERSION_MISMATCH after a driver upgrade without a reboot); pynvml raises
    NVML_ERROR_LIBRARY_NOT_FOUND itself when libnvidia-ml.so.1 cannot be loaded (`_LoadNvmlLibrary`)."""
    return {"init": {"error": error}}


def two_gpus_one_lost() -> dict[str, Any]:
    """An H100 that answers, and an H200 that has fallen off the bus (its handle: GPU is lost).

    Source: NVML API reference, NVML_ERROR_GPU_IS_LOST ("The GPU has fallen off the bus or has otherwise become
    inaccessible"), which nvmlDeviceGetHandleByIndex_v2 lists among its return values. The two recordings are
    joined as nvmlDeviceGetCount would then report two devices."""
    rec = record(H100)
    lost = record(H200)["devices"][0]
    lost["handle"] = {"error": "GpuIsLost"}
    rec["devices"].append(lost)
    rec["count"] = {"ok": 2}
    return rec


def two_gpus() -> dict[str, Any]:
    """The two real recordings as one machine's two devices (each device's answers unchanged)."""
    rec = record(H100)
    rec["devices"].append(record(H200)["devices"][0])
    rec["count"] = {"ok": 2}
    return rec


def memory_not_supported() -> dict[str, Any]:
    """A unified-memory device (GB10, Jetson): both memory calls answer NotSupported.

    Source: a raw ctypes call on a DGX Spark, driver 580.173.02, posted in XuehaiPan/nvitop pull request #208
    ("nvmlDeviceGetMemoryInfo -> NVML_ERROR_NOT_SUPPORTED", the same for _v2); NVIDIA's DGX Spark known issues
    ("nvidia-smi reports memory usage Not Supported"); leptonai/gpud pull request #1170 logs both calls failing
    with "Not Supported" on an "NVIDIA-GB10". The device name as nvidia-smi prints it there: "NVIDIA GB10"."""
    rec = record(H200)
    dev = rec["devices"][0]
    dev["name"] = {"ok": "NVIDIA GB10"}
    dev["memory_v1"] = {"error": "NotSupported"}
    dev["memory_v2"] = {"error": "NotSupported"}
    return rec


def v2_missing() -> dict[str, Any]:
    """An older driver: nvmlDeviceGetMemoryInfo_v2 does not exist (FunctionNotFound).

    Source: pynvml's `_nvmlGetFunctionPointer` raises NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND) when the loaded
    libnvidia-ml lacks the symbol; the _v2 memory call (with `reserved`) arrived with the R510 drivers."""
    rec = record(H100)
    rec["devices"][0]["memory_v2"] = {"error": "FunctionNotFound"}
    return rec


def mig_on(slices: int = 2) -> dict[str, Any]:
    """MIG enabled on the H100 with `slices` instances of 1g.10gb / 3g.40gb shape.

    Source: NVIDIA's MIG user guide, "Supported MIG Profiles" (the 80GB parts' profile names 1g.10gb ... 7g.80gb)
    and "Supported GPUs" (H100-SXM5 80GB: at most 7 instances, what nvmlDeviceGetMaxMigDeviceCount answers);
    nvmlDeviceGetMigMode answers [current, pending], 1 = NVML_DEVICE_MIG_ENABLE. The slices' byte sizes are
    illustrative (9,984 MiB for 1g.10gb, 40 GiB for 3g.40gb), not recorded: the code under test reads them, it
    does not check them against a profile."""
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
