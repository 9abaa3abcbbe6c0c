"""The stop rule (core.evaluation.early_stop) on crafted score streams, then on the real demo models.

The streams are populations of per-chunk results (mean KLD, same-top share) that a full run would
score in full. Each is fed to a DomainWatch in a random order, as the comparison does, and the test
checks the two promises of issue 25: a verdict called final never differs from the full run's, and
the clear cases stop early.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.evaluation import EvalSettings, RunSettings, compare
from core.evaluation.compare import Comparison, DomainResult, Provisional
from core.evaluation.early_stop import (
    ALPHA,
    DomainWatch,
    WithoutReplacementCS,
    chunk_order,
    overall_settled,
    worst_edge,
)
from core.evaluation.verdicts import judge, table
from core.paths import CACHE_ENV
from core.progress import Progress, run_job

T = 255  # scored tokens per 512-token chunk
BANDS = [b.id for b in table().bands]


def full_band(kld: np.ndarray, top: np.ndarray) -> int:
    """The full run's band: judge() on the mean over every chunk (every chunk holds T tokens)."""
    return BANDS.index(judge(float(kld.mean()), float(top.mean())).band)


def feed(kld: np.ndarray, top: np.ndarray, seed: int, alpha: float = ALPHA / 4) -> DomainWatch:
    """Score a population in a random order until the stop rule calls the band final (or it runs out)."""
    w = DomainWatch("d", T, alpha)
    w.plan(len(kld))
    for i in np.random.default_rng(seed).permutation(len(kld)):
        w.add(float(kld[i]) * T, round(float(top[i]) * T), T)
        if w.final:
            break
    return w


def test_clearly_damaged_is_final_after_one_chunk_on_certain_bounds_alone():
    # Q2_0 against Q4_1 on the demo's multilingual text: 8 chunks around KLD 15, same top token 0.1%
    kld = np.array([15.1, 14.2, 16.0, 15.5, 13.9, 14.8, 15.3, 15.7])
    top = np.full(8, 0.001)
    w = feed(kld, top, seed=0)
    assert w.final and w.final_after == T and w.final_band == BANDS.index("damaged") == full_band(kld, top)
    # certain, not probable: even with every other chunk at zero the text's mean stays past the worst edge
    assert w.bounds().kld_lo == pytest.approx(w.kld_sum / (8 * T)) and w.bounds().kld_lo >= worst_edge()


def test_one_bad_chunk_among_many_good_ones_is_not_called_damaged():
    kld = np.r_[15.0, np.full(39, 0.01)]  # one garbled chunk; the text's mean is 0.38: heavy, not damaged
    top = np.r_[0.0, np.full(39, 0.95)]
    w = DomainWatch("d", T, ALPHA / 4)
    w.plan(40)
    w.add(15.0 * T, 0, T)  # the bad chunk comes first: the worst case for a rule that trusts early chunks
    assert not w.final and w.band_range()[0] < BANDS.index("damaged") == full_band(kld, top) + 1


def test_clearly_fine_stops_before_the_end_on_a_long_text():
    rng = np.random.default_rng(1)
    n = 1500  # chunks are bounded only by the clip, so a small loss needs many of them (module docstring)
    kld = np.clip(rng.normal(0.001, 0.0004, n), 0, None)
    top = np.clip(rng.normal(0.985, 0.01, n), 0, 1)
    w = feed(kld, top, seed=2)
    assert w.final and w.final_band == BANDS.index("identical") == full_band(kld, top)
    assert w.chunks < n  # stopped early


def test_a_clear_noticeable_loss_stops_early():
    rng = np.random.default_rng(3)
    n = 200
    kld = np.clip(rng.normal(0.12, 0.03, n), 0, None)
    top = np.clip(rng.normal(0.80, 0.03, n), 0, 1)
    w = feed(kld, top, seed=4)
    assert w.final and w.final_band == BANDS.index("noticeable") == full_band(kld, top)
    assert w.chunks < n // 2


def test_on_a_band_edge_it_scores_to_the_end():
    rng = np.random.default_rng(5)
    n = 60
    kld = rng.normal(0.05, 0.01, n)
    kld = np.clip(kld - kld.mean() + 0.0501, 0, None)  # the full run's mean sits just above the 0.05 edge
    top = np.full(n, 0.93)
    w = feed(kld, top, seed=6)
    assert w.complete and w.final_after == n * T  # final only with the last chunk
    assert w.final_band == full_band(kld, top) == BANDS.index("noticeable")


def test_the_shipped_texts_few_chunks_keep_a_fine_model_scoring_to_the_end():
    # the demo's Q8_0 requant: 4 chunks around KLD 0.005, 95% same top; no probabilistic bound can be sure
    kld, top = np.array([0.0053, 0.0049, 0.0058, 0.0051]), np.array([0.953, 0.96, 0.95, 0.955])
    w = feed(kld, top, seed=7)
    assert w.complete and w.final_band == full_band(kld, top) == BANDS.index("identical")


