"""The GPU catalog: enough real cards, sourced figures, lenient names, helpful errors."""

from __future__ import annotations

import json

import fakenvml
import pytest

from core.errors import UnknownGpuError
from core.hardware import HardwareProfile, SystemMemory
from core.hardware.catalog import (
    DRIVER_RESERVE_BYTES,
    _resources,
    catalog_profile,
    find_gpu,
    load_catalog,
    lookup_bandwidth,
    parse_request,
)

GIB = 1024**3


def test_catalog_has_forty_real_cards_with_sources() -> None:
    data = json.loads((_resources() / "gpus.json").read_text())
    assert set(data["sources"]) >= {"nvidia", "amd", "apple", "units"}
    cards = load_catalog()
    assert len(cards) >= 40
    assert len({c.name for c in cards}) == len(cards)
    kinds = {(c.vendor, c.gpu_class) for c in cards}
    for kind in [("nvidia", "consumer"), ("nvidia", "workstation"), ("nvidia", "datacenter"), ("amd", "consumer"),
                 ("amd", "datacenter"), ("apple", "unified")]:  # fmt: skip
        assert kind in kinds
    for c in cards:
        assert 4 <= c.memory_gib <= 512 and 60 <= c.bandwidth_gbps <= 8000 and 2018 <= c.year <= 2025
        assert c.backend in ("cuda", "rocm", "metal")


@pytest.mark.parametrize(
    ("card", "memory", "bandwidth"),
    [
        ("GeForce RTX 3060 12GB", 12, 360),
        ("GeForce RTX 3090", 24, 936),
        ("GeForce RTX 4090", 24, 1008),
        ("GeForce RTX 5090", 32, 1792),
        ("RTX A6000", 48, 768),
        ("H100 SXM", 80, 3350),
        ("H200", 141, 4800),
        ("Radeon RX 7900 XTX", 24, 960),
        ("Instinct MI300X", 192, 5300),
        ("Apple M2 Ultra 192GB", 192, 800),
        ("Apple M4 Max 128GB", 128, 546),
    ],
)
def test_spec_sheet_figures(card: str, memory: float, bandwidth: float) -> None:
    gpu = find_gpu(card)
    assert (gpu.memory_gib, gpu.bandwidth_gbps) == (memory, bandwidth)


@pytest.mark.parametrize(
    ("name", "card"),
    [
        ("RTX 4090", "GeForce RTX 4090"),
        ("rtx4090", "GeForce RTX 4090"),
        ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090"),
        ("4090", "GeForce RTX 4090"),
        ("RTX 3060 12GB", "GeForce RTX 3060 12GB"),
        ("NVIDIA GeForce RTX 3060", "GeForce RTX 3060 12GB"),
        ("NVIDIA H200", "H200"),
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("rtx 6000 ada", "RTX 6000 Ada Generation"),
        ("Apple M2 Max", "Apple M2 Max 96GB"),
        ("AMD Radeon RX 7900 XTX", "Radeon RX 7900 XTX"),
    ],
)
def test_names_are_matched_leniently(name: str, card: str) -> None:
    assert find_gpu(name).name == card


def test_unknown_names_list_close_matches() -> None:
    with pytest.raises(UnknownGpuError) as err:
        find_gpu("RTX 4900")
    assert "not in the GPU catalog" in err.value.message
    assert "GeForce RTX 4090" in err.value.matches
    assert "--catalog" in err.value.fix


def test_ambiguous_names_ask_for_one() -> None:
    with pytest.raises(UnknownGpuError) as err:
        find_gpu("RTX 4060 Ti")
    assert set(err.value.matches) == {"GeForce RTX 4060 Ti 8GB", "GeForce RTX 4060 Ti 16GB"}
    assert find_gpu("RTX 4060 Ti", memory_bytes=16 * GIB).name == "GeForce RTX 4060 Ti 16GB"


def test_requests_with_a_count() -> None:
    assert parse_request("2x RTX 3090") == (find_gpu("RTX 3090"), 2)
    assert parse_request("4 x H100 SXM")[1] == 4
    with pytest.raises(UnknownGpuError):
        parse_request("40x RTX 3090")


def test_what_if_profile_keeps_this_machines_ram() -> None:
    base = HardwareProfile(ram=SystemMemory(32 * GIB, 30 * GIB))
    p = catalog_profile("2x RTX 3090", base)
    assert p.source == "catalog" and p.ram.available_bytes == 30 * GIB
    assert [g.available_bytes for g in p.gpus] == [24 * GIB - DRIVER_RESERVE_BYTES] * 2
    assert p.gpus[0].bandwidth_gbps == 936


def test_apple_what_if_uses_metals_share() -> None:
    [gpu] = catalog_profile("Apple M4 Max 128GB").gpus
    assert gpu.available_bytes == 96 * GIB and gpu.unified_memory


def test_nvml_bandwidth_agrees_with_the_catalog() -> None:
    """The recorded H200/H100 answers give bandwidths within 1% of the catalog's spec-sheet figures."""
    for fixture, card in ((fakenvml.H200, "H200"), (fakenvml.H100, "H100 SXM")):
        dev = fakenvml.record(fixture)["devices"][0]
        nvml = dev["memory_bus_width"]["ok"] / 8 * dev["max_clock_mem"]["ok"] * 2 / 1000
        assert nvml == pytest.approx(find_gpu(card).bandwidth_gbps, rel=0.01)
        assert lookup_bandwidth(dev["name"]["ok"], dev["memory_v1"]["ok"]["total"]) == find_gpu(card).bandwidth_gbps
