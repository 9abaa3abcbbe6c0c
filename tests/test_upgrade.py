"""Upgrade advice: only when nothing reasonable fits, the smallest card that does, and the arithmetic."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_memory_agreement import SHAPES, write_shaped

from core.hardware import HardwareProfile, SystemMemory
from core.hardware.catalog import Family, catalog_profile, find_gpu, gpu_info, load_catalog
from core.memory.estimate import TIGHT_MARGIN_BYTES, estimate
from core.memory.options import quant_options
from core.memory.shape import QUANT_BPW, ModelShape, model_shape
from core.memory.upgrade import UpgradeAdvice
from core.memory.upgrade import advise as advise_shape
from core.model.inspection import inspect_model
from core.model.profile import ModelProfile
from core.settings.run import RunSettings

GIB = 1024**3
LLAMA_70B = dict(n_layer=80, n_embd=8192, n_ff=28672, n_head=64, n_head_kv=8, n_vocab=128256)
RAM = SystemMemory(64 * GIB, 48 * GIB)


@pytest.fixture(scope="module")
def llama70b(tmp_path_factory: pytest.TempPathFactory) -> ModelProfile:
    return inspect_model(write_shaped(tmp_path_factory.mktemp("m") / "llama-70b.gguf", **LLAMA_70B))


@pytest.fixture(scope="module")
def llama8b(tmp_path_factory: pytest.TempPathFactory) -> ModelProfile:
    return inspect_model(write_shaped(tmp_path_factory.mktemp("m") / "llama3-8b.gguf", **SHAPES["llama3-8b"]))


def on(card: str) -> HardwareProfile:
    return catalog_profile(card, HardwareProfile(ram=RAM))


def requantized(profile: ModelProfile, quant: str) -> ModelShape:
    """The what-if is derived from the shape, built once from the file."""
    return model_shape(profile).requantized(quant)


def advise(profile: ModelProfile, setup: RunSettings, hardware: HardwareProfile) -> UpgradeAdvice | None:
    return advise_shape(model_shape(profile), setup, hardware)


def test_requantized_sizes(llama70b: ModelProfile) -> None:
    q5 = requantized(llama70b, "Q5_K_M")
    expected = [0] * q5.n_layer
    for t in llama70b.tensors:
        if t.layer is not None:
            if t.role == "norms":
                expected[t.layer] += t.bytes
            else:
                expected[t.layer] += int(t.parameters * QUANT_BPW["Q5_K_M"] / 8)
    assert list(q5.layer_bytes) == expected
    embd = next(t for t in llama70b.tensors if t.name == "token_embd.weight")
    assert q5.input_bytes == int(embd.parameters * QUANT_BPW["Q5_K_M"] / 8)
    assert q5.nominal_type == "Q5_K_M" and q5.parameters == llama70b.parameters
    assert QUANT_BPW["Q4_K_M"] == pytest.approx(4.90, abs=0.01) and QUANT_BPW["Q8_0"] == pytest.approx(8.52, abs=0.01)


def test_70b_on_an_rtx_3060_gets_advice(llama70b: ModelProfile) -> None:
    setup = RunSettings(8192)
    advice = advise(llama70b, setup, on("RTX 3060 12GB"))
    assert advice is not None
    assert "does not fit GeForce RTX 3060 12GB at 8192 tokens" in advice.reason
    comfort = advice.comfort
    assert comfort is not None and comfort.quant == "Q5_K_M"
    q5 = requantized(llama70b, "Q5_K_M")
    target = replace(setup, cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True)
    # it fits with headroom, and it is the smallest of the owner's family (desktop NVIDIA): every card of that
    # family with less usable memory does not
    card = find_gpu(comfort.card)
    assert card.family == Family("nvidia", "desktop") and advice.among == "desktop NVIDIA"
    fit = estimate(q5, target, HardwareProfile(gpus=[gpu_info(card)], ram=RAM))
    assert fit.fits and fit.gpus[0].margin_bytes is not None and fit.gpus[0].margin_bytes >= TIGHT_MARGIN_BYTES
    assert comfort.needed_bytes == fit.gpus[0].total_bytes
    for smaller in (c for c in load_catalog() if c.usable_bytes < card.usable_bytes and c.family == card.family):
        est = estimate(q5, target, HardwareProfile(gpus=[gpu_info(smaller)], ram=RAM))
        assert not est.fits or (est.gpus[0].margin_bytes or 0) < TIGHT_MARGIN_BYTES, smaller.name
    # the arithmetic is spelled out
    for words in ("GPU weights", "Q5_K_M", "bits x 70.55 B parameters", "KV = 80 layers x 8192 cells", "usable",
                  "tokens/s"):  # fmt: skip
        assert words in comfort.arithmetic
    assert set(advice.comfort_by_class) == {"desktop", "data-center", "unified-memory"}
    assert advice.comfort_by_class["desktop"].gpu_class in ("consumer", "workstation")


def test_q8_needs_at_least_as_much(llama70b: ModelProfile) -> None:
    advice = advise(llama70b, RunSettings(8192), on("RTX 3060 12GB"))
    assert advice is not None and advice.lossless is not None and advice.comfort is not None
    assert advice.lossless.quant == "Q8_0"
    assert advice.lossless.needed_bytes > advice.comfort.needed_bytes
    assert find_gpu(advice.lossless.card).usable_bytes >= find_gpu(advice.comfort.card).usable_bytes


def test_two_cards_when_they_beat_one_bigger_card(llama70b: ModelProfile) -> None:
    advice = advise(llama70b, RunSettings(8192), on("RTX 3060 12GB"))
    assert advice is not None and advice.two_gpus is not None and advice.two_gpus_why
    pair, single = advice.two_gpus, advice.comfort_by_class["desktop"]
    assert pair.count == 2 and pair.memory_gib < single.memory_gib
    assert pair.needed_bytes <= pair.usable_bytes - TIGHT_MARGIN_BYTES  # the fuller of the two cards
    assert (pair.tokens_per_s or 0) >= (single.tokens_per_s or 0)
    assert "2 x " in pair.arithmetic and "on the fullest card" in pair.arithmetic


def test_cpu_only_option_with_ram_and_speed(llama70b: ModelProfile) -> None:
    advice = advise(llama70b, RunSettings(8192), on("RTX 3060 12GB"))
    assert advice is not None and advice.cpu_only is not None
    cpu = advice.cpu_only
    shape = model_shape(llama70b)
    assert cpu.ram_needed_bytes > shape.weights_bytes and cpu.fits is (cpu.ram_needed_bytes <= RAM.available_bytes)
    # memory bound: bytes read per token over the default 50 GB/s
    assert cpu.tokens_per_s == pytest.approx(50e9 / shape.active_bytes_per_token, abs=0.051)  # shown to 0.1
    assert "GB/s" in cpu.arithmetic and "RAM:" in cpu.arithmetic
    lines = advice.lines()
    assert lines[0] == advice.reason and any(line.startswith("CPU only: needs") for line in lines)


def test_no_advice_when_something_reasonable_fits(llama8b: ModelProfile) -> None:
    assert advise(llama8b, RunSettings(8192), on("RTX 4090")) is None
    # a f16 cache at 32K overflows a 12 GB card, but q8_0 at the same context does not: no purchase needed
    assert advise(llama8b, RunSettings(16384), on("RTX 3060 12GB")) is None


def test_cpu_only_machines(llama8b: ModelProfile, llama70b: ModelProfile, demo: object) -> None:
    machine = HardwareProfile(ram=RAM, notes=["no GPU"])
    small = inspect_model(demo.reference)  # type: ignore[attr-defined]
    assert advise(small, RunSettings(2048), machine) is None  # a 135M model is fast on any CPU
    advice = advise(llama70b, RunSettings(8192), machine)
    assert advice is not None and "no usable GPU" in advice.reason and advice.comfort is not None


def test_smaller_quants_as_alternatives(llama70b: ModelProfile, tmp_path: Path) -> None:
    q8 = requantized(llama70b, "Q8_0")
    alts = quant_options(q8, RunSettings(8192), on("H100 SXM"))
    assert [a.settings["quant"] for a in alts] == ["Q5_K_M", "Q4_K_M"]
    assert all(a.fits for a in alts) and alts[0].gpu_bytes > alts[1].gpu_bytes
    assert quant_options(model_shape(llama70b), RunSettings(8192), on("H100 SXM")) == []  # already Q4_K-sized
