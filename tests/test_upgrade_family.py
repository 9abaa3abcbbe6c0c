"""The memory advice agrees with itself (issue 16, item 2): the upgrade is sized at the context the person
uses but never beyond the trained one, offered only when no setting fits, and looked for in the person's
own platform family first; "largest context that fits" agrees with the options listed under it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf
from windowkit import what_if

from core.checks import vram
from core.checks.base import CheckInput
from core.hardware.catalog import Family, find_gpu, machine_family
from core.hardware.machine import GpuInfo, HardwareProfile
from core.model.inspection import inspect_model
from core.model.profile import ModelProfile
from core.settings.setup import Setup


def check_with_estimate(profile: ModelProfile, hardware: HardwareProfile, setup: Setup) -> tuple[Any, Any]:
    """The memory check's one entry point: its finding and the fit report it computed."""
    out = vram.run(CheckInput(profile, setup, hardware))
    return out.finding, out.memory


def shaped(path: Path, n_layer: int, n_embd: int, n_ff: int, n_head: int, n_kv: int, trained: int) -> ModelProfile:
    md = llama_metadata(n_layer, n_embd, n_ff, n_head, n_kv, n_ctx=trained)
    tensors = llama_tensors(n_layer, n_embd, n_ff, n_head, n_kv, 128256, Q.Q4_K)
    return inspect_model(write_gguf(path, metadata=md, tensors=tensors))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelProfile]:
    d = tmp_path_factory.mktemp("shapes")
    return {
        "8b-8k": shaped(d / "8b-8k.gguf", 32, 4096, 14336, 32, 8, 8192),
        "14b": shaped(d / "14b.gguf", 40, 5120, 13824, 40, 8, 32768),
        "70b-8k": shaped(d / "70b-8k.gguf", 80, 8192, 28672, 64, 8, 8192),
    }


def test_families_come_from_the_catalog() -> None:
    assert find_gpu("RTX 4060").family == Family("nvidia", "desktop")
    assert find_gpu("RTX A6000").family == Family("nvidia", "desktop")  # a workstation card fits the same tower
    assert find_gpu("T4").family == Family("nvidia", "data-center")
    assert find_gpu("M1").family == Family("apple", "unified-memory")
    assert machine_family(what_if("GeForce RTX 4060")) == Family("nvidia", "desktop")
    detected = HardwareProfile(gpus=[GpuInfo("nvidia", 0, "NVIDIA GeForce RTX 4060", "cuda", total_bytes=8 << 30)])
    assert machine_family(detected) == Family("nvidia", "desktop")  # a detected card's name, with its vendor words
    unknown = HardwareProfile(gpus=[GpuInfo("amd", 0, "Radeon Something New", "rocm", total_bytes=16 << 30)])
    assert machine_family(unknown) == Family("amd", "desktop")
    assert machine_family(HardwareProfile()) is None


def test_an_rtx_4060_owner_is_offered_a_desktop_nvidia_card_first(models: dict[str, ModelProfile]) -> None:
    # a 14B Q4_K needs more than 8 GB; with 1 GiB of RAM no setting fits, so the advice is hardware
    finding, report = check_with_estimate(models["14b"], what_if("GeForce RTX 4060", ram_gib=1), Setup.of(n_ctx=8192))
    assert report is not None and report.upgrade is not None and finding is not None
    advice = report.upgrade
    assert advice.comfort is not None and advice.lossless is not None
    for option in (advice.comfort, advice.lossless):
        assert find_gpu(option.card).family == Family("nvidia", "desktop"), option.card
    lines = advice.lines()
    assert lines[1].startswith("Smallest GPU for Q5_K_M with a q8_0 cache at 8192 tokens among desktop NVIDIA cards:")
    first_offers = "\n".join(lines[:4])
    assert "Apple" not in first_offers and "Tesla" not in first_offers
    # other kinds of machine come after, named as such
    assert next(iter(advice.comfort_by_class)) == "desktop"
    assert any(line.startswith("Other kinds of machine") for line in lines)
    assert finding.severity == "critical" and "the fix is hardware" in finding.title


def test_the_upgrade_is_sized_at_the_trained_context_at_most(models: dict[str, ModelProfile]) -> None:
    _, report = check_with_estimate(models["70b-8k"], what_if("GeForce RTX 4060", ram_gib=1), Setup.of(n_ctx=65536))
    assert report is not None and report.upgrade is not None
    assert report.upgrade.context == 8192  # the person asked for 65,536; the model was trained for 8,192
    assert "at 8192 tokens" in report.upgrade.reason and "65536" not in "\n".join(report.upgrade.lines())
    _, report = check_with_estimate(models["14b"], what_if("GeForce RTX 4060", ram_gib=1), Setup.of(n_ctx=16384))
    assert report is not None and report.upgrade is not None and report.upgrade.context == 16384  # the person's own


def test_no_fix_is_hardware_when_an_option_fits(models: dict[str, ModelProfile]) -> None:
    finding, report = check_with_estimate(models["8b-8k"], what_if("GeForce RTX 4060"), Setup.of(n_ctx=65536))
    assert report is not None and finding is not None and not report.fits
    assert report.one_change is not None and report.one_change.fits
    assert report.upgrade is None
    assert finding.severity == "warning" and "hardware" not in finding.title
    assert finding.title.endswith(f"one change makes it fit: {report.one_change.label}")
    assert not any("Smallest GPU" in step.text for step in finding.fix)


def test_largest_context_agrees_with_the_options(models: dict[str, ModelProfile]) -> None:
    for card in ("GeForce RTX 4060", "H200"):
        finding, report = check_with_estimate(models["8b-8k"], what_if(card), Setup.of(n_ctx=65536))
        assert report is not None and finding is not None
        assert report.max_context <= 8192  # never beyond the trained context
        smaller = [int(o.settings["ctx"]) for o in report.options if o.label.startswith("smaller context")]
        assert all(ctx <= report.max_context for ctx in smaller), (card, smaller, report.max_context)
        assert len(set(smaller)) == len(smaller)  # a q8_0 cache that buys no more context is not listed twice
    # on the H200 it fits, and the finding says the whole trained context fits rather than a smaller number
    finding, report = check_with_estimate(models["8b-8k"], what_if("H200"), Setup.of(n_ctx=65536))
    assert report is not None and finding is not None and report.fits
    assert "the model's whole trained context (8,192 tokens) fits" in finding.evidence
    assert not any(line.startswith("largest context that fits") for line in finding.evidence)
