"""The GPU catalog (resources/gpus.json): cards people run local LLMs on, for what-ifs and advice.

`--gpu "RTX 4090"` (or "2x RTX 3090") turns a catalog entry into a `HardwareProfile` so the memory
estimate can answer "would it fit on that card?"; the upgrade advice walks the catalog for the
smallest card that fits. Names are matched leniently ("4090", "NVIDIA GeForce RTX 4090" and
"rtx4090" are the same card); a name that matches nothing is an `UnknownGpuError` listing the
closest names.

Standard library only, like core.hardware (it sizes Apple GPUs during detection).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core import jsonfile
from core.errors import UnknownGpuError
from core.hardware.machine import GIB, GpuInfo, HardwareProfile, metal_working_set
from core.paths import resources_dir
from core.textnum import COUNT, shown, whole_or_none

# What a driver keeps for itself on a discrete card: NVML's v2 `reserved` on driver 580 is 480 MiB
# (H100 80GB) and 615 MiB (H200); 640 MiB covers both and display-less consumer cards.
DRIVER_RESERVE_BYTES = 640 * 1024**2
# A unified-memory machine that is not a Mac (GB10, Strix Halo) keeps RAM for the OS and programs.
UNIFIED_OS_RESERVE_BYTES = 8 * GIB

# The catalog's classes grouped into what a person shops among: a desktop owner buys another desktop
# card (a workstation card fits the same tower), not a data-center module or a Mac.
SEGMENTS = {"consumer": "desktop", "workstation": "desktop", "datacenter": "data-center", "unified": "unified-memory"}
VENDOR_WORDS = {"nvidia": "NVIDIA", "amd": "AMD", "apple": "Apple", "intel": "Intel"}

_NOISE = ("nvidia", "geforce", "tesla", "amd", "radeon", "apple", "generation", "graphics", "gpu")


@dataclass(frozen=True)
class Family:
    """A platform family: a vendor and a segment (an RTX 4060 is a desktop NVIDIA card, an M2 a unified-memory
    Apple one). Upgrade advice looks in the person's own family first."""

    vendor: str
    segment: str

    @property
    def words(self) -> str:
        """'desktop NVIDIA', 'data-center AMD', 'unified-memory Apple'."""
        return f"{self.segment} {VENDOR_WORDS.get(self.vendor, self.vendor)}"


@dataclass(frozen=True)
class CatalogGpu:
    name: str
    vendor: str
    gpu_class: str
    memory_gib: float
    bandwidth_gbps: float
    year: int
    backend: str
    aliases: tuple[str, ...] = ()

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * GIB)

    @property
    def unified(self) -> bool:
        return self.gpu_class == "unified"

    @property
    def segment(self) -> str:
        """desktop, data-center or unified-memory (SEGMENTS)."""
        return SEGMENTS.get(self.gpu_class, self.gpu_class)

    @property
    def family(self) -> Family:
        return Family(self.vendor, self.segment)

    @property
    def usable_bytes(self) -> int:
        """What llama.cpp can allocate on it: less the driver's reserve, or Metal's working-set limit."""
        if self.vendor == "apple":
            return metal_working_set(self.memory_bytes)
        if self.unified:
            return self.memory_bytes - UNIFIED_OS_RESERVE_BYTES
        return self.memory_bytes - DRIVER_RESERVE_BYTES

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vendor": self.vendor,
            "class": self.gpu_class,
            "memory_gib": self.memory_gib,
            "bandwidth_gbps": self.bandwidth_gbps,
            "year": self.year,
            "usable_bytes": self.usable_bytes,
        }


def _resources() -> Path:
    return resources_dir()


@cache
def load_catalog(path: Path | None = None) -> tuple[CatalogGpu, ...]:
    data = jsonfile.load(path or _resources() / "gpus.json", "GPU catalog", expect=None)
    return tuple(
        CatalogGpu(
            name=g["name"],
            vendor=g["vendor"],
            gpu_class=g["class"],
            memory_gib=float(g["memory_gib"]),
            bandwidth_gbps=float(g["bandwidth_gbps"]),
            year=int(g["year"]),
            backend=g["backend"],
            aliases=tuple(g.get("aliases", ())),
        )
        for g in data["gpus"]
    )


def _norm(name: str) -> str:
    s = name.lower().replace("-", " ").replace("_", " ")
    s = re.sub(r"(\d+)\s*gb\b", r"\1gb", s)
    words = [w for w in re.split(r"[^a-z0-9+]+", s) if w and w not in _NOISE]
    return " ".join(words)


def _squash(name: str) -> str:
    return _norm(name).replace(" ", "")


def _names(gpu: CatalogGpu) -> list[str]:
    return [gpu.name, *gpu.aliases]


