"""Replay a recorded NVML session: what a real GPU answered, call by call, without the GPU.

Fixtures (tests/fixtures/nvml/*.json) record each NVML call a real machine answered as
`{"ok": value}` or `{"error": "NotSupported"}` (any NVML error name or number). `ReplayNvml`
offers the same functions as `pynvml` and answers them from such a record, raising pynvml's own
`NVMLError` subclasses, so code under test cannot tell it from the library.

Two users: the tests install these functions on the `pynvml` module (the library seam), and the
`QUANTDOCTOR_FAKE_NVML=path/to/fixture.json` environment variable makes `core.hardware` use a
replay instead of the driver. That variable is a test and demo hook: it lets anyone see what
Quant Doctor shows on an H200 from a laptop; it is never needed in normal use.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

from core import jsonfile
from core.errors import HardwareProfileError
from core.files import user_path
from core.textnum import VERSION_PART, json_whole, whole_or_none

_CLOCK_KEYS = {1: "max_clock_sm", 2: "max_clock_mem"}  # NVML_CLOCK_SM, NVML_CLOCK_MEM

# pynvml function -> fixture key, for the per-device calls that take only a handle
_DEVICE_CALLS = {
    "nvmlDeviceGetName": "name",
    "nvmlDeviceGetUUID": "uuid",
    "nvmlDeviceGetBrand": "brand",
    "nvmlDeviceGetArchitecture": "architecture",
    "nvmlDeviceGetMemoryBusWidth": "memory_bus_width",
    "nvmlDeviceGetNumGpuCores": "num_cores",
    "nvmlDeviceGetPowerManagementLimit": "power_limit_mw",
    "nvmlDeviceGetMigMode": "mig_mode",
    "nvmlDeviceGetComputeMode": "compute_mode",
    "nvmlDeviceGetPersistenceMode": "persistence_mode",
    "nvmlDeviceGetVirtualizationMode": "virtualization_mode",
    "nvmlDeviceGetDisplayActive": "display_active",
    "nvmlDeviceGetEccMode": "ecc_mode",
    "nvmlDeviceGetVbiosVersion": "vbios",
    "nvmlDeviceGetMaxPcieLinkGeneration": "pcie_gen_max",
    "nvmlDeviceGetMaxPcieLinkWidth": "pcie_width_max",
    "nvmlDeviceGetMaxMigDeviceCount": "max_mig_device_count",
}
_SYSTEM_CALLS = {
    "nvmlSystemGetDriverVersion": "driver",
    "nvmlSystemGetCudaDriverVersion": "cuda_driver",
    "nvmlSystemGetCudaDriverVersion_v2": "cuda_driver",
    "nvmlSystemGetNVMLVersion": "nvml_version",
    "nvmlDeviceGetCount": "count",
}


def error_code(name: str | int) -> int:
    """'NotSupported' / 'GPU_IS_LOST' / 15 -> pynvml's NVML_ERROR_* number."""
    if isinstance(name, int):
        return name
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()
    code = getattr(pynvml, f"NVML_ERROR_{snake}", None)
    if not isinstance(code, int):
        raise HardwareProfileError(f"'{name}' is not an NVML error name.")
    return code


def _answer(entry: Any, what: str) -> Any:
    if not isinstance(entry, dict):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)  # the machine was not asked: treat as unanswered
    if "error" in entry:
        raise pynvml.NVMLError(error_code(entry["error"]))
    return entry.get("ok")


class _Handle:
    def __init__(self, record: dict[str, Any], index: int, parent: _Handle | None = None) -> None:
        self.record = record
        self.index = index
        self.parent = parent


class ReplayNvml:
    """A stand-in for the `pynvml` module, answering from one recorded session."""

    NVMLError = pynvml.NVMLError
    nvmlMemory_v2 = pynvml.nvmlMemory_v2
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.initialized = False
        self.calls: list[str] = []

    # -- session ------------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        _answer(self.record.get("init", {"ok": None}), "init")
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.calls.append("nvmlShutdown")
        self._need_init()
        self.initialized = False

    def _need_init(self) -> None:
        if not self.initialized:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)

    def __getattr__(self, fn: str) -> Any:
        if fn in _SYSTEM_CALLS:
            key = _SYSTEM_CALLS[fn]

            def system_call() -> Any:
                self.calls.append(fn)
                self._need_init()
                return _answer(self.record.get(key), key)

            return system_call
        if fn in _DEVICE_CALLS:
            key = _DEVICE_CALLS[fn]

            def device_call(handle: _Handle) -> Any:
                self.calls.append(fn)
                self._need_init()
                return _answer(handle.record.get(key), key)

            return device_call
        raise AttributeError(fn)

    # -- devices ------------------------------------------------------------------------------
    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self.calls.append("nvmlDeviceGetHandleByIndex")
        self._need_init()
        devices = self.record.get("devices") or []
        if not 0 <= index < len(devices):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        record = devices[index]
        if "handle" in record:
            _answer(record["handle"], "handle")
        return _Handle(record, index)

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle, version: int | None = None) -> SimpleNamespace:
        self.calls.append("nvmlDeviceGetMemoryInfo_v2" if version else "nvmlDeviceGetMemoryInfo")
        self._need_init()
        key = "memory_v2" if version else "memory_v1"
        value = _answer(handle.record.get(key), key)
        return SimpleNamespace(**value)

    def nvmlDeviceGetCudaComputeCapability(self, handle: _Handle) -> tuple[int, int]:
        self.calls.append("nvmlDeviceGetCudaComputeCapability")
        self._need_init()
        value = _answer(handle.record.get("cuda_compute_capability"), "cuda_compute_capability")
        if isinstance(value, str):  # recorded as the tuple's repr, "(9, 0)"
            nums = [whole_or_none(x, VERSION_PART) for x in re.findall(r"\d+", value)]
        else:
            nums = [json_whole(x, VERSION_PART) for x in value] if isinstance(value, list | tuple) else []
        if len(nums) != 2 or nums[0] is None or nums[1] is None:  # not what NVML answers: an unanswered field
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
        return nums[0], nums[1]

    def nvmlDeviceGetMaxClockInfo(self, handle: _Handle, clock: int) -> Any:
        self.calls.append("nvmlDeviceGetMaxClockInfo")
        self._need_init()
        key = _CLOCK_KEYS.get(clock, f"max_clock_{clock}")
        return _answer(handle.record.get(key), key)

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: _Handle, index: int) -> _Handle:
        self.calls.append("nvmlDeviceGetMigDeviceHandleByIndex")
        self._need_init()
        migs = handle.record.get("mig_devices") or []
        if not 0 <= index < len(migs) or migs[index] is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return _Handle(migs[index], index, handle)


def load_record(path: str | Path) -> dict[str, Any]:
    p = user_path(path, HardwareProfileError)
    fix = "Unset QUANTDOCTOR_FAKE_NVML, or point it at a fixture such as tests/fixtures/nvml/h200-driver580.json."
    data: dict[str, Any] = jsonfile.load(p, "recorded NVML session", HardwareProfileError, fix=fix)
    return data
