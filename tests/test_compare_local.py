"""Side-by-side comparisons of the real demo models (small chunks, two of them, short samples)."""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import pytest
from ggufmaker import write_gguf

from core.errors import EvaluationSetupError, IncompatibleModelsError
from core.evaluation import Comparison, EvalSettings, RunSettings, TokenProgress, compare
from core.evaluation.compare import DomainResult
from core.evaluation.identity import vocab_of
from core.paths import CACHE_ENV
from core.progress import Progress, run_job

EV = EvalSettings(chunk=128, max_chunks=2, sample_tokens=16)
RS = RunSettings(n_ctx=512, n_threads=2)
SCORED = 2 * (128 - 1 - 64)  # llama-perplexity scores tokens 65..127 of each 128-token chunk


@pytest.fixture(scope="module")
def models(demo, tmp_path_factory):
    """The demo paths, with the reference-logit cache pointed at a fresh folder for this module."""
    cache = tmp_path_factory.mktemp("eval-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(cache))
        yield demo


@pytest.fixture(scope="module")
def q2(models) -> tuple[Comparison, list[Progress]]:
    events: list[Progress] = []
    result = run_job(
        compare(
            str(models.reference), str(models.candidates["Q2_0"]), RS, RS, ["general"], eval_settings=EV, full=True
        ),  # every chunk: these tests check the full measurement (tests/test_early_stop.py: the rest)
        events.append,
    )
    return result, events


def test_q2_0_is_measured_as_badly_damaged(q2):
    c, _ = q2
    m = c.metrics["general"]
    assert c.what == "quant" and not c.approximate
    assert m.tokens == SCORED
    assert m.ppl_ratio > 10  # "far above 1.01": Q2_0 of a 135M model is incoherent
    assert m.kld_mean > 2.0
    assert m.top1_agreement < 0.3
    assert m.rms_dp > 0.1
    assert m.kld_p99 >= m.kld_mean
    assert c.verdict("general").words == "badly damaged"
    assert c.to_dict()["verdict"]["words"] == "badly damaged"


def test_q2_0_sample_text_parts_from_the_reference(q2):
    c, _ = q2
    (s,) = c.samples
    assert s.domain == "general" and s.prompt_id == "general-water-cycle"
    assert s.reference and s.candidate and s.reference != s.candidate
    assert s.first_divergence is not None and s.first_divergence_char is not None
    assert s.reference[: s.first_divergence_char] == s.candidate[: s.first_divergence_char]
    assert 1 <= s.reference_tokens <= EV.sample_tokens


def test_progress_phases_tokens_and_streamed_samples(q2):
    _, events = q2
    phases = [e.phase for e in events]
    first_cand = next(i for i, p in enumerate(phases) if p.startswith("Candidate"))
    assert all(not p.startswith("Candidate") for p in phases[:first_cand])  # reference first, then candidate
    assert any(p.startswith("Reference") for p in phases[:first_cand])
    scoring = [e for e in events if "scoring the general text" in e.phase and e.total]
    assert scoring and scoring[-1].done == scoring[-1].total == SCORED and scoring[-1].unit == "tokens"
    streamed = [e for e in events if isinstance(e, TokenProgress)]
    assert {e.side for e in streamed} == {"reference", "candidate"}
    assert all(e.sample_id == "sample:general-water-cycle" and e.token is not None for e in streamed)
    assert phases[-1] == "Comparison finished"


def test_each_domain_is_reported_as_soon_as_it_is_done_with_one_overall_share(q2):
    c, events = q2
    (i,) = [k for k, e in enumerate(events) if isinstance(e, DomainResult)]
    result = events[i]
    assert result.domain == "general" and result.metrics == c.metrics["general"]
    assert result.verdict.words == "badly damaged" and "badly damaged" in result.line()
    later = events[i + 1 :]
    assert any(isinstance(e, TokenProgress) and e.side == "candidate" for e in later)  # before the samples end
    shares = [e.overall for e in events if e.overall is not None]
    assert len(shares) > 5 and shares[-1] == 1.0 and 0 < shares[len(shares) // 2] < 1
    assert all(b >= a - 0.15 for a, b in itertools.pairwise(shares))  # rates re-measured: small dips only
    assert any(e.overall_eta_s is not None and e.overall_eta_s > 0 for e in events[:i])


def test_json_shape_matches_the_cli_contract(q2):
    c, _ = q2
    d = json.loads(json.dumps(c.to_dict()))
    assert set(d["samples"][0]) >= {"domain", "prompt", "reference", "candidate", "first_divergence"}
    assert set(d["metrics"]["general"]) >= {"ppl_reference", "ppl_candidate", "ppl_ratio", "kld_mean", "kld_p99",
                                            "top1_agreement", "rms_dp", "tokens"}  # fmt: skip
    again = Comparison.from_dict(d)
    assert again.metrics["general"].ppl_ratio == pytest.approx(c.metrics["general"].ppl_ratio)
    assert again.samples == c.samples


def test_the_reference_against_itself_is_lossless_and_reuses_its_cached_logits(models, q2):
    ref = str(models.reference)
    c = run_job(compare(ref, ref, RS, RS, ["general"], eval_settings=EV))
    m = c.metrics["general"]
    assert c.what == "settings"
    assert c.cached_reference == ["general"]  # the Q2_0 run above already computed them
    assert m.kld_mean == pytest.approx(0.0, abs=1e-6)
    assert m.top1_agreement == 1.0
    assert m.ppl_ratio == pytest.approx(1.0, abs=1e-9)
    assert c.verdict("general").words == "practically identical"
    assert m.ppl_reference == pytest.approx(q2[0].metrics["general"].ppl_reference, rel=1e-9)
    (s,) = c.samples
    assert s.first_divergence is None and s.reference == s.candidate


def test_a_q4_0_kv_cache_against_f16_isolates_the_cache_effect(models):
    ref = str(models.reference)
    q4_cache = RS.with_cache("q4_0")
    c = run_job(compare(ref, ref, RS, q4_cache, ["general"], eval_settings=EV))
    m = c.metrics["general"]
    assert c.what == "settings"
    assert c.candidate_settings["cache_type_k"] == c.candidate_settings["cache_type_v"] == "q4_0"
    assert c.reference_settings["cache_type_k"] == "f16"
    assert 1e-4 < m.kld_mean < 0.5  # a real but moderate loss, far below Q2_0's
    assert m.ppl_ratio != pytest.approx(1.0, abs=1e-6)
    assert 0.5 < m.top1_agreement < 1.0


def _fake_vocab_gguf(path: Path, tokens: list[str]) -> Path:
    return write_gguf(
        path, metadata={"general.name": "other", "tokenizer.ggml.model": "gpt2"},
        arrays={"tokenizer.ggml.tokens": tokens},
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["smaller", "same-size"])
def test_models_with_another_vocabulary_are_refused_before_anything_loads(models, tmp_path, kind):
    n = vocab_of(models.reference).n_tokens
    tokens = [f"tok{i}" for i in range(32000 if kind == "smaller" else n)]
    other = _fake_vocab_gguf(tmp_path / "other.gguf", tokens)
    events: list[Progress] = []
    started = time.monotonic()
    with pytest.raises(IncompatibleModelsError) as err:
        run_job(compare(str(models.reference), str(other), RS, RS, ["general"], eval_settings=EV), events.append)
    assert time.monotonic() - started < 5
    assert not any(e.phase.startswith(("Reference", "Candidate")) for e in events)  # no model was started
    assert "do not share a vocabulary" in err.value.message
    assert ("against 32,000" if kind == "smaller" else "different ones") in err.value.message
    assert err.value.fix


def test_bad_sources_are_refused_in_plain_words(models, tmp_path):
    ref = str(models.reference)
    with pytest.raises(EvaluationSetupError, match="does not exist"):
        run_job(compare(ref, str(tmp_path / "missing.gguf"), RS, RS, ["general"], eval_settings=EV))
    with pytest.raises(EvaluationSetupError, match="is a folder"):
        run_job(compare(ref, str(tmp_path), RS, RS, ["general"], eval_settings=EV))
    with pytest.raises(EvaluationSetupError, match="no 'poetry' domain"):
        run_job(compare(ref, ref, RS, RS, ["poetry"], eval_settings=EV))
    assert os.environ[CACHE_ENV]  # the module's own cache folder is in use
