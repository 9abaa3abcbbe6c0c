"""`HardwareProfile`: what the machine has, as plain data.

A profile is the only thing the memory estimate and the upgrade advice know about a machine, so it
can come from detection (`gpus`), from a file someone saved on another machine (`--hardware`), or
from the GPU catalog (`--gpu "RTX 4090"`, a what-if). Every field that a vendor library may refuse
to answer is optional: `None` means "not known", never zero.

This module imports nothing beyond the standard library: the profile must load on machines where
only the bare Python is there (a GPU box measuring llama.cpp, a bundle).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from core import jsonfile
from core.errors import HardwareProfileError
from core.files import user_path, write_text_file

SCHEMA_VERSION = 1
GIB = 1024**3


@dataclass
class MigDevice:
    """One MIG slice of an NVIDIA GPU: a CUDA program sees the slice, never the whole card."""

    index: int
    name: str | None = None
    uuid: str | None = None
    total_bytes: int | None = None
    free_bytes: int | None = None


@dataclass
class GpuInfo:
    vendor: str  # "nvidia", "amd", "apple", or the catalog vendor for what-ifs
    index: int
    name: str
    backend: str  # the llama.cpp backend that would drive it: "cuda", "rocm", "metal", "vulkan"
    total_bytes: int | None = None
    free_bytes: int | None = None
    reserved_bytes: int | None = None  # held by the driver and firmware (NVML v2 memory call)
    used_bytes: int | None = None
    usable_bytes: int | None = None  # what one new llama.cpp process can allocate; see each detector
    uuid: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # the CUDA version the driver supports, e.g. "13.0"
    compute_capability: str | None = None  # e.g. "9.0"
    memory_bus_width_bits: int | None = None
    memory_clock_mhz: int | None = None
    bandwidth_gbps: float | None = None
    unified_memory: bool = False  # shares system RAM (Apple, GB10, Jetson, APUs)
    mig_enabled: bool | None = None
    mig_devices: list[MigDevice] = field(default_factory=list)
    lost: bool = False  # fell off the bus (NVML_ERROR_GPU_IS_LOST): listed, never used
    notes: list[str] = field(default_factory=list)

    @property
    def available_bytes(self) -> int:
        """Memory the estimate may plan with; 0 for a lost or unreadable GPU."""
        if self.lost:
            return 0
        for value in (self.usable_bytes, self.free_bytes, self.total_bytes):
            if value is not None:
                return max(0, value)
        return 0


@dataclass
class SystemMemory:
    total_bytes: int | None = None
    available_bytes: int | None = None


@dataclass
class CpuInfo:
    model: str | None = None
    arch: str | None = None
    physical_cores: int | None = None
    logical_cores: int | None = None
    avx2: bool | None = None
    avx512: bool | None = None


@dataclass
class HardwareProfile:
    gpus: list[GpuInfo] = field(default_factory=list)
    ram: SystemMemory = field(default_factory=SystemMemory)
    cpu: CpuInfo = field(default_factory=CpuInfo)
    source: str = "detected"  # "detected", "file", "catalog"
    platform: str | None = None
    notes: list[str] = field(default_factory=list)  # why a vendor's GPUs are missing, in words

    @property
    def usable_gpus(self) -> list[GpuInfo]:
        return [g for g in self.gpus if not g.lost and g.available_bytes > 0]

    @property
    def cpu_only(self) -> bool:
        return not self.usable_gpus

    @property
    def cpu_only_reason(self) -> str | None:
        """Why the estimate will plan for the CPU alone, or None when a GPU is usable."""
        if not self.cpu_only:
            return None
        if self.gpus:
            return "Every GPU found is lost or reports no usable memory: " + "; ".join(
                f"{g.name} ({'lost' if g.lost else 'no memory reported'})" for g in self.gpus
            )
        return " ".join(self.notes) or "No supported GPU was found."

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema"] = SCHEMA_VERSION
        d["cpu_only"] = self.cpu_only
        d["cpu_only_reason"] = self.cpu_only_reason
        for gpu, out in zip(self.gpus, d["gpus"], strict=True):
            out["available_bytes"] = gpu.available_bytes
        return d

    @classmethod
    def from_dict(cls, data: Any, where: str = "the profile") -> HardwareProfile:
        """Rebuild a profile from `to_dict` output; anything malformed is a HardwareProfileError."""
        if not isinstance(data, dict):
            raise HardwareProfileError(f"{where} is not a JSON object describing a machine.")
        schema = data.get("schema", SCHEMA_VERSION)
        if not isinstance(schema, int) or schema > SCHEMA_VERSION:
            raise HardwareProfileError(
                f"{where} was written by a newer Quant Doctor (profile version {schema}).",
                "Update Quant Doctor, or save the profile again with this version.",
            )
        gpus_data = data.get("gpus", [])
        if not isinstance(gpus_data, list):
            raise HardwareProfileError(f"In {where}, 'gpus' must be a list.")
        gpus = [_gpu_from_dict(g, i, where) for i, g in enumerate(gpus_data)]
        return cls(
            gpus=gpus,
            ram=_build(SystemMemory, data.get("ram") or {}, f"{where}, 'ram'"),
            cpu=_build(CpuInfo, data.get("cpu") or {}, f"{where}, 'cpu'"),
            source=str(data.get("source") or "file"),
            platform=data.get("platform") if isinstance(data.get("platform"), str) else None,
            notes=[str(n) for n in data.get("notes", []) if isinstance(n, str)],
        )


def _gpu_from_dict(data: Any, i: int, where: str) -> GpuInfo:
    place = f"{where}, GPU #{i}"
    if not isinstance(data, dict):
        raise HardwareProfileError(f"In {place}: each GPU must be a JSON object.")
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise HardwareProfileError(f"In {place}: the GPU has no name.")
    if all(data.get(k) is None for k in ("usable_bytes", "free_bytes", "total_bytes")):
        raise HardwareProfileError(f"In {place} ({data['name']}): no memory size is given.")
    raw = dict(data)
    raw.setdefault("vendor", "unknown")
    raw.setdefault("index", i)
    raw.setdefault("backend", "cuda" if raw["vendor"] == "nvidia" else "vulkan")
    migs = raw.pop("mig_devices", []) or []
    gpu: GpuInfo = _build(GpuInfo, raw, place)
    if not isinstance(migs, list):
        raise HardwareProfileError(f"In {place}: 'mig_devices' must be a list.")
    gpu.mig_devices = [_build(MigDevice, m, f"{place}, MIG device") for m in migs]
    return gpu


_INT_FIELDS = ("bytes", "index", "cores", "bits", "mhz")


def _build(cls: Any, data: Any, place: str) -> Any:
    """Construct a dataclass from a dict, checking each known field's type; unknown keys are ignored."""
    if not isinstance(data, dict):
        raise HardwareProfileError(f"In {place}: expected a JSON object.")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data or f.name == "mig_devices":
            continue
        value = data[f.name]
        if value is not None:
            value = _check_type(f.name, value, place)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise HardwareProfileError(f"In {place}: {exc}.") from None


