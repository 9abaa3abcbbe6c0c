"""NVIDIA GPUs through NVML (`import pynvml`, from the nvidia-ml-py package).

Every NVML call goes through one chokepoint, `Nvml`, like gpustat's and nvitop's wrappers:

- `Nvml.call` makes a call and lets NVML errors through, for the calls the detection cannot do
  without (the device count, a handle);
- `Nvml.field` makes a call and turns "this device does not answer that" (NotSupported,
  FunctionNotFound, NoPermission, any other NVML error) into `None`, so one missing field never
  hides a GPU; only `GpuIsLost` escapes, as `GpuLost`, so the GPU is listed as lost and the others
  still show.

Start-up failures become a CPU-only answer with the reason in words: no driver library
(LibraryNotFound), a driver that is not loaded (DriverNotLoaded), a library and kernel module of
different versions (LibRmVersionMismatch, usually a driver update without a reboot).

Memory uses the v2 call first (it reports what the driver reserves, so `free` is what a program can
get) and falls back to v1 where the driver lacks it (FunctionNotFound). Devices without their own
memory (GB10, Jetson: NotSupported, or a total of 0) count system RAM, as CUDA's unified memory does.
`CUDA_VISIBLE_DEVICES` is honoured the way the CUDA runtime reads it.

`QUANTDOCTOR_FAKE_NVML=fixture.json` replays a recorded NVML session instead of asking the driver
(see core.hardware.nvml_replay): a test and demo hook only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from core.hardware.machine import GIB, GpuInfo, MigDevice

FAKE_ENV = "QUANTDOCTOR_FAKE_NVML"


class GpuLost(Exception):
    """NVML_ERROR_GPU_IS_LOST: the GPU fell off the bus or stopped answering."""


def _codes(lib: Any) -> dict[str, int]:
    names = (
        "NOT_SUPPORTED", "NO_PERMISSION", "FUNCTION_NOT_FOUND", "GPU_IS_LOST", "LIBRARY_NOT_FOUND",
        "DRIVER_NOT_LOADED", "LIB_RM_VERSION_MISMATCH", "INSUFFICIENT_POWER", "UNINITIALIZED",
    )  # fmt: skip
    return {n: getattr(lib, f"NVML_ERROR_{n}", -1) for n in names}


class Nvml:
    """The one door to NVML. `lib` is the pynvml module or a replay of a recorded session."""

    def __init__(self, lib: Any) -> None:
        self.lib = lib
        self.codes = _codes(_pynvml_constants(lib))

    def error_code(self, exc: BaseException) -> int | None:
        value = getattr(exc, "value", None)
        return value if isinstance(value, int) else None

    def is_nvml_error(self, exc: BaseException) -> bool:
        cls = getattr(self.lib, "NVMLError", None)
        return isinstance(cls, type) and isinstance(exc, cls)

    def call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        func = getattr(self.lib, fn, None)
        if func is None:
            raise _missing_function(self.lib, fn)
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if self.is_nvml_error(exc) and self.error_code(exc) == self.codes["GPU_IS_LOST"]:
                raise GpuLost(fn) from exc
            raise

    def field(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """The answer, or None when this device does not give one; GpuLost still escapes."""
        try:
            return self.call(fn, *args, **kwargs)
        except GpuLost:
            raise
        except Exception as exc:
            if self.is_nvml_error(exc) or isinstance(exc, (AttributeError, TypeError, ValueError)):
                return None
            raise


def _pynvml_constants(lib: Any) -> Any:
    if hasattr(lib, "NVML_ERROR_GPU_IS_LOST"):
        return lib
    import pynvml  # a replay object borrows the real module's constants

    return pynvml


def _missing_function(lib: Any, fn: str) -> Exception:
    err = getattr(lib, "NVMLError", None)
    code = getattr(_pynvml_constants(lib), "NVML_ERROR_FUNCTION_NOT_FOUND", 13)
    if isinstance(err, type) and issubclass(err, Exception):
        return err(code)
    return AttributeError(fn)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip() or None


@dataclass
class NvidiaResult:
    gpus: list[GpuInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_library() -> Any:
    """pynvml, or a replay when QUANTDOCTOR_FAKE_NVML names a recorded session."""
    fake = os.environ.get(FAKE_ENV)
    if fake:
        from core.hardware.nvml_replay import ReplayNvml, load_record

        return ReplayNvml(load_record(fake))
    import pynvml

    return pynvml


_START_REASONS = {
    "LIBRARY_NOT_FOUND": (
        "No NVIDIA driver was found (the NVML library, libnvidia-ml, is not installed), so no NVIDIA GPU can be used."
    ),
    "DRIVER_NOT_LOADED": (
        "The NVIDIA driver is installed but not running (no NVIDIA GPU in this machine, or its kernel "
        "module failed to load)."
    ),
    "LIB_RM_VERSION_MISMATCH": (
        "The NVIDIA driver library and its kernel module have different versions, usually after a "
        "driver update without a restart: restart the computer."
    ),
    "NO_PERMISSION": "This user may not talk to the NVIDIA driver (NVML: no permission).",
}

# Windows: no kernel module to load or to mismatch, a driver installed from NVIDIA's installer or Windows
# Update; an AMD or Intel card is read separately (core.hardware.windows).
_WINDOWS_REASONS = {
    "LIBRARY_NOT_FOUND": (
        "No NVIDIA driver was found (nvml.dll is not in System32 or in NVIDIA Corporation\\NVSMI), so no "
        "NVIDIA GPU can be used."
    ),
    "DRIVER_NOT_LOADED": "The NVIDIA driver is installed but not running: reinstall it, or restart the computer.",
    "LIB_RM_VERSION_MISMATCH": (
        "nvml.dll and the running NVIDIA driver have different versions, usually after a driver update "
        "without a restart: restart the computer."
    ),
}

_MAC_NO_NVIDIA = "No NVIDIA driver was found: Macs have had none since macOS 10.13, so only Apple's own GPU counts."


def detect_nvidia(
    ram_total: int | None = None, ram_available: int | None = None, platform: str = sys.platform
) -> NvidiaResult:
    """Every NVIDIA GPU this process may use; never raises for a machine's state.

    On macOS (no NVIDIA driver since 10.13) the library is simply not found, said in those words. On Windows nvidia-ml-py loads nvml.dll from System32 (the driver puts it there since the DCH
    drivers) or from "%ProgramFiles%\\NVIDIA Corporation\\NVSMI" (pynvml's _LoadNvmlLibrary); a missing
    one is LibraryNotFound, said in Windows' words."""
    try:
        lib = load_library()
    except ImportError:
        return NvidiaResult(notes=["nvidia-ml-py is not installed, so NVIDIA GPUs cannot be seen."])
    nvml = Nvml(lib)
    try:
        nvml.call("nvmlInit")
    except Exception as exc:
        return NvidiaResult(notes=[_start_failure(nvml, exc, platform)])
    try:
        return _detect(nvml, ram_total, ram_available)
    finally:
        with contextlib.suppress(GpuLost):
            nvml.field("nvmlShutdown")


def _start_failure(nvml: Nvml, exc: BaseException, platform: str = sys.platform) -> str:
    code = nvml.error_code(exc) if nvml.is_nvml_error(exc) else None
    reasons = {**_START_REASONS, **_WINDOWS_REASONS} if platform.startswith("win") else _START_REASONS
    if platform == "darwin":
        reasons = {**_START_REASONS, "LIBRARY_NOT_FOUND": _MAC_NO_NVIDIA}
    for name, reason in reasons.items():
        if code is not None and code == nvml.codes[name]:
            return reason
    return f"The NVIDIA driver could not be queried (NVML: {exc})."


def _cuda_version(value: Any) -> str | None:
    if not isinstance(value, int) or value <= 0:
        return None
    return f"{value // 1000}.{value % 1000 // 10}"


def _detect(nvml: Nvml, ram_total: int | None, ram_available: int | None) -> NvidiaResult:
    result = NvidiaResult()
    try:
        driver = _text(nvml.field("nvmlSystemGetDriverVersion"))
        cuda = _cuda_version(nvml.field("nvmlSystemGetCudaDriverVersion"))
        count = nvml.call("nvmlDeviceGetCount")
    except Exception as exc:
        result.notes.append(f"The NVIDIA driver answered but could not count its GPUs (NVML: {exc}).")
        return result
    visible = visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"))
    for index in range(int(count or 0)):
        gpu = _one_gpu(nvml, index, ram_total, ram_available)
        gpu.driver_version, gpu.cuda_driver_version = driver, cuda
        if visible is not None and not _is_visible(gpu, index, visible):
            result.notes.append(f"CUDA_VISIBLE_DEVICES hides GPU {index} ({gpu.name}).")
            continue
        result.gpus.append(gpu)
    if not result.gpus and not result.notes:
        result.notes.append("The NVIDIA driver is running but reports no GPU.")
    return result


def _one_gpu(nvml: Nvml, index: int, ram_total: int | None, ram_available: int | None) -> GpuInfo:
    gpu = GpuInfo(vendor="nvidia", index=index, name=f"NVIDIA GPU {index}", backend="cuda")
    try:
        handle = nvml.call("nvmlDeviceGetHandleByIndex", index)
        gpu.name = _text(nvml.field("nvmlDeviceGetName", handle)) or gpu.name
        gpu.uuid = _text(nvml.field("nvmlDeviceGetUUID", handle))
        _memory(nvml, handle, gpu, ram_total, ram_available)
        cc = nvml.field("nvmlDeviceGetCudaComputeCapability", handle)
        if isinstance(cc, tuple | list) and len(cc) == 2:
            gpu.compute_capability = f"{cc[0]}.{cc[1]}"
        gpu.memory_bus_width_bits = _positive(nvml.field("nvmlDeviceGetMemoryBusWidth", handle))
        gpu.memory_clock_mhz = _positive(nvml.field("nvmlDeviceGetMaxClockInfo", handle, nvml.lib.NVML_CLOCK_MEM))
        gpu.bandwidth_gbps = bandwidth_gbps(gpu.memory_bus_width_bits, gpu.memory_clock_mhz)
        _mig(nvml, handle, gpu)
    except GpuLost:
        gpu.lost = True
        gpu.usable_bytes = 0
        gpu.notes.append("This GPU has fallen off the bus (NVML: GPU is lost); it needs a reset or a restart.")
    except Exception as exc:  # a handle that cannot be had: list it, unusable, with the reason
        gpu.usable_bytes = 0
        gpu.notes.append(f"This GPU could not be queried (NVML: {exc}).")
    return gpu


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def bandwidth_gbps(bus_width_bits: int | None, memory_clock_mhz: int | None) -> float | None:
    """Peak memory bandwidth from NVML's bus width and maximum memory clock.

    NVML reports the memory clock at half the transfer rate for GDDR6/6X/7 and HBM alike, so two
    transfers per clock: 384 bit x 10501 MHz x 2 = 1008 GB/s (RTX 4090), 6016 bit x 3201 MHz x 2 =
    4814 GB/s (H200, spec sheet 4.8 TB/s).
    """
    if not bus_width_bits or not memory_clock_mhz:
        return None
    return round(bus_width_bits / 8 * memory_clock_mhz * 2 / 1000, 1)


def _memory(nvml: Nvml, handle: Any, gpu: GpuInfo, ram_total: int | None, ram_available: int | None) -> None:
    info = None
    try:
        info = nvml.call("nvmlDeviceGetMemoryInfo", handle, version=nvml.lib.nvmlMemory_v2)
    except GpuLost:
        raise
    except Exception as exc:
        code = nvml.error_code(exc) if nvml.is_nvml_error(exc) else None
        # NotSupported: no memory of its own (unified, below); otherwise FunctionNotFound (an older
        # driver) or an nvidia-ml-py without the v2 call: ask v1
        info = None if code == nvml.codes["NOT_SUPPORTED"] else nvml.field("nvmlDeviceGetMemoryInfo", handle)
    total = _positive(getattr(info, "total", None)) if info is not None else None
    if total is None:
        gpu.unified_memory = True
        gpu.total_bytes, gpu.free_bytes, gpu.usable_bytes = ram_total, ram_available, ram_available
        gpu.notes.append(
            "This GPU has no memory of its own that NVML reports (unified memory, as on GB10 or Jetson): "
            "system RAM is counted instead."
        )
        return
    gpu.total_bytes = total
    gpu.free_bytes = _count(getattr(info, "free", None))
    gpu.used_bytes = _count(getattr(info, "used", None))
    gpu.reserved_bytes = _count(getattr(info, "reserved", None))
    gpu.usable_bytes = gpu.free_bytes if gpu.free_bytes is not None else total - (gpu.reserved_bytes or 0)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _mig(nvml: Nvml, handle: Any, gpu: GpuInfo) -> None:
    mode = nvml.field("nvmlDeviceGetMigMode", handle)
    if not isinstance(mode, list | tuple) or not mode:
        return  # consumer cards: MIG does not exist, the field stays unknown
    gpu.mig_enabled = mode[0] == getattr(nvml.lib, "NVML_DEVICE_MIG_ENABLE", 1)
    if not gpu.mig_enabled:
        return
    n = nvml.field("nvmlDeviceGetMaxMigDeviceCount", handle) or 0
    for j in range(int(n)):
        mig_handle = nvml.field("nvmlDeviceGetMigDeviceHandleByIndex", handle, j)
        if mig_handle is None:
            continue
        mem = nvml.field("nvmlDeviceGetMemoryInfo", mig_handle)
        gpu.mig_devices.append(
            MigDevice(
                index=j,
                name=_text(nvml.field("nvmlDeviceGetName", mig_handle)),
                uuid=_text(nvml.field("nvmlDeviceGetUUID", mig_handle)),
                total_bytes=_count(getattr(mem, "total", None)),
                free_bytes=_count(getattr(mem, "free", None)),
            )
        )
    sizes = [m.free_bytes for m in gpu.mig_devices if m.free_bytes is not None]
    if sizes:
        gpu.usable_bytes = max(sizes)
        gpu.notes.append(
            f"MIG is on: a program gets one MIG slice, not the whole card; the largest slice has "
            f"{max(sizes) / GIB:.1f} GiB free."
        )
    else:
        gpu.usable_bytes = 0
        gpu.notes.append("MIG is on but no MIG slice is set up, so CUDA programs cannot use this GPU.")


def visible_devices(value: str | None) -> list[str] | None:
    """CUDA_VISIBLE_DEVICES as the CUDA runtime reads it: None = all; stops at the first bad entry."""
    if value is None:
        return None
    out: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if entry.isdigit() or entry.startswith(("GPU-", "MIG-")):
            out.append(entry)
        else:
            break  # "-1", "" or garbage: CUDA ignores this entry and everything after it
    return out


def _is_visible(gpu: GpuInfo, index: int, visible: list[str]) -> bool:
    for entry in visible:
        if entry.isdigit() and int(entry) == index:
            return True
        if gpu.uuid and entry.startswith("GPU-") and gpu.uuid.startswith(entry):
            return True
        if entry.startswith("MIG-") and any(m.uuid == entry for m in gpu.mig_devices):
            return True
    return False
