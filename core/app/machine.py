"""The machine: this computer as detected, or a card from the catalog to try ("what if I had…")."""

from __future__ import annotations

from core.hardware import HardwareProfile, detect_hardware, load_profile, save_profile
from core.hardware.catalog import catalog_profile, load_catalog
from core.hardware.system import cpu_info, system_memory

__all__ = [
    "catalog_names",
    "catalog_profile",
    "detect_hardware",
    "load_catalog",
    "load_profile",
    "save_profile",
    "what_if",
]


def what_if(gpu_name: str) -> HardwareProfile:
    """A card from the catalog in this computer: the GPU changes, the CPU and RAM stay this computer's."""
    return catalog_profile(gpu_name, HardwareProfile(ram=system_memory(), cpu=cpu_info()))


def catalog_names() -> list[str]:
    """Every GPU of the catalog, in its order (the what-if menu and `--gpu`)."""
    return [g.name for g in load_catalog()]
