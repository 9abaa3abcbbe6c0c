"""Record what NVML answers on this machine, call by call, in the shape tests/fixtures/nvml/*.json hold
(and core/hardware/nvml_replay.py replays): every answer as {"ok": value}, every refusal as
{"error": "NotSupported"} (pynvml's own error name), so a recording can stand in for the driver.

Run it where an NVIDIA GPU is lent (it needs only nvidia-ml-py, which Quant Doctor already installs):

    .venv/bin/python tests/bench/record_nvml.py > tests/fixtures/nvml/<gpu>-driver<major>.json
    .venv/bin/python tests/bench/record_nvml.py --check tests/fixtures/nvml/h200-driver580.json  # same shape?

The record says what it ran on under "recorded" (this script, the date, the kernel, the Python and
nvidia-ml-py versions); the UUID stays as the driver gave it, as in the existing recordings.
tests/test_hardware_nvml.py runs this recorder against the replay of the H200 recording and checks that
it writes that recording back, key for key: the recorder and the replay agree on every call.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from collections.abc import Callable
from typing import Any

# per device: fixture key -> (pynvml function, extra arguments); the keys of tests/fixtures/nvml/*.json
DEVICE_CALLS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "name": ("nvmlDeviceGetName", ()),
    "uuid": ("nvmlDeviceGetUUID", ()),
    "brand": ("nvmlDeviceGetBrand", ()),
    "memory_v1": ("nvmlDeviceGetMemoryInfo", ()),
    "memory_v2": ("nvmlDeviceGetMemoryInfo", ("v2",)),
    "bar1": ("nvmlDeviceGetBAR1MemoryInfo", ()),
    "cuda_compute_capability": ("nvmlDeviceGetCudaComputeCapability", ()),
    "architecture": ("nvmlDeviceGetArchitecture", ()),
    "pci": ("nvmlDeviceGetPciInfo", ()),
    "pcie_gen_max": ("nvmlDeviceGetMaxPcieLinkGeneration", ()),
    "pcie_width_max": ("nvmlDeviceGetMaxPcieLinkWidth", ()),
    "memory_bus_width": ("nvmlDeviceGetMemoryBusWidth", ()),
    "num_cores": ("nvmlDeviceGetNumGpuCores", ()),
    "max_clock_mem": ("nvmlDeviceGetMaxClockInfo", ("NVML_CLOCK_MEM",)),
    "max_clock_sm": ("nvmlDeviceGetMaxClockInfo", ("NVML_CLOCK_SM",)),
    "power_limit_mw": ("nvmlDeviceGetPowerManagementLimit", ()),
    "temperature": ("nvmlDeviceGetTemperature", ("NVML_TEMPERATURE_GPU",)),
    "utilization": ("nvmlDeviceGetUtilizationRates", ()),
    "mig_mode": ("nvmlDeviceGetMigMode", ()),
    "compute_mode": ("nvmlDeviceGetComputeMode", ()),
    "persistence_mode": ("nvmlDeviceGetPersistenceMode", ()),
    "virtualization_mode": ("nvmlDeviceGetVirtualizationMode", ()),
    "display_active": ("nvmlDeviceGetDisplayActive", ()),
    "ecc_mode": ("nvmlDeviceGetEccMode", ()),
    "compute_processes": ("nvmlDeviceGetComputeRunningProcesses", ()),
    "vbios": ("nvmlDeviceGetVbiosVersion", ()),
}
SYSTEM_CALLS = {"driver": "nvmlSystemGetDriverVersion", "cuda_driver": "nvmlSystemGetCudaDriverVersion",
                "nvml_version": "nvmlSystemGetNVMLVersion", "count": "nvmlDeviceGetCount"}  # fmt: skip
MIG_CALLS = ("name", "uuid", "memory_v1")  # what a MIG slice answers that the app reads


def plain(value: Any) -> Any:
    """An NVML answer as JSON: ctypes structures and namespaces as objects, bytes as text, tuples as lists
    (the compute capability as the tuple's text, "(9, 0)", as the first recordings have it)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "_fields_"):
        return {name: plain(getattr(value, name)) for name, *_ in value._fields_}
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return {k: plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def error_name(nvml: Any, err: Exception) -> str | int:
    """pynvml's error class suffix ("NotSupported"), which the replay turns back into the same error."""
    name = type(err).__name__.removeprefix("NVMLError_")
    if name and name != "NVMLError":
        return name
    return int(getattr(err, "value", -1))


def ask(nvml: Any, fn: str, *args: Any) -> dict[str, Any]:
    call: Callable[..., Any] | None = getattr(nvml, fn, None)
    if call is None:
        return {"error": "FunctionNotFound"}
    try:
        return {"ok": plain(call(*args))}
    except nvml.NVMLError as err:
        return {"error": error_name(nvml, err)}


def _args(nvml: Any, extra: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for a in extra:
        if a == "v2":
            out.append(nvml.nvmlMemory_v2)
        elif isinstance(a, str):
            out.append(getattr(nvml, a, 0))
        else:
            out.append(a)
    return tuple(out)


def device(nvml: Any, handle: Any, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for key in keys or tuple(DEVICE_CALLS):
        fn, extra = DEVICE_CALLS[key]
        rec[key] = ask(nvml, fn, handle, *_args(nvml, extra))
        if key == "cuda_compute_capability" and "ok" in rec[key]:
            rec[key]["ok"] = str(tuple(rec[key]["ok"]))
    mig = rec.get("mig_mode", {}).get("ok")
    if keys is None and isinstance(mig, list) and mig and mig[0] == 1:
        rec["max_mig_device_count"] = count = ask(nvml, "nvmlDeviceGetMaxMigDeviceCount", handle)
        rec["mig_devices"] = []
        for i in range(int(count.get("ok") or 0)):
            try:
                sub = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, i)
            except nvml.NVMLError:
                rec["mig_devices"].append(None)
                continue
            rec["mig_devices"].append(device(nvml, sub, MIG_CALLS))
        while rec["mig_devices"] and rec["mig_devices"][-1] is None:  # unused indexes past the last slice
            rec["mig_devices"].pop()
    return rec


def record(nvml: Any, note: str = "") -> dict[str, Any]:
    """One NVML session of this machine, as the fixtures hold it (`nvml`: the pynvml module, or a replay)."""
    recorded = {
        "by": "tests/bench/record_nvml.py",
        "at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.platform(),
        "python": platform.python_version(),
        "note": note,
    }
    rec: dict[str, Any] = {
        "module_file": getattr(nvml, "__file__", type(nvml).__name__),
        "nvidia_ml_py_version": _version(),
        "recorded": recorded,
    }
    try:
        nvml.nvmlInit()
        rec["init"] = {"ok": None}
    except nvml.NVMLError as err:
        rec["init"] = {"error": error_name(nvml, err)}
        return rec
    for key, fn in SYSTEM_CALLS.items():
        rec[key] = ask(nvml, fn)
    rec["devices"] = []
    for i in range(int(rec["count"].get("ok") or 0)):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
        except nvml.NVMLError as err:
            rec["devices"].append({"handle": {"error": error_name(nvml, err)}})
            continue
        rec["devices"].append(device(nvml, handle))
    rec["shutdown"] = ask(nvml, "nvmlShutdown")
    return rec


def _version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("nvidia-ml-py")
    except metadata.PackageNotFoundError:
        return None


def same_shape(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two records differ in shape (keys, answer or error, value types), not in values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}/{k}: only in one" for k in sorted(set(a) ^ set(b)) if k not in ("recorded", "module_file")]
        return out + [
            d for k in sorted(set(a) & set(b)) if k != "recorded" for d in same_shape(a[k], b[k], f"{where}/{k}")
        ]
    if isinstance(a, list) and isinstance(b, list):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=False)) for d in same_shape(x, y, f"{where}[{i}]")]
    return (
        []
        if type(a) is type(b) or {type(a), type(b)} <= {int, float}
        else [f"{where}: {type(a).__name__} vs {type(b).__name__}"]
    )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", help="compare the shape of this machine's record with a fixture's")
    p.add_argument("--note", default="", help="what the machine is (e.g. the cloud instance type)")
    args = p.parse_args(argv)
    import pynvml

    rec = record(pynvml, args.note)
    if args.check:
        with open(args.check, encoding="utf-8") as f:
            diffs = same_shape(json.load(f), rec)
        print("\n".join(diffs) or "same shape", file=sys.stderr)
    json.dump(rec, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