@pytest.mark.parametrize("kind", ["noisy", "heavy tail", "mixed domains"])
def test_a_final_verdict_is_never_contradicted_by_the_full_run(kind):
    """Many populations, each in a random order: every early "final" agrees with the full run's band."""
    rng = np.random.default_rng({"noisy": 10, "heavy tail": 11, "mixed domains": 12}[kind])
    finals = early = 0
    for trial in range(120):
        n = int(rng.integers(3, 120))
        centre = float(rng.choice([0.003, 0.02, 0.045, 0.06, 0.2, 0.35, 0.9, 1.1, 3.0, 12.0]))
        if kind == "noisy":
            kld = np.clip(rng.normal(centre, centre, n), 0, None)
        elif kind == "heavy tail":
            kld = centre * rng.lognormal(0, 1.2, n)  # now and then a chunk far above the clip
        else:
            kld = np.where(rng.random(n) < 0.2, centre * 20, centre)  # a few chunks of another kind of text
        top = np.clip(1 - 0.6 * np.sqrt(kld) + rng.normal(0, 0.03, n), 0, 1)
        w = feed(kld, top, seed=trial)
        if w.final:
            finals += 1
            early += w.chunks < n
            assert w.final_band == full_band(kld, top), (kind, trial, n, centre)
    assert finals > 0 and early > 0  # the rule did stop early on some of them: the check is not vacuous


def test_the_confidence_sequence_covers_the_mean_at_every_look():
    """Time-uniform coverage: across many random orders, the true mean leaves the interval in ≤ α of them."""
    rng = np.random.default_rng(20)
    pop = np.clip(rng.beta(0.5, 4, 80), 0, 1)
    mu = pop.mean()
    misses = 0
    runs = 150
    for r in range(runs):
        cs = WithoutReplacementCS(len(pop), 0.1)
        missed = False
        for x in pop[np.random.default_rng(r).permutation(len(pop))]:
            cs.update(float(x))
            lo, hi = cs.interval()
            missed |= not lo - 1e-12 <= mu <= hi + 1e-12  # the last look is the exact mean, summed in another order
        misses += missed
        assert cs.interval() == (pytest.approx(mu), pytest.approx(mu))  # all seen: the exact mean
    assert misses <= 0.1 * runs


def test_the_overall_verdict_is_settled_by_the_token_weighted_median():
    def watch(name: str, n: int) -> DomainWatch:
        w = DomainWatch(name, T, ALPHA / 4)
        w.plan(n)
        return w

    ws = {"general": watch("general", 4), "code": watch("code", 4), "multilingual": watch("multilingual", 8),
          "math": watch("math", 3)}  # fmt: skip
    assert overall_settled(ws) is None
    ws["multilingual"].add(15.0 * T, 0, T)  # 8 of 19 chunks' worth of tokens: damaged, but not yet most
    assert ws["multilingual"].final and overall_settled(ws) is None
    ws["general"].add(11.0 * T, 0, T)  # 12 of 19: most of the text is damaged whatever the rest scores
    assert overall_settled(ws) == BANDS.index("damaged")
    unplanned = {**ws, "own": DomainWatch("own", T, ALPHA / 4)}
    assert overall_settled(unplanned) is None  # a text whose size is not known yet can still outweigh


def test_chunk_order_is_a_fixed_shuffle():
    a = chunk_order(19)
    assert sorted(a.tolist()) == list(range(19)) and a.tolist() != list(range(19))
    assert chunk_order(19).tolist() == a.tolist()


# --- on the real demo models ---

EV = EvalSettings(chunk=128, max_chunks=4, sample_tokens=8)
RS = RunSettings(n_ctx=512, n_threads=2)
PER_CHUNK = 128 - 1 - 64


