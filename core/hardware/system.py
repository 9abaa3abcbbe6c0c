"""System RAM and the CPU: what CPU-only and partially offloaded runs depend on.

RAM comes from psutil (with /proc/meminfo and sysctl as fallbacks). The CPU's model and its
vector extensions matter for CPU speed: llama.cpp's CPU kernels are several times faster with
AVX2 than without, and faster again with AVX-512.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from core.errors import QuantDoctorError
from core.files import read_head
from core.hardware.machine import CpuInfo, SystemMemory
from core.textnum import BYTES, KIB, whole_or_none

Runner = Callable[[list[str]], str | None]


def run_quiet(cmd: list[str]) -> str | None:
    """A command's stdout, or None when it is missing, fails or hangs."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def system_memory(meminfo: Path = Path("/proc/meminfo"), run: Runner = run_quiet) -> SystemMemory:
    try:
        import psutil

        vm = psutil.virtual_memory()
        return SystemMemory(total_bytes=int(vm.total), available_bytes=int(vm.available))
    except Exception:  # psutil missing or refusing (sandboxes): fall back below
        pass
    text = _system_file(meminfo)
    if text is not None:
        values: dict[str, int] = {}
        for line in text.splitlines():
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            kib = whole_or_none(m.group(2), KIB) if m else None
            if m and kib is not None:
                values[m.group(1)] = kib * 1024
        return SystemMemory(values.get("MemTotal"), values.get("MemAvailable"))
    if sys.platform == "darwin":
        total = run(["sysctl", "-n", "hw.memsize"])
        return SystemMemory(whole_or_none(total, BYTES), None)
    return SystemMemory()


def _system_file(path: Path) -> str | None:
    """A /proc file's text through the file door (bounded, a regular file, read errors typed); None when absent
    or unreadable, so the next way of asking the system is tried."""
    try:
        return read_head(path, 4 << 20, "a system file").decode("utf-8", errors="replace")
    except QuantDoctorError:
        return None


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo"), run: Runner = run_quiet) -> CpuInfo:
    info = CpuInfo(arch=platform.machine() or None, logical_cores=os.cpu_count())
    try:
        import psutil

        info.physical_cores = psutil.cpu_count(logical=False)
    except Exception:
        pass
    text = _system_file(cpuinfo)
    if text is not None:
        _linux_cpu(info, text)
    elif sys.platform == "darwin":
        _mac_cpu(info, run)
    elif sys.platform == "win32":
        _windows_cpu(info)
    if info.model is None:
        info.model = platform.processor() or None
    return info


def _linux_cpu(info: CpuInfo, text: str) -> None:
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    info.model = model.group(1).strip() if model else None
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
    if flags:
        names = set(flags.group(1).split())
        if "fp" in names or "asimd" in names:  # ARM: no AVX to speak of
            info.avx2, info.avx512 = False, False
        else:
            info.avx2 = "avx2" in names
            info.avx512 = "avx512f" in names


def _mac_cpu(info: CpuInfo, run: Runner) -> None:
    info.model = run(["sysctl", "-n", "machdep.cpu.brand_string"])
    avx2 = run(["sysctl", "-n", "hw.optional.avx2_0"])
    avx512 = run(["sysctl", "-n", "hw.optional.avx512f"])
    info.avx2 = avx2 == "1" if avx2 is not None else (False if info.arch == "arm64" else None)
    info.avx512 = avx512 == "1" if avx512 is not None else (False if info.arch == "arm64" else None)


def _windows_cpu(info: CpuInfo) -> None:
    if sys.platform != "win32":  # ctypes.windll exists only there
        return
    try:
        import ctypes

        present = ctypes.windll.kernel32.IsProcessorFeaturePresent
        info.avx2 = bool(present(40))  # PF_AVX2_INSTRUCTIONS_AVAILABLE
        info.avx512 = bool(present(41))  # PF_AVX512F_INSTRUCTIONS_AVAILABLE
    except Exception:
        pass
