"""Before a comparison starts: its time and peak memory here, and, when a model cannot be compared on this
machine, saying so before anything loads, with what would work (core.app.compare_plan).

The models are sparse files of real shapes (tests/bench/scale_shapes.py: Qwen2-7B at Q4_K_M; an F16 file
of the same shape as a big reference); the machines are HardwareProfiles with a given amount of free RAM,
so the answers do not depend on the machine the tests run on. Nothing here loads a model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gguf
import pytest

from core.app.compare import EvalSettings
from core.app.compare_plan import preflight, remember_speed, remembered_speed
from core.cli.main import main
from core.errors import NotEnoughMemoryError
from core.hardware import HardwareProfile, SystemMemory
from core.memory.estimate import estimate
from core.memory.shape import model_shape
from core.model.inspection import inspect_model
from core.paths import CACHE_ENV
from core.settings.run import RunSettings

sys.path.insert(0, str(Path(__file__).parent / "bench"))
from ggufmaker import write_gguf
from scale_shapes import SHAPES, tensors, write_shape

GIB = 1024**3
Q = gguf.GGMLQuantizationType


def machine(free_gib: float) -> HardwareProfile:
    return HardwareProfile(ram=SystemMemory(int(64 * GIB), int(free_gib * GIB)), source="file")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("plan")
    q4 = write_shape(SHAPES["7B"], folder / "qwen2-7b.Q4_K_M.gguf", None)
    s = SHAPES["7B"]
    f16 = [(name, ne, Q.F32 if qtype == Q.F32 else Q.F16) for name, ne, qtype in tensors(s)]
    md = {"general.name": "Qwen2-7B F16", "general.file_type": int(gguf.LlamaFileType.MOSTLY_F16),
          "qwen2.block_count": s.n_layer, "qwen2.context_length": s.n_ctx_train, "qwen2.embedding_length": s.n_embd,
          "qwen2.feed_forward_length": s.n_ff, "qwen2.attention.head_count": s.n_head,
          "qwen2.attention.head_count_kv": s.n_head_kv, "qwen2.attention.layer_norm_rms_epsilon": 1e-6}  # fmt: skip
    ref = write_gguf(folder / "qwen2-7b.F16.gguf", arch="qwen2", metadata=md, tensors=f16)
    return {"q4": q4, "f16": ref}


def need(path: Path, n_ctx: int, free_gib: float = 64) -> int:
    est = estimate(model_shape(inspect_model(path)), RunSettings(n_ctx=n_ctx), machine(free_gib))
    return est.host.total_bytes


def test_a_7b_that_fits_says_its_time_and_peak_memory(models: dict[str, Path]) -> None:
    plan = preflight(str(models["f16"]), str(models["q4"]), RunSettings(), ["general"], hardware=machine(20))
    assert plan.fits and plan.options == ()
    assert plan.n_ctx == 4096  # the comparison's own context: the settings' (the CLI's default), above the chunk
    assert plan.peak_bytes == need(models["f16"], 4096)  # the larger side: the two are never loaded together
    assert 14 * GIB < plan.peak_bytes < 16 * GIB  # 7.6 B parameters at 2 bytes, plus the cache and buffers
    words = plan.words()
    assert words[0].startswith("This takes about ") and "rough guess" in words[0]
    assert words[1].startswith("Peak memory: about 14.") and "for the reference at a 4,096-token context" in words[1]
    assert json.loads(json.dumps(plan.to_dict()))["fits"] is True


def test_a_reference_too_big_gets_a_smaller_one_that_fits(models: dict[str, Path]) -> None:
    plan = preflight(str(models["f16"]), str(models["q4"]), RunSettings(), ["general"], hardware=machine(10))
    assert not plan.fits
    (problem,) = plan.problems()
    assert problem.startswith("The reference cannot be compared on this computer: it needs 14.")
    assert "10.00 GiB is available" in problem
    smaller = [o for o in plan.options if o.startswith("a smaller reference")]
    assert len(smaller) == 1 and "a Q8_0 file of the same model" in smaller[0]  # 7.6 GiB of Q8_0 fits in 10
    assert plan.options[-1].startswith("the published-table verdict")
    assert any(line.startswith("What would work: a smaller reference") for line in plan.words())


def test_a_long_context_that_does_not_fit_gets_the_largest_that_does(models: dict[str, Path]) -> None:
    ev = EvalSettings(long_chunk=32768)
    free = (need(models["q4"], 8192) + need(models["q4"], 16384)) / 2 / GIB  # 8K fits, 16K does not
    plan = preflight(str(models["q4"]), str(models["q4"]), RunSettings(), ["general"], True, ev,
                     hardware=machine(free))  # fmt: skip
    assert plan.n_ctx == 32768 and not plan.fits
    (ctx_option,) = [o for o in plan.options if "a smaller context" in o]
    fits = int(ctx_option.split("(-c ")[1].rstrip(").").strip())
    assert 8192 <= fits < 16384 and ctx_option.startswith("without the long-context text, or a smaller context")
    assert need(models["q4"], fits) <= free * GIB < need(models["q4"], fits + 256)  # the largest that fits


def test_a_model_that_fits_nowhere_here_gets_the_published_table(models: dict[str, Path]) -> None:
    plan = preflight(str(models["q4"]), str(models["q4"]), RunSettings(), ["general"], hardware=machine(2))
    assert not plan.fits and len(plan.sides) == 1  # the same file on both sides is one model
    assert plan.options == (plan.options[-1],) and plan.options[0].startswith("the published-table verdict")


def test_a_server_reference_is_timed_but_not_weighed(models: dict[str, Path]) -> None:
    plan = preflight("http://127.0.0.1:9/v1", str(models["q4"]), RunSettings(), ["general"], hardware=machine(20))
    assert [s.label for s in plan.sides] == ["your model"] and plan.fits


def test_the_measured_speed_is_kept_for_the_next_estimate(tmp_path: Path) -> None:
    assert remembered_speed(tmp_path) is None
    remember_speed(2.5, tmp_path)
    assert remembered_speed(tmp_path) == 2.5
    remember_speed(float("nan"), tmp_path)  # not a measurement: the last one stays
    assert remembered_speed(tmp_path) == 2.5
    (tmp_path / "compare-speed.json").write_text("{not json", encoding="utf-8")
    assert remembered_speed(tmp_path) is None


def test_cli_says_it_before_loading_anything(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import core.app.compare_plan as plan_module

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(plan_module, "detect_hardware", lambda: machine(10))
    args = ["compare", "--reference", str(models["f16"]), "--candidate", str(models["q4"]), "--domains", "general"]
    assert main([*args, "--plan"]) == 1
    out = capsys.readouterr().out
    assert "The reference cannot be compared on this computer" in out and "What would work: a smaller reference" in out
    assert main([*args, "--plan", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["fits"] is False
    with pytest.raises(NotEnoughMemoryError) as err:  # the sparse files would crash llama.cpp: it never gets there
        from core.cli.compare import cmd_compare
        from core.cli.main import build_parser

        cmd_compare(build_parser().parse_args(args))
    assert "The reference cannot be compared" in err.value.message and "a Q8_0 file" in err.value.fix