def find_gpu(name: str, memory_bytes: int | None = None) -> CatalogGpu:
    """The catalog card called `name`; ambiguous or unknown names raise UnknownGpuError."""
    candidates = _candidates(name)
    if memory_bytes is not None and len(candidates) > 1:
        candidates = [min(candidates, key=lambda g: abs(g.memory_bytes - memory_bytes))]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        listed = ", ".join(g.name for g in candidates)
        raise UnknownGpuError(
            f"'{name}' matches several cards in the catalog: {listed}.",
            [g.name for g in candidates],
            'Name one of them exactly, e.g. --gpu "' + candidates[0].name + '".',
        )
    close = suggest(name)
    raise UnknownGpuError(
        f"'{name}' is not in the GPU catalog." + (f" Closest names: {', '.join(close)}." if close else ""),
        close,
        "Use one of the names above, or `quantdoctor-cli gpus --catalog` to list every card.",
    )


def _candidates(name: str) -> list[CatalogGpu]:
    want, squashed = _norm(name), _squash(name)
    if not want:
        return []
    catalog = load_catalog()
    exact = [g for g in catalog if any(_squash(n) == squashed for n in _names(g))]
    if exact:
        return exact
    # every word of the request appears in the card's name: "4090", "rtx 6000 ada"
    words = want.split()
    return [g for g in catalog if any(all(w in _norm(n).split() for w in words) for n in _names(g))]


def suggest(name: str, n: int = 5) -> list[str]:
    by_key: dict[str, str] = {}
    for g in load_catalog():
        for alias in _names(g):
            by_key.setdefault(_norm(alias), g.name)
    close = difflib.get_close_matches(_norm(name), list(by_key), n=n * 2, cutoff=0.5)
    out: list[str] = []
    for key in close:
        if by_key[key] not in out:
            out.append(by_key[key])
    return out[:n]


def parse_request(text: str) -> tuple[CatalogGpu, int]:
    """'2x RTX 3090' / '2 x RTX 3090' / 'RTX 3090' -> (card, count)."""
    m = re.match(r"^\s*(\d+)\s*[x×*]\s*(.+)$", text, re.I)
    said, name = (m.group(1), m.group(2)) if m else ("1", text)
    count = whole_or_none(said, COUNT)
    if count is None or not 1 <= count <= 16:
        many = shown(said) if count is None else count  # a 400-digit count, digits other than 0-9
        raise UnknownGpuError(f"{many} GPUs is not a setup Quant Doctor plans for.", [], "Ask for 1 to 16 cards.")
    return find_gpu(name), count


def catalog_profile(text: str, base: HardwareProfile | None = None) -> HardwareProfile:
    """A what-if machine: the named card(s), with this machine's RAM and CPU when `base` is given."""
    card, count = parse_request(text)
    profile = HardwareProfile(source="catalog")
    if base is not None:
        profile.ram, profile.cpu, profile.platform = base.ram, base.cpu, base.platform
    for i in range(count):
        profile.gpus.append(gpu_info(card, i))
    profile.notes.append(f"What-if: {count} x {card.name} from the GPU catalog.")
    return profile


def family_of(gpu: GpuInfo) -> Family:
    """The family of a detected or what-if GPU: its catalog entry's, or else its vendor and whether it shares
    system memory (an unknown discrete card is taken for a desktop one, the common case)."""
    return _family(gpu.name, gpu.total_bytes, gpu.vendor, gpu.unified_memory)


@cache
def _family(name: str, total_bytes: int | None, vendor: str, unified: bool) -> Family:
    try:
        return find_gpu(name, total_bytes).family
    except UnknownGpuError:
        return Family(vendor, "unified-memory" if unified else "desktop")


def machine_family(hardware: HardwareProfile) -> Family | None:
    """The family of the machine's first usable GPU; None for a machine without one."""
    gpus = hardware.usable_gpus
    return family_of(gpus[0]) if gpus else None


def gpu_info(card: CatalogGpu, index: int = 0) -> GpuInfo:
    return GpuInfo(
        vendor=card.vendor,
        index=index,
        name=card.name,
        backend=card.backend,
        total_bytes=card.memory_bytes,
        usable_bytes=card.usable_bytes,
        bandwidth_gbps=card.bandwidth_gbps,
        unified_memory=card.unified,
        notes=["From the GPU catalog (nominal figures)."],
    )


def lookup_bandwidth(name: str, memory_bytes: int | None = None) -> float | None:
    """A detected GPU's bandwidth from the catalog (Apple GPUs cannot be asked), or None."""
    try:
        return find_gpu(name, memory_bytes).bandwidth_gbps
    except UnknownGpuError:
        return None
