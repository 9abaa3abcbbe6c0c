"""AMD and Intel GPUs on Windows: the adapter's own memory, read without a vendor SDK.

NVIDIA cards are NVML's (core.hardware.nvidia, nvml.dll through nvidia-ml-py). For the others, Windows
keeps what each display driver reported in the registry, under the Display adapter device class
(Microsoft, "System-Defined Device Setup Classes Available to Vendors": Display,
{4d36e968-e325-11ce-bfc1-08002be10318}), one numbered subkey per adapter:

- `DriverDesc`: the adapter's name as Device Manager shows it;
- `MatchingDeviceId`: `PCI\\VEN_1002&DEV_...` (AMD), `PCI\\VEN_8086&...` (Intel), `PCI\\VEN_10DE` (NVIDIA);
- `HardwareInformation.qwMemorySize`: dedicated memory in bytes, a 64-bit value (written by WDDM 2
  drivers; StabilityMatrix's HardwareHelper reads the same value for its VRAM figure);
- `HardwareInformation.MemorySize`: the older 32-bit value, which stops at 4 GiB (the same limit as
  WMI's Win32_VideoController.AdapterRAM, a uint32) — used only when the 64-bit one is missing, and
  then said to be a lower bound.

llama.cpp drives these cards with Vulkan on Windows (its release builds: `llama-*-bin-win-vulkan-x64`).
An adapter whose dedicated memory is under 1 GiB is integrated graphics sharing system RAM: a note says so,
and the plan uses the RAM. Anything unreadable is a sentence, never an exception: "not detected — choose
your card in What if".
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from core.hardware.machine import GIB, GpuInfo

DISPLAY_CLASS = r"SYSTEM\CurrentControlSet\Control\Class\{4d36e968-e325-11ce-bfc1-08002be10318}"
VENDORS = {"1002": "amd", "1022": "amd", "8086": "intel"}  # PCI vendor ids; 10DE (NVIDIA) is NVML's
INTEGRATED_BELOW = 1 * GIB
NOT_DETECTED = (
    "No AMD or Intel graphics memory could be read on this Windows machine: choose your card in "
    "“What if I had:” on the Machine page (or pass --gpu NAME) to plan with its memory."
)

Adapter = dict[str, object]  # one adapter subkey's values, by value name
AdapterReader = Callable[[], list[Adapter]]


def read_display_adapters() -> list[Adapter]:
    """Every numbered subkey of the Display class, as {value name: value} (Windows only)."""
    if sys.platform != "win32":
        return []
    import winreg

    adapters: list[Adapter] = []
    with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, DISPLAY_CLASS) as root:
        index = 0
        while True:
            try:
                sub = winreg.EnumKey(root, index)
            except OSError:
                break
            index += 1
            if not sub.isdigit():  # "Properties" and friends
                continue
            values: Adapter = {}
            try:
                with winreg.OpenKey(root, sub) as key:
                    j = 0
                    while True:
                        try:
                            name, value, _kind = winreg.EnumValue(key, j)
                        except OSError:
                            break
                        values[name] = value
                        j += 1
            except OSError:  # an adapter key this user may not open
                continue
            adapters.append(values)
    return adapters


def _memory(values: Adapter) -> tuple[int | None, bool]:
    """(bytes, exact): the 64-bit size, else the 32-bit one (a lower bound at 4 GiB)."""
    q = values.get("HardwareInformation.qwMemorySize")
    if isinstance(q, int) and q > 0:
        return q, True
    if isinstance(q, bytes) and len(q) == 8:
        return int.from_bytes(q, "little") or None, True
    d = values.get("HardwareInformation.MemorySize")
    if isinstance(d, int) and d > 0:
        return d, d < 0xFFFFFFFF
    if isinstance(d, bytes) and len(d) == 4:
        size = int.from_bytes(d, "little")
        return size or None, size < 0xFFFFFFFF
    return None, False


def detect_windows_adapters(
    read: AdapterReader = read_display_adapters, platform: str = sys.platform
) -> tuple[list[GpuInfo], list[str]]:
    """(GPUs, notes) for the AMD and Intel adapters Windows lists; other platforms: nothing."""
    if not platform.startswith("win"):
        return [], []
    try:
        adapters = read()
    except Exception as exc:  # a registry this user may not read
        return [], [f"The graphics adapters could not be read from the registry ({exc}). {NOT_DETECTED}"]
    gpus: list[GpuInfo] = []
    notes: list[str] = []
    seen_other = False
    for values in adapters:
        device_id = str(values.get("MatchingDeviceId") or "")
        m = re.search(r"VEN_([0-9A-Fa-f]{4})", device_id)
        vendor = VENDORS.get(m.group(1).lower()) if m else None
        if vendor is None:
            seen_other = True
            continue
        name = str(values.get("DriverDesc") or values.get("HardwareInformation.AdapterString") or f"{vendor} GPU")
        size, exact = _memory(values)
        index = len([g for g in gpus if g.vendor == vendor])
        if size is None:
            notes.append(f"{name}: Windows does not say how much memory it has. {NOT_DETECTED}")
            continue
        if size < INTEGRATED_BELOW:  # integrated: its memory is system RAM, which the CPU plan already counts
            notes.append(
                f"{name} is integrated graphics ({size / 2**20:.0f} MiB of its own; it shares system RAM): "
                "Quant Doctor plans with the RAM."
            )
            continue
        gpu = GpuInfo(vendor=vendor, index=index, name=name, backend="vulkan", total_bytes=size, usable_bytes=size)
        version = values.get("DriverVersion")
        gpu.driver_version = str(version) if version else None
        gpu.notes.append(
            f"Dedicated memory as the driver reported it to Windows ({size / GIB:.1f} GiB); how much is in "
            "use now is not known without the vendor's tools, so leave room for the desktop."
            if exact
            else "Windows reports at most 4 GiB for this card (an older driver value): it may have more. "
            "Choose it in “What if I had:” on the Machine page for its real size."
        )
        gpus.append(gpu)
    if not gpus and not notes and not seen_other:
        notes.append(NOT_DETECTED)
    return gpus, notes
