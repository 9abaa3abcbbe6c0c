"""Know the machine: GPUs (NVIDIA, AMD, Apple, and AMD/Intel on Windows), system RAM and the CPU, as a `HardwareProfile`.

Each vendor path degrades on its own: a missing driver, library or permission becomes a sentence in
`HardwareProfile.notes`, never an exception, and the profile falls back to the CPU with the reason
(`cpu_only_reason`). Only the standard library, pynvml and psutil are imported here, so detection
also works where nothing else of Quant Doctor's dependencies is installed.
"""

from __future__ import annotations

import platform
import sys

from core.hardware.amd import detect_amd
from core.hardware.apple import detect_apple
from core.hardware.machine import (
    CpuInfo,
    GpuInfo,
    HardwareProfile,
    MigDevice,
    SystemMemory,
    load_profile,
    save_profile,
)
from core.hardware.nvidia import detect_nvidia
from core.hardware.system import cpu_info, system_memory
from core.hardware.windows import detect_windows_adapters

__all__ = [
    "CpuInfo",
    "GpuInfo",
    "HardwareProfile",
    "MigDevice",
    "SystemMemory",
    "detect_hardware",
    "load_profile",
    "save_profile",
]


def detect_hardware() -> HardwareProfile:
    """This machine as llama.cpp would see it."""
    ram = system_memory()
    profile = HardwareProfile(ram=ram, cpu=cpu_info(), source="detected", platform=platform.platform())
    nvidia = detect_nvidia(ram.total_bytes, ram.available_bytes, platform=sys.platform)
    profile.gpus.extend(nvidia.gpus)
    profile.notes.extend(nvidia.notes)
    for detect in (detect_amd, detect_apple, detect_windows_adapters):
        gpus, notes = detect()
        for gpu in gpus:
            gpu.index = len([g for g in profile.gpus if g.vendor == gpu.vendor])
            profile.gpus.append(gpu)
        profile.notes.extend(notes)
    if profile.cpu_only and not profile.notes:
        profile.notes.append("No NVIDIA, AMD or Apple GPU was found: llama.cpp will run on the CPU.")
    return profile
