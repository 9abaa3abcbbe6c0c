"""Apple Silicon: the GPU shares system RAM, but macOS lets Metal wire only part of it.

Metal's `recommendedMaxWorkingSetSize` is about two thirds of RAM on machines with up to 36 GB
and three quarters above that (16 GB -> ~10.7 GB, 64 GB -> 48 GB, 128 GB -> 96 GB). llama.cpp
plans with that figure, not with the RAM total. A person can raise the limit with
`sudo sysctl iogpu.wired_limit_mb=N`; when set, that value wins.
"""

from __future__ import annotations

import sys

from core.hardware.catalog import lookup_bandwidth
from core.hardware.machine import GIB, GpuInfo, metal_working_set
from core.hardware.system import Runner, run_quiet


def detect_apple(run: Runner = run_quiet, platform: str = sys.platform) -> tuple[list[GpuInfo], list[str]]:
    if platform != "darwin":
        return [], []
    if run(["sysctl", "-n", "hw.optional.arm64"]) != "1":
        return [], ["This Mac has an Intel processor: llama.cpp runs on its CPU (Metal on Intel Macs is slow)."]
    mem = run(["sysctl", "-n", "hw.memsize"])
    if not mem or not mem.isdigit():
        return [], ["macOS did not report the memory size (sysctl hw.memsize), so the GPU could not be sized."]
    ram = int(mem)
    limit = run(["sysctl", "-n", "iogpu.wired_limit_mb"])
    limit_mb = int(limit) if limit and limit.isdigit() and int(limit) > 0 else None
    name = run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "Apple Silicon"
    usable = metal_working_set(ram, limit_mb)
    gpu = GpuInfo(
        vendor="apple",
        index=0,
        name=name,
        backend="metal",
        total_bytes=ram,
        usable_bytes=usable,
        unified_memory=True,
        notes=[
            f"Unified memory: Metal may use about {usable / GIB:.1f} of the {ram / GIB:.0f} GiB of RAM"
            + (" (raised with iogpu.wired_limit_mb)." if limit_mb else ".")
        ],
    )
    gpu.bandwidth_gbps = lookup_bandwidth(name, ram)
    return [gpu], []
