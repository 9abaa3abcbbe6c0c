"""AMD GPUs: through `amdsmi` (ROCm's Python bindings) when installed, else Linux sysfs.

amdsmi is not on PyPI for every platform, so it is optional: without it, Linux still tells the VRAM
size and use of each amdgpu card in /sys/class/drm/cardN/device/mem_info_vram_{total,used}. Any
failure degrades to "no AMD GPU seen" with the reason, never to a crash.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from core.errors import QuantDoctorError
from core.files import read_head
from core.hardware.machine import GpuInfo
from core.textnum import BYTES, whole_or_none

AMD_PCI_VENDOR = "0x1002"
_MB = 1024 * 1024


def detect_amd(drm: Path = Path("/sys/class/drm"), platform: str = sys.platform) -> tuple[list[GpuInfo], list[str]]:
    try:
        import amdsmi
    except ImportError:
        return (_from_sysfs(drm), []) if platform.startswith("linux") else ([], [])
    except Exception as exc:  # a broken ROCm install can fail on import
        return _from_sysfs(drm), [f"AMD's amdsmi library failed to load ({exc}); sizes come from sysfs."]
    try:
        return _from_amdsmi(amdsmi), []
    except Exception as exc:
        gpus = _from_sysfs(drm) if platform.startswith("linux") else []
        return gpus, [f"AMD's amdsmi library could not list the GPUs ({exc})."]


def _from_amdsmi(amdsmi: Any) -> list[GpuInfo]:
    flags = getattr(getattr(amdsmi, "AmdSmiInitFlags", None), "INIT_AMD_GPUS", None)
    amdsmi.amdsmi_init(flags) if flags is not None else amdsmi.amdsmi_init()
    try:
        gpus = []
        for i, handle in enumerate(amdsmi.amdsmi_get_processor_handles()):
            gpu = GpuInfo(vendor="amd", index=i, name=f"AMD GPU {i}", backend="rocm")
            asic = _safe(amdsmi.amdsmi_get_gpu_asic_info, handle) or {}
            gpu.name = str(asic.get("market_name") or gpu.name)
            gpu.uuid = _safe(amdsmi.amdsmi_get_gpu_device_uuid, handle)
            usage = _safe(amdsmi.amdsmi_get_gpu_vram_usage, handle) or {}
            total, used = usage.get("vram_total"), usage.get("vram_used")
            if isinstance(total, int) and total > 0:
                gpu.total_bytes = total * _MB
                if isinstance(used, int):
                    gpu.used_bytes = used * _MB
                    gpu.free_bytes = gpu.usable_bytes = max(0, (total - used) * _MB)
            info = _safe(amdsmi.amdsmi_get_gpu_vram_info, handle) or {}
            width = info.get("vram_bit_width")
            gpu.memory_bus_width_bits = width if isinstance(width, int) and width > 0 else None
            driver = _safe(amdsmi.amdsmi_get_gpu_driver_info, handle) or {}
            gpu.driver_version = driver.get("driver_version") or None
            gpus.append(gpu)
        return gpus
    finally:
        _safe(amdsmi.amdsmi_shut_down)


def _safe(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        return None


def _from_sysfs(drm: Path) -> list[GpuInfo]:
    gpus: list[GpuInfo] = []
    if not drm.is_dir():
        return gpus
    for card in sorted(drm.glob("card[0-9]*")):
        dev = card / "device"
        if "-" in card.name or _read(dev / "vendor") != AMD_PCI_VENDOR:
            continue
        total = _read_int(dev / "mem_info_vram_total")
        if not total:
            continue
        used = _read_int(dev / "mem_info_vram_used")
        name = _read(dev / "product_name") or f"AMD GPU ({_read(dev / 'device') or card.name})"
        gpu = GpuInfo(vendor="amd", index=len(gpus), name=name, backend="rocm", total_bytes=total)
        if used is not None:
            gpu.used_bytes = used
            gpu.free_bytes = gpu.usable_bytes = max(0, total - used)
        gpu.notes.append("Read from Linux sysfs (amdsmi is not installed): no bandwidth or driver details.")
        gpus.append(gpu)
    return gpus


def _read(path: Path) -> str | None:
    try:  # a sysfs attribute, through the file door: bounded, and a read error (EIO) is None, not a traceback
        return read_head(path, 4096, "a sysfs file").decode("utf-8", errors="replace").strip() or None
    except QuantDoctorError:
        return None


def _read_int(path: Path) -> int | None:
    """A size in bytes from a sysfs attribute, through the numbers door (str.isdigit() takes '²' and '٣')."""
    return whole_or_none(_read(path), BYTES)
