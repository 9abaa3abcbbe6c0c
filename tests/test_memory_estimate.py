"""core.memory.estimate without llama.cpp: the KV formula, placement, searches and alternatives, with numbers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_memory_agreement import SHAPES, write_shaped

from core.errors import MemoryEstimateError, SetupError
from core.hardware import GpuInfo, HardwareProfile, SystemMemory
from core.memory.compute_graph import GraphSetup, GraphShape, compute_buffer_bytes
from core.memory.estimate import RUNTIME_OVERHEAD_BYTES, estimate, layer_devices
from core.memory.parts import cells, kv_bytes
from core.memory.plan import plan
from core.memory.search import max_context, max_gpu_layers
from core.memory.shape import ModelShape, model_shape
from core.model.inspection import inspect_model
from core.settings.run import RunSettings

GIB, MIB = 1024**3, 1024**2


@pytest.fixture(scope="module")
def llama8b(tmp_path_factory: pytest.TempPathFactory) -> ModelShape:
    path = write_shaped(tmp_path_factory.mktemp("m") / "llama3-8b.gguf", **SHAPES["llama3-8b"])
    return model_shape(inspect_model(path))


@pytest.fixture(scope="module")
def smol(demo: object) -> ModelShape:
    return model_shape(inspect_model(demo.reference))  # type: ignore[attr-defined]


def machine(*gpus_gib: float, ram_gib: float = 64, bandwidth: float = 1000.0) -> HardwareProfile:
    return HardwareProfile(
        gpus=[
            GpuInfo(
                "nvidia",
                i,
                f"GPU{i}",
                "cuda",
                total_bytes=int(g * GIB),
                usable_bytes=int(g * GIB),
                bandwidth_gbps=bandwidth,
            )
            for i, g in enumerate(gpus_gib)
        ],
        ram=SystemMemory(int(ram_gib * GIB), int(ram_gib * GIB)),
    )


# --- KV cache: the formula in docs/ARCHITECTURE.md ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache", "bytes_per_element"),
    [
        ("f16", 2),
        ("q8_0", 34 / 32),
        ("q4_0", 18 / 32),
        ("q4_1", 20 / 32),
        ("q5_0", 22 / 32),
        ("q5_1", 24 / 32),
        ("iq4_nl", 18 / 32),
        ("f32", 4),
    ],
)
def test_kv_cache_formula(llama8b: ModelShape, cache: str, bytes_per_element: float) -> None:
    setup = RunSettings(8192, cache, cache, True)
    # n_layer x n_ctx x (head_dim_k x n_head_kv x s(k) + head_dim_v x n_head_kv x s(v))
    assert kv_bytes(llama8b, setup) == 32 * 8192 * (128 * 8 * bytes_per_element * 2)


def test_mixed_k_and_v_types(llama8b: ModelShape) -> None:
    assert kv_bytes(llama8b, RunSettings(8192, "q8_0", "f16", True)) == 32 * 8192 * 1024 * (34 / 32 + 2)


def test_context_is_padded_to_256_cells(llama8b: ModelShape) -> None:
    assert kv_bytes(llama8b, RunSettings(3000, "f16", "f16")) == kv_bytes(llama8b, RunSettings(3072, "f16", "f16"))
    assert cells(RunSettings(3000)) == 3072 and cells(RunSettings(256)) == 256


def test_sliding_window_layers_hold_only_the_window(llama8b: ModelShape) -> None:
    g = replace(llama8b.graph, swa_layers=tuple(il % 6 < 5 for il in range(32)))  # gemma3's pattern of 6
    shape = replace(llama8b, graph=g, n_swa=1024)
    per_layer_cell = 1024 * 2 * 2
    full = sum(1 for x in g.swa_layers if not x)  # layers 5, 11, 17, 23, 29
    swa = 32 - full
    assert full == 5
    # window 1024 + ubatch 512 = 1536 cells for the sliding layers, padded to 256
    assert kv_bytes(shape, RunSettings(32768)) == per_layer_cell * (full * 32768 + swa * 1536)
    assert kv_bytes(shape, RunSettings(32768, swa_full=True)) == per_layer_cell * 32 * 32768
    assert kv_bytes(shape, RunSettings(1024)) == per_layer_cell * 32 * 1024  # never more than the context


def test_the_gemma3_pattern_from_the_architecture(tmp_path: Path) -> None:
    from core.memory.shape import swa_layers as _swa_layers

    assert _swa_layers("gemma3", 12, 1024, None) == (True,) * 5 + (False,) + (True,) * 5 + (False,)
    assert _swa_layers("gemma2", 4, 4096, None) == (True, False, True, False)
    assert _swa_layers("qwen2", 4, 4096, None) == ()  # llama.cpp ignores Qwen2's window
    assert _swa_layers("gemma3", 4, 1024, [True, False, False, True]) == (True, False, False, True)


# --- compute buffers: the replay, pinned to llama.cpp's own figures ---------------------------------


@pytest.mark.parametrize(
    ("n_kv", "flash_attn", "mib"),
    [(2048, False, 266.50), (8192, False, 572.01), (32768, False, 2156.01), (8192, True, 266.50)],
)
def test_compute_buffer_of_llama3_8b(n_kv: int, flash_attn: bool, mib: float) -> None:
    """Figures llama.cpp printed (CPU compute buffer size) for a Llama-3-8B shape, ubatch 512."""
    shape = GraphShape(32, 4096, 32, 8, 128, 128, 14336, 128256)
    got = compute_buffer_bytes(shape, GraphSetup(512, 512, n_kv, n_kv, flash_attn))
    assert got / MIB == pytest.approx(mib, abs=0.005)


def test_compute_grows_with_ubatch_context_and_vocab() -> None:
    shape = GraphShape(32, 4096, 32, 8, 128, 128, 14336, 128256)
    base = compute_buffer_bytes(shape, GraphSetup(512, 512, 8192, 8192, False))
    assert compute_buffer_bytes(shape, GraphSetup(1024, 1024, 8192, 8192, False)) > base
    assert compute_buffer_bytes(shape, GraphSetup(512, 512, 16384, 16384, False)) > base
    assert compute_buffer_bytes(replace(shape, n_vocab=256000), GraphSetup(512, 512, 2048, 2048, True)) > (
        compute_buffer_bytes(shape, GraphSetup(512, 512, 2048, 2048, True))
    )


# --- placement --------------------------------------------------------------------------------------


def test_layer_placement_follows_llama_cpp() -> None:
    gpu = [GpuInfo("nvidia", 0, "g", "cuda", usable_bytes=GIB)]
    assert layer_devices(4, 5, gpu) == [0, 0, 0, 0, 0]  # -ngl 5 on 4 layers: everything, output included
    assert layer_devices(4, 4, gpu) == [-1, 0, 0, 0, 0]  # -ngl 4: layer 0 stays, the output goes
    assert layer_devices(4, 1, gpu) == [-1, -1, -1, -1, 0]  # -ngl 1: only the output layer
    assert layer_devices(4, 0, gpu) == [-1] * 5
    two = [GpuInfo("nvidia", i, "g", "cuda", usable_bytes=GIB * (1 + i)) for i in range(2)]
    assert layer_devices(5, 6, two) == [0, 0, 1, 1, 1, 1]  # split by free memory: 1/3 and 2/3


def test_full_offload(llama8b: ModelShape) -> None:
    est = estimate(llama8b, RunSettings(8192, "q8_0", "q8_0", True), machine(24))
    gpu, host = est.gpus[0], est.host
    assert host.weights_bytes == llama8b.input_bytes + llama8b.other_bytes  # the token embeddings stay
    assert gpu.weights_bytes == sum(llama8b.layer_bytes) + llama8b.output_bytes
    assert gpu.kv_bytes == 544 * MIB and host.kv_bytes == 0
    assert gpu.layers == 32 and gpu.holds_output and gpu.overhead_bytes == RUNTIME_OVERHEAD_BYTES["cuda"]
    # llama.cpp's reservation, less the embeddings input that stays on the host
    assert gpu.compute_bytes / MIB == pytest.approx(274.50 - 8, abs=0.005)
    assert host.compute_bytes < 40 * MIB  # inputs, the embedding lookup and the logits row
    assert est.fits and gpu.margin_bytes == 24 * GIB - gpu.total_bytes


def test_tied_embeddings_put_a_copy_on_the_gpu(smol: ModelShape) -> None:
    assert smol.tied_output and smol.tied_copy_bytes == smol.input_bytes
    on_gpu = estimate(smol, RunSettings(2048), machine(8))
    on_cpu = estimate(smol, RunSettings(2048, n_gpu_layers=0), machine(8))
    assert on_gpu.gpus[0].weights_bytes == sum(smol.layer_bytes) + smol.output_bytes + smol.input_bytes
    assert on_cpu.host.weights_bytes == smol.weights_bytes  # on the host the matrix serves both roles
    assert on_cpu.gpus[0].total_bytes == 0  # a GPU holding nothing costs nothing


def test_partial_offload_splits_weights_and_kv(llama8b: ModelShape) -> None:
    est = estimate(llama8b, RunSettings(8192, n_gpu_layers=17), machine(24))
    gpu, host = est.gpus[0], est.host
    assert gpu.layers == 16 and host.layers == 16 and gpu.holds_output
    assert gpu.kv_bytes == host.kv_bytes == 512 * MIB
    assert gpu.weights_bytes == sum(llama8b.layer_bytes[16:]) + llama8b.output_bytes
    # prompt batches copy a host layer's weights into the GPU's compute buffer
    full = estimate(llama8b, RunSettings(8192), machine(24)).gpus[0]
    assert gpu.compute_bytes == full.compute_bytes + max(llama8b.layer_bytes[:16])
    assert any("run on the CPU" in n for n in est.notes)


def test_two_gpus_each_pay_their_runtime(llama8b: ModelShape) -> None:
    est = estimate(llama8b, RunSettings(8192), machine(12, 12))
    a, b = est.gpus
    assert a.layers + b.layers == 32 and b.holds_output and not a.holds_output
    assert a.overhead_bytes == b.overhead_bytes == RUNTIME_OVERHEAD_BYTES["cuda"]


def test_lost_gpus_are_not_planned_with(llama8b: ModelShape) -> None:
    hw = machine(24)
    hw.gpus[0].lost = True
    est = estimate(llama8b, RunSettings(8192), hw)
    assert est.gpus == [] and est.host.weights_bytes == llama8b.weights_bytes


def test_unified_memory_shares_ram(llama8b: ModelShape) -> None:
    hw = machine(48, ram_gib=64)
    hw.gpus[0].unified_memory = True
    est = estimate(llama8b, RunSettings(8192), hw)
    assert est.host.available_bytes == 64 * GIB - est.gpus[0].total_bytes


# --- searches ---------------------------------------------------------------------------------------


def test_max_context_is_the_edge(llama8b: ModelShape) -> None:
    hw = machine(8)
    setup = RunSettings(8192, "q8_0", "q8_0", True)
    ctx = max_context(llama8b, setup, hw)
    assert ctx % 256 == 0 and 0 < ctx < 131072
    assert estimate(llama8b, replace(setup, n_ctx=ctx), hw).fits
    assert not estimate(llama8b, replace(setup, n_ctx=ctx + 256), hw).fits
    assert max_context(llama8b, setup, machine(80)) == 131072  # capped at the model's own context
    assert max_context(llama8b, setup, machine(2)) == 0  # the weights alone do not fit


def test_max_gpu_layers_is_the_edge(llama8b: ModelShape) -> None:
    hw = machine(3)
    setup = RunSettings(8192)
    ngl = max_gpu_layers(llama8b, setup, hw)
    assert 0 < ngl < 33
    assert estimate(llama8b, replace(setup, n_gpu_layers=ngl), hw).gpus[0].fits
    assert not estimate(llama8b, replace(setup, n_gpu_layers=ngl + 1), hw).gpus[0].fits
    assert max_gpu_layers(llama8b, setup, machine(24)) == 33


def test_plan_offers_alternatives_with_numbers(llama8b: ModelShape) -> None:
    hw = machine(6, bandwidth=360)
    report = plan(llama8b, RunSettings(32768), hw)
    assert not report.fits
    labels = [a.label for a in report.alternatives]
    assert labels[0] == "q8_0 KV cache (with flash attention)"
    assert any(x.startswith("smaller context: ") for x in labels)
    assert any(x.startswith("partial offload: -ngl ") for x in labels)
    assert labels[-1] == "CPU only"
    q8 = report.alternatives[0]
    assert q8.settings["cache_type_k"] == "q8_0" and "2.12 GiB instead of 4.00 GiB" in q8.arithmetic
    small = next(a for a in report.alternatives if a.label.startswith("smaller context: "))
    assert small.fits and small.settings["ctx"] == max_context(llama8b, replace(report.estimate.setup, n_ctx=32767), hw)
    part = next(a for a in report.alternatives if a.label.startswith("partial offload: "))
    assert part.fits and part.slowdown is not None and part.slowdown > 1
    assert "GB/s" in part.arithmetic and "tokens/s" in part.arithmetic
    cpu = report.alternatives[-1]
    assert cpu.gpu_bytes == 0 and cpu.tokens_per_s is not None and cpu.tokens_per_s < part.tokens_per_s


def test_plan_without_a_gpu(smol: ModelShape) -> None:
    report = plan(smol, RunSettings(2048, flash_attn=False), HardwareProfile(ram=SystemMemory(16 * GIB, 8 * GIB)))
    assert report.fits and report.alternatives == [] and report.max_gpu_layers == 0
    assert report.max_context == 8192  # SmolLM2's trained context
    d = report.to_dict()
    for key in ("fits", "max_context", "n_gpu_layers", "alternatives", "upgrade"):
        assert key in d
    assert set(d["devices"][0]) >= {"weights_bytes", "kv_bytes", "compute_bytes", "overhead_bytes", "total_bytes"}


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"n_ctx": 0}, "not possible"),
        ({"n_ctx": 512, "cache_type_k": "q3_k"}, "not a KV cache type"),
        ({"n_ctx": 512, "cache_type_v": "q8_0", "flash_attn": False}, "flash attention off"),
        ({"n_ctx": 512, "n_ubatch": 0}, "batch size"),
    ],
)
def test_impossible_setups(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(SetupError, match=words):
        RunSettings(**kwargs).require_llama_cpp_loads()  # type: ignore[arg-type]


def test_quantized_k_without_flash_attention_is_allowed(llama8b: ModelShape) -> None:
    est = estimate(llama8b, RunSettings(8192, "q8_0", "f16", False), machine(24))
    assert est.gpus[0].kv_bytes == 32 * 8192 * 1024 * (34 / 32 + 2)


def test_non_gguf_models_are_refused(smol: ModelShape, demo: object) -> None:
    profile = inspect_model(demo.reference)  # type: ignore[attr-defined]
    with pytest.raises(MemoryEstimateError, match="GGUF"):
        model_shape(replace(profile, format="exl2"))
    with pytest.raises(MemoryEstimateError, match="block_count"):
        model_shape(replace(profile, block_count=None))