@pytest.fixture(scope="module")
def early_then_full(demo, tmp_path_factory) -> tuple[Comparison, list[Progress], Comparison, list[Progress]]:
    cache = tmp_path_factory.mktemp("eval-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(cache))
        ref, q2 = str(demo.reference), str(demo.candidates["Q2_0"])
        first: list[Progress] = []
        early = run_job(compare(ref, q2, RS, RS, ["general"], eval_settings=EV), first.append)
        second: list[Progress] = []
        full = run_job(compare(ref, q2, RS, RS, ["general"], eval_settings=EV, full=True), second.append)
    return early, first, full, second


def test_q2_0_is_final_after_one_chunk_and_the_full_run_agrees(early_then_full):
    early, events, full, _ = early_then_full
    m = early.metrics["general"]
    assert m.tokens == PER_CHUNK  # the numbers are those of the one chunk scored: nothing extrapolated
    assert early.early_stop["general"] == {"tokens": PER_CHUNK, "planned_tokens": 4 * PER_CHUNK, "final": True,
                                           "certain_after": PER_CHUNK, "cut_short": True, "band": "damaged"}  # fmt: skip
    assert not early.measured_everything and early.verdict_seconds is not None
    assert full.metrics["general"].tokens == 4 * PER_CHUNK and full.measured_everything
    assert early.verdict("general") == full.verdict("general") and early.overall() == full.overall()
    assert early.overall() is not None and early.overall().verdict.words == "badly damaged"
    # the first words come after the first chunk, already final here
    (first,) = [e for e in events if isinstance(e, Provisional)][:1]
    assert first.final and first.tokens == PER_CHUNK and "Final verdict after 63 tokens: badly damaged" in first.line()
    (done,) = [e for e in events if isinstance(e, DomainResult)]
    assert "certain after 63 of 252 tokens" in done.line()
    assert early.samples and early.samples[0].candidate  # the samples still run, after the verdict


def test_the_full_run_reuses_the_partial_reference_logits(early_then_full):
    _, _, full, events = early_then_full
    ref_scoring = [e for e in events if e.phase.startswith("Reference") and "scoring" in e.phase and e.total]
    assert ref_scoring and ref_scoring[-1].total == 3 * PER_CHUNK  # the one chunk the early run kept is reused
    verdicts = [e for e in events if isinstance(e, Provisional)]
    assert verdicts[0].final  # a full run still says when the verdict is certain, and measures on
    assert next(e for e in events if isinstance(e, DomainResult)).metrics == full.metrics["general"]


def test_the_json_and_the_reports_say_what_was_cut_short(early_then_full):
    from core.evaluation.comparison_text import text_summary
    from core.report.comparison_html import render

    early, _, full, _ = early_then_full
    d = json.loads(json.dumps(early.to_dict()))
    assert d["cut_short"] == ["general"] and d["measured_everything"] is False
    assert d["early_stop"]["general"]["certain_after"] == PER_CHUNK
    assert {"verdicts", "verdict", "metrics", "samples", "seconds"} <= set(d)  # the keys before issue 25 stay
    again = Comparison.from_dict(d)
    assert again.cut_short() == early.cut_short() and again.overall() == early.overall()
    text = text_summary(early)
    assert "general: cut short; its verdict is certain after 63 of 252 tokens." in text
    assert "general: cut short" in render(early)
    assert "cut short" not in text_summary(full) and full.to_dict()["cut_short"] == []


def test_the_cli_says_the_provisional_and_final_verdict_and_what_was_cut_short(demo, tmp_path, monkeypatch, capsys):
    from core.cli.main import main

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    rc = main(["compare", "--reference", str(demo.reference), "--candidate", str(demo.candidates["Q2_0"]),
               "--domains", "general", "--chunk", "128", "--max-chunks", "4", "--samples", "0", "--threads", "2",
               "--ctx", "512"])  # fmt: skip
    run = capsys.readouterr()
    assert rc == 0
    assert "Final verdict after 63 tokens: badly damaged." in run.err
    assert "Done: general: badly damaged" in run.err and "(certain after 63 of 252 tokens" in run.err
    assert "Stopped early once the verdict was certain (measure everything with --full" in run.out
    assert "general: cut short; its verdict is certain after 63 of 252 tokens." in run.out


def test_the_window_shows_the_provisional_verdict_and_asks_for_everything_only_when_ticked(qtbot, demo, monkeypatch):
    from core.evaluation.verdicts import Verdict
    from core.model.inspection import inspect_model
    from gui.pages import compare_page
    from gui.state import AppState

    asked: dict = {}
    monkeypatch.setattr(compare_page, "compare", lambda *a, **kw: asked.update(kw) or iter(()))
    state = AppState()
    state.session.set_profile(inspect_model(demo.candidates["Q2_0"]))
    page = compare_page.ComparePage(state)
    qtbot.addWidget(page)
    page.reference_path.setText(str(demo.reference))
    assert page.measure_all.text() == "Measure everything" and not page.measure_all.isChecked()
    assert page.job() is not None and asked["full"] is False  # by default a domain stops once it is certain
    page.measure_all.setChecked(True)
    assert page.job() is not None and asked["full"] is True
    page._begin("Running…")
    heavy = Verdict("heavy", "heavy loss", "KL divergence")
    page.on_progress(Provisional("Provisional verdict", verdict=heavy, tokens=255, eta_final_s=80.0))
    assert page.verdict_label.text() == (
        "Provisional verdict after 255 tokens: heavy loss (not final yet; final in about 1 min 20 s at most)."
    )
    status = {"tokens": 255, "planned_tokens": 2040, "final": True, "certain_after": 255, "cut_short": True}
    damaged = Verdict("damaged", "badly damaged", "KL divergence")
    page.on_progress(DomainResult("x", domain="multilingual", metrics=_q2_like(), verdict=damaged, status=status))
    assert "(certain after 255 of 2,040 tokens: the rest was not scored)" in page.domain_rows.text()


def _q2_like():
    from core.evaluation.metrics import DomainMetrics

    return DomainMetrics.of(61.5, 1.9e9, 17.4, 0.001, 255)
