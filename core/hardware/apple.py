"""Apple Silicon: the GPU shares system RAM, but macOS lets Metal wire only part of it.

The figure llama.cpp plans with is Metal's own: ggml-metal (ggml/src/ggml-metal/ggml-metal-device.m,
`ggml_metal_device_get_memory`) reports `MTLDevice.recommendedMaxWorkingSetSize` as the device's
total memory, and that is what `llama-server --list-devices` prints ("MTL0: Apple M1 Max (26000 MiB,
...)"). So it is asked first, from Metal itself (`query_metal`, through the Objective-C runtime with
ctypes: no PyObjC needed in the bundle).

When Metal cannot be asked, the share is estimated: about two thirds of RAM up to 36 GiB and three
quarters above (`core.hardware.machine.metal_working_set`). Recorded answers behind that rule:
16 GiB Macs report 10922.67 MiB (2/3; llama-cpp-python issue #687, an M1 16 GB; exo PR #1672, an
M4 16 GB: "~10.67 GB"), 64 GiB ones 48 GiB (3/4; llama.cpp issue #1870, M1/M2 Max 64 GB). Newer macOS
gives large Macs more (antirez/ds4 PR #893: 107.52 GiB of 128 GiB on macOS 26), which is why Metal's
own answer wins whenever there is one.

A person can raise the limit with `sudo sysctl iogpu.wired_limit_mb=N`; Metal's answer then follows it
(ds4 #893: 112.00 GiB with iogpu.wired_limit_mb=114688; llmfit PR #754 saw the same on an M3), and the
estimate uses N when set.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from core.hardware.catalog import lookup_bandwidth
from core.hardware.machine import GIB, GpuInfo, metal_working_set
from core.hardware.system import Runner, run_quiet

MetalQuery = Callable[[], "tuple[str | None, int] | None"]  # (device name, recommendedMaxWorkingSetSize)


def query_metal() -> tuple[str | None, int] | None:
    """(name, recommendedMaxWorkingSetSize in bytes) of the default Metal device, or None (not a Mac, no
    Metal, any failure). MTLCreateSystemDefaultDevice is a C function of Metal.framework; the two
    properties are read with objc_msgSend, typed per call (arm64 needs the exact prototype)."""
    if sys.platform != "darwin":
        return None
    try:
        import ctypes

        objc = ctypes.CDLL("/usr/lib/libobjc.A.dylib")
        metal = ctypes.CDLL("/System/Library/Frameworks/Metal.framework/Metal")
        metal.MTLCreateSystemDefaultDevice.restype = ctypes.c_void_p
        device = metal.MTLCreateSystemDefaultDevice()
        if not device:
            return None
        objc.sel_registerName.restype = ctypes.c_void_p
        objc.sel_registerName.argtypes = [ctypes.c_char_p]
        send_u64 = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p)(("objc_msgSend", objc))
        send_ptr = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)(("objc_msgSend", objc))
        send_str = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p)(("objc_msgSend", objc))
        size = int(send_u64(device, objc.sel_registerName(b"recommendedMaxWorkingSetSize")))
        ns_name = send_ptr(device, objc.sel_registerName(b"name"))
        raw = send_str(ns_name, objc.sel_registerName(b"UTF8String")) if ns_name else None
        name = raw.decode("utf-8", "replace") if raw else None
        return (name, size) if size > 0 else None
    except Exception:  # no Metal framework, a sandbox, a changed runtime: the estimate below
        return None


def _no_metal() -> tuple[str | None, int] | None:
    return None


def detect_apple(
    run: Runner = run_quiet, platform: str = sys.platform, metal: MetalQuery | None = None
) -> tuple[list[GpuInfo], list[str]]:
    """(GPUs, notes). `run` answers sysctl and `metal` answers Metal; both default to this machine, and
    a replayed `run` without a `metal` replays no Metal answer (the facts come from one machine)."""
    if metal is None:
        metal = query_metal if run is run_quiet else _no_metal
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
    asked = metal()
    if asked is not None:
        usable = min(ram, asked[1])
        how = "Metal's recommendedMaxWorkingSetSize" + (", raised with iogpu.wired_limit_mb" if limit_mb else "")
    else:
        usable = metal_working_set(ram, limit_mb)
        how = "iogpu.wired_limit_mb" if limit_mb else "estimated: Metal could not be asked"
    gpu = GpuInfo(
        vendor="apple",
        index=0,
        name=name,
        backend="metal",
        total_bytes=ram,
        usable_bytes=usable,
        unified_memory=True,
        notes=[f"Unified memory: Metal may use about {usable / GIB:.1f} of the {ram / GIB:.0f} GiB of RAM ({how})."],
    )
    gpu.bandwidth_gbps = lookup_bandwidth(name, ram)
    return [gpu], []