def _check_type(name: str, value: Any, place: str) -> Any:
    if name.endswith(_INT_FIELDS):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise HardwareProfileError(f"In {place}: '{name}' must be a whole number of at least 0, not {value!r}.")
    elif name in ("unified_memory", "lost", "avx2", "avx512", "mig_enabled"):
        if not isinstance(value, bool):
            raise HardwareProfileError(f"In {place}: '{name}' must be true or false, not {value!r}.")
    elif name == "bandwidth_gbps":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise HardwareProfileError(f"In {place}: 'bandwidth_gbps' must be a number, not {value!r}.")
        value = float(value)
    elif name == "notes":
        if not isinstance(value, list):
            raise HardwareProfileError(f"In {place}: 'notes' must be a list of strings.")
        value = [str(v) for v in value]
    elif not isinstance(value, str):
        raise HardwareProfileError(f"In {place}: '{name}' must be text, not {value!r}.")
    return value


def load_profile(path: str | os.PathLike[str]) -> HardwareProfile:
    """Read a profile saved with `gpus --save` (or written by hand)."""
    p = user_path(path, HardwareProfileError)
    data = jsonfile.load(p, "machine profile", HardwareProfileError)
    profile = HardwareProfile.from_dict(data, where=p.name)
    profile.source = "file"
    return profile


def save_profile(profile: HardwareProfile, path: str | os.PathLike[str]) -> Path:
    return write_text_file(
        path, json.dumps(profile.to_dict(), indent=2) + "\n", "the machine profile", HardwareProfileError
    )


# Apple Silicon: macOS lets Metal wire only part of the unified RAM (see core.hardware.apple).
SMALL_MAC_FRACTION = 2 / 3  # RAM <= 36 GiB
LARGE_MAC_FRACTION = 3 / 4
LARGE_MAC_THRESHOLD = 36 * GIB


def metal_working_set(ram_bytes: int, wired_limit_mb: int | None = None) -> int:
    """The GPU memory macOS lets one process wire, in bytes."""
    if wired_limit_mb:
        return min(ram_bytes, wired_limit_mb * 1024 * 1024)
    fraction = SMALL_MAC_FRACTION if ram_bytes <= LARGE_MAC_THRESHOLD else LARGE_MAC_FRACTION
    return int(ram_bytes * fraction)
