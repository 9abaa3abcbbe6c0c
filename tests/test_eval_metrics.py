"""The metric definitions (llama-perplexity's), on synthetic logits where the exact answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import SetupError
from core.evaluation.compare import split_windows
from core.evaluation.metrics import (
    TopLogprobs,
    approximate_stats,
    candidate_stats,
    compress_reference,
    percentile,
    summarize,
)
from core.evaluation.samples import first_divergence
from core.settings.run import RunSettings, cache_type_id


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def _exact(ref: np.ndarray, cand: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    lp, lq = _log_softmax(ref), _log_softmax(cand)
    rows = np.arange(len(targets))
    kld = (np.exp(lp) * (lp - lq)).sum(axis=1)
    dp = np.exp(lq[rows, targets]) - np.exp(lp[rows, targets])
    return {
        "ppl_reference": math.exp(-lp[rows, targets].mean()),
        "ppl_candidate": math.exp(-lq[rows, targets].mean()),
        "kld_mean": float(kld.mean()),
        "top1": float((ref.argmax(1) == cand.argmax(1)).mean()),
        "rms_dp": float(np.sqrt((dp**2).mean())),
    }


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A flat-ish 'reference' over 5,000 tokens (much mass outside any top-64) and a noisy 'candidate'."""
    rng = np.random.default_rng(7)
    n, vocab = 300, 5000
    ref = (rng.standard_normal((n, vocab)) * 2.0).astype(np.float32)
    cand = (ref + rng.standard_normal((n, vocab)) * 0.8).astype(np.float32)
    targets = rng.integers(0, vocab, n).astype(np.int32)
    return ref, cand, targets


def test_full_vocabulary_kept_gives_exact_numbers(pair):
    ref, cand, targets = pair
    exact = _exact(ref, cand, targets)
    block = compress_reference(ref, targets, k=ref.shape[1])
    m = summarize(candidate_stats(cand, targets, block))
    assert m.ppl_reference == pytest.approx(exact["ppl_reference"], rel=1e-5)
    assert m.ppl_candidate == pytest.approx(exact["ppl_candidate"], rel=1e-5)
    assert m.ppl_ratio == pytest.approx(exact["ppl_candidate"] / exact["ppl_reference"], rel=1e-5)
    assert m.kld_mean == pytest.approx(exact["kld_mean"], rel=1e-4)
    assert m.top1_agreement == pytest.approx(exact["top1"])
    assert m.rms_dp == pytest.approx(exact["rms_dp"], rel=1e-4)
    assert m.tokens == len(targets)


def test_topk_plus_sampled_tail_stays_within_two_percent_of_exact_kld(pair):
    ref, cand, targets = pair
    exact = _exact(ref, cand, targets)
    block = compress_reference(ref, targets, k=64, samples=64)
    assert float(block.rest_mass.mean()) > 0.5  # most of the mass is outside the top-64 here
    m = summarize(candidate_stats(cand, targets, block))
    assert m.kld_mean == pytest.approx(exact["kld_mean"], rel=0.02)
    # PPL, top-1 and Δp never depend on the compression
    assert m.ppl_candidate == pytest.approx(exact["ppl_candidate"], rel=1e-5)
    assert m.top1_agreement == pytest.approx(exact["top1"])


def test_bucketing_the_tail_alone_would_undershoot(pair):
    """Why the tail is sampled: one 'rest' bucket is only a lower bound, and far off on flat distributions."""
    ref, cand, targets = pair
    exact = _exact(ref, cand, targets)
    m = summarize(candidate_stats(cand, targets, compress_reference(ref, targets, k=64, samples=0)))
    assert m.kld_mean < 0.8 * exact["kld_mean"]


def test_identical_models_give_zero_kld_and_full_agreement(pair):
    ref, _, targets = pair
    m = summarize(candidate_stats(ref, targets, compress_reference(ref, targets, k=64, samples=64)))
    assert m.kld_mean == pytest.approx(0.0, abs=1e-6)
    assert m.kld_p99 == pytest.approx(0.0, abs=1e-5)
    assert m.top1_agreement == 1.0
    assert m.ppl_ratio == pytest.approx(1.0, abs=1e-9)
    assert m.rms_dp == pytest.approx(0.0, abs=1e-9)


def test_percentile_is_llama_perplexity_s_linear_interpolation():
    values = np.sort(np.random.default_rng(1).random(1001))
    for f in (0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0):
        assert percentile(values, f) == pytest.approx(float(np.percentile(values, 100 * f)), rel=1e-12)
    assert percentile(np.array([1.0, 2.0]), 0.5) == 1.5


def test_approximate_stats_from_top_k_dictionaries():
    same = [TopLogprobs(i, "a", math.log(0.7), {"a": math.log(0.7), "b": math.log(0.2)}) for i in range(10)]
    s = summarize(approximate_stats(same, same), approximate=True)
    assert s.kld_mean == pytest.approx(0.0, abs=1e-12) and s.top1_agreement == 1.0 and s.approximate
    other = [TopLogprobs(i, "a", math.log(0.1), {"b": math.log(0.8), "a": math.log(0.1)}) for i in range(10)]
    d = summarize(approximate_stats(same, other), approximate=True)
    assert d.top1_agreement == 0.0
    assert d.ppl_ratio == pytest.approx(7.0)
    # Σ p log(p/q) over the listed tokens plus the rest bucket (0.1 vs 0.1): 0.7 ln 7 + 0.2 ln 0.25
    assert d.kld_mean == pytest.approx(0.7 * math.log(7) + 0.2 * math.log(0.25), rel=1e-9)
    assert d.to_dict()["approximate"] is True


def test_first_divergence_points_at_the_candidate_token_where_texts_part():
    assert first_divergence(["The", " cat", " sat"], ["The", " cat", " sat"]) == (None, None)
    assert first_divergence(["The", " cat", " sat"], ["The", " car", " won"]) == (1, 6)
    assert first_divergence(["The", " cat"], ["A", " cat"]) == (0, 0)
    assert first_divergence(["The", " cat", " sat"], ["The", " cat"]) == (2, 7)  # the candidate stopped early
    assert first_divergence(["Hel", "lo"], ["Hello", " there"]) == (1, 5)  # deltas of another shape


def test_windows_cover_the_text_at_word_breaks():
    text = " ".join(f"word{i}" for i in range(2000))
    windows = split_windows(text, chunk=128, chars_per_token=4.0)
    assert len(windows) > 10
    assert all(len(w) <= int(124 * 4.0 * 0.85) for w in windows)
    assert "".join(windows) == text[: len("".join(windows))]
    assert all(w.startswith(" ") or w == windows[0] for w in windows)
    assert len(split_windows(text, 128, 4.0, max_windows=3)) == 3


def test_settings_are_checked_in_plain_words():
    assert cache_type_id("q4_0") == 2 and cache_type_id("F16") == 1 and cache_type_id("q8_0") == 8
    with pytest.raises(SetupError, match="not a KV cache type"):
        RunSettings(cache_type_k="q3_k")
    with pytest.raises(SetupError, match="flash attention"):
        RunSettings(cache_type_v="q4_0", flash_attn="off").require_llama_cpp_loads()
    both = RunSettings().with_cache("q8_0")
    assert (both.cache_type_k, both.cache_type_v) == ("q8_0", "q8_0")
