"""Is it the file or my settings? Measured on the real demo model, and fed to the checks as evidence."""

from __future__ import annotations

import pytest

from core.checks import kv_cache, quant_tier
from core.checks.base import CheckInput
from core.checks.measurements import DomainMetrics, Measurements
from core.evaluation import Comparison, EvalSettings, RunSettings
from core.evaluation.long_context import scoring_context
from core.evaluation.settings_trial import _judge, file_or_settings
from core.model.inspection import inspect_model
from core.paths import CACHE_ENV
from core.progress import run_job
from core.settings.setup import Setup

THEIRS = RunSettings(n_ctx=512, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn="on", n_threads=2)


@pytest.fixture(scope="module")
def trial(demo, tmp_path_factory):
    """The demo Q4_1 with a q4_0 cache at 512 tokens (`bench_verdicts.py --trial --ctx 16384` runs 16K; the
    figures of this run are in tests/bench/README.md, printed by `make figures`)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("eval-cache")))
        ev = EvalSettings(chunk=128, max_chunks=1, sample_tokens=4)
        yield run_job(file_or_settings(str(demo.reference), THEIRS, None, ev, ["long"]))


def test_a_q4_0_cache_is_measured_as_the_cause(trial):
    assert trial.answer == "settings" and trial.context == 512 and trial.capped is None
    m = trial.theirs.metrics["long"]
    assert m.tokens == 512 - 1 - 256
    assert m.kld_mean > 0.008 and m.top1_agreement < 0.97  # past "practically identical"
    assert "Your settings are the cause (a quantized KV cache)" in trial.explanation
    assert trial.theirs.candidate_settings["cache_type_k"] == "q4_0"
    assert trial.theirs.reference_settings["cache_type_k"] == "f16"


def test_the_kv_cache_finding_is_confirmed_by_the_measurement(demo, trial):
    m = Measurements.from_trial(trial)
    assert m.kv_cache["long"] is trial.theirs.metrics["long"]  # the comparison's own numbers, no conversion
    base = m.kv_baseline["long"]
    assert base.kld_mean == 0 and base.ppl_candidate == trial.theirs.metrics["long"].ppl_reference
    setup = Setup.of(ctx=512, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True)
    p = inspect_model(demo.reference)
    assert kv_cache.run(CheckInput(p, setup)).confidence == "suspected"
    f = kv_cache.run(CheckInput(p, setup, measurements=m))
    assert f.confidence == "confirmed-by-measurement" and f.severity == "warning"
    assert any("measured on long: small loss with your settings" in e for e in f.evidence)
    again = Measurements.from_json(trial.to_dict())  # diagnose --comparison reads the saved JSON alike
    assert again.kv_cache["long"].kld_mean == pytest.approx(m.kv_cache["long"].kld_mean)


def _cmp(kld: float, top1: float, what: str = "quant", label: str | None = None) -> Comparison:
    return Comparison("r", "c", what, {"long": DomainMetrics.of(10, 10 * (1 + kld), kld, top1)}, [],
                      candidate_type=label)  # fmt: skip


@pytest.mark.parametrize(
    ("theirs", "safe", "answer"),
    [
        ((0.2, 0.8), (0.01, 0.97), "settings"),  # only their run is bad
        ((0.2, 0.8), (0.15, 0.82), "file"),  # as bad with an f16 cache: the file
        ((0.9, 0.5), (0.1, 0.85), "both"),
        ((0.004, 0.98), (0.003, 0.98), "neither"),
    ],
)
def test_which_is_to_blame(theirs, safe, answer):
    got, words = _judge(_cmp(*theirs), _cmp(*safe), THEIRS)
    assert got == answer and words


def test_a_file_far_above_typical_for_its_label_is_the_files_fault():
    got, words = _judge(_cmp(0.2, 0.9), _cmp(0.2, 0.9, label="Q8_0"), THEIRS)  # 150× a Q8_0's typical loss
    assert got == "file" and "with safe settings" in words


def test_the_context_is_capped_by_free_memory_and_says_so(demo):
    assert scoring_context(str(demo.reference), 16384, available=64 * 2**30) == (16384, None)
    ctx, why = scoring_context(str(demo.reference), 16384, available=600 * 2**20)
    assert 256 <= ctx < 16384 and ctx % 256 == 0
    assert why is not None and f"{ctx:,}" in why and "16,384" in why and "free memory" in why


def test_a_same_file_comparison_gives_the_kv_check_both_sides():
    c = _cmp(0.05, 0.9, what="settings")
    m = Measurements.from_comparison(c)
    assert m.kv_cache["long"] is c.metrics["long"] and not m.quant
    assert m.kv_baseline["long"].ppl_candidate == c.metrics["long"].ppl_reference  # the f16 run's own numbers


def test_far_above_typical_for_the_label_becomes_the_quant_finding(demo):
    p = inspect_model(demo.candidates["Q4_0"])
    m = Measurements(quant={"general": DomainMetrics.of(10, 12, 0.5, 0.7)}, quant_type="Q4_0")  # 7× typical
    f = quant_tier.run(CheckInput(p, Setup(), measurements=m))
    assert f.title.startswith("For a file labelled Q4_0 this loss is 7× what is typical")
    # 7× the table's 0.0719: past far_above_typical (5×), short of the critical 4 × 5 = 20×
    assert f.confidence == "confirmed-by-measurement" and f.severity == "warning"
    assert "another uploader's Q4_0" in f.fix[0].text
    fine = Measurements(quant={"general": DomainMetrics.of(10, 10.5, 0.07, 0.85)}, quant_type="Q4_0")
    assert "labelled" not in quant_tier.run(CheckInput(p, Setup(), measurements=fine)).title
