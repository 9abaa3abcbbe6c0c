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


def hits(top: np.ndarray) -> np.ndarray:
    """Same-top counts per chunk, as a scored chunk reports them (whole tokens)."""
    return np.round(top * T).astype(int)


def full_band(kld: np.ndarray, top: np.ndarray) -> int:
    """The full run's band: judge() on the mean over every chunk (every chunk holds T tokens)."""
    return BANDS.index(judge(float(kld.mean()), float(hits(top).sum() / (len(top) * T))).band)


def feed(kld: np.ndarray, top: np.ndarray, seed: int, alpha: float = ALPHA / 4) -> DomainWatch:
    """Score a population in a random order until the stop rule calls the band final (or it runs out)."""
    w = DomainWatch("d", T, alpha)
    w.plan(len(kld))
    for i in np.random.default_rng(seed).permutation(len(kld)):
        w.add(float(kld[i]) * T, int(hits(top)[i]), T)
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


EDGES = [(b.id, b.kld_below) for b in table().bands if b.kld_below is not None]
TOP_EDGES = [(b.id, b.top1_at_least) for b in table().bands if b.top1_at_least is not None]


@pytest.mark.parametrize("side", [-1, 1])
@pytest.mark.parametrize(("band", "edge"), EDGES)
def test_a_mean_kld_beside_any_band_edge_is_never_called_on_the_wrong_side(band, edge, side):
    """Every KLD edge of resources/verdicts.json, from both sides: 1% off the edge, chunks spread ±30% around it."""
    for trial in range(12):
        rng = np.random.default_rng([trial, int(edge * 1e4), side + 1])
        n = int(rng.integers(3, 80))
        kld = np.clip(rng.normal(edge, 0.3 * edge, n), 0, None)
        kld *= edge * (1 + 0.01 * side) / kld.mean()  # the full run's mean: just below or just above the edge
        top = np.full(n, 0.99)  # the top-1 share decides nothing here
        w = feed(kld, top, seed=trial)
        assert w.final_band == full_band(kld, top), (band, side, trial, n)
        if side < 0:  # just inside the better band: only the whole text can show it is not worse
            assert w.complete


@pytest.mark.parametrize("side", [-1, 1])
@pytest.mark.parametrize(("band", "edge"), TOP_EDGES)
def test_a_top1_share_beside_any_band_edge_is_never_called_on_the_wrong_side(band, edge, side):
    for trial in range(12):
        rng = np.random.default_rng([trial, int(edge * 1e4), side + 1, 7])
        n = int(rng.integers(3, 80))
        top = np.clip(rng.normal(edge, 0.04, n), 0, 1)
        top = np.clip(top - top.mean() + edge + 0.003 * side, 0, 1)  # a few tokens' share beside the edge
        kld = np.full(n, 0.001)  # the KLD decides nothing here
        w = feed(kld, top, seed=trial)
        assert w.final_band == full_band(kld, top), (band, side, trial, n)
        if side > 0:  # just inside the better band
            assert w.complete


def test_clearly_damaged_texts_of_any_length_stop_early_and_are_never_wrong():
    """Damaged models (chunk means 3-20, as Q2_0 against Q4_1 scores) on texts of 2 to 200 chunks."""
    rng = np.random.default_rng(30)
    used = []
    for trial in range(60):
        n = int(rng.integers(2, 200))
        kld = rng.uniform(3, 20, n)
        top = rng.uniform(0.0, 0.05, n)
        w = feed(kld, top, seed=trial)
        assert w.final and w.final_band == BANDS.index("damaged") == full_band(kld, top)
        used.append(w.chunks / n)
        if n <= 3:
            assert w.chunks == 1  # certain: one chunk of 3+ puts any 3-chunk text's mean past 1.0
    assert max(used) <= 0.5 and float(np.mean(used)) < 0.2  # never more than half a text, a few % on average


def _population(rng: np.random.Generator, n: int, centre: float) -> tuple[np.ndarray, np.ndarray]:
    kld = np.clip(rng.normal(centre, 0.5 * centre, n), 0, None)
    return kld, np.clip(1 - 0.6 * np.sqrt(kld) + rng.normal(0, 0.03, n), 0, 1)


@pytest.mark.parametrize("order", ["largest first", "interleaved"])
def test_the_overall_verdict_called_final_is_always_the_full_runs(order):
    """Whole comparisons of 1-5 domains of crafted chunks: once overall_settled names a band, the full run's
    token-weighted median (verdicts.overall on every chunk's numbers) is that band; the clear ones stop early."""
    from core.evaluation.early_stop import per_domain_alpha
    from core.evaluation.verdicts import Verdict
    from core.evaluation.verdicts import overall as overall_verdict

    rng = np.random.default_rng({"largest first": 40, "interleaved": 41}[order])
    settled = early = clear = clear_early = 0
    clear_share: list[tuple[int, int]] = []  # (chunks scored, chunks in all) of the clearly damaged ones
    for trial in range(150):
        nd = int(rng.integers(1, 6))
        kinds = [3.0, 12.0] if trial % 3 == 0 else [0.003, 0.02, 0.045, 0.06, 0.2, 0.35, 0.9, 1.1, 3.0, 12.0]
        centres = rng.choice(kinds, nd)  # a third of them clearly damaged everywhere
        pops = {f"d{i}": _population(rng, int(rng.integers(2, 40)), float(c)) for i, c in enumerate(centres)}
        full = {d: (Verdict(BANDS[full_band(k, t)], "", ""), len(k) * T) for d, (k, t) in pops.items()}
        whole = overall_verdict(full)
        assert whole is not None
        want = BANDS.index(whole.verdict.band)
        watches = {}
        for d, (k, _t) in pops.items():
            watches[d] = DomainWatch(d, T, per_domain_alpha(nd))
            watches[d].plan(len(k))
        orders = {d: list(rng.permutation(len(k))) for d, (k, _t) in pops.items()}
        if order == "largest first":  # as a comparison's rounds: one chunk of each, largest domain first
            queue = [d for r in range(40) for d in sorted(pops, key=lambda d: -len(pops[d][0])) if r < len(pops[d][0])]
        else:
            queue = [d for d in pops for _ in pops[d][0]]
            rng.shuffle(queue)
        got, used = None, 0
        for d in queue:
            used += 1
            k, t = pops[d]
            i = orders[d].pop(0)
            watches[d].add(float(k[i]) * T, int(hits(t)[i]), T)
            got = overall_settled(watches)
            if got is not None:
                break
        is_clear = bool(min(centres) >= 3.0)  # every domain clearly damaged
        if got is not None:
            settled += 1
            early += used < len(queue)
            assert got == want, (order, trial, got, want)
        if is_clear:
            clear += 1
            clear_early += got is not None and used < len(queue)
            clear_share.append((used, len(queue)))
    assert settled == 150  # every comparison reaches its verdict by the last chunk
    assert clear >= 40 and clear_early == clear  # every clearly damaged comparison stopped before its last chunk
    assert sum(u for u, _n in clear_share) < 0.4 * sum(n for _u, n in clear_share)  # well before, on the whole
    assert early > 50


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


def test_the_numbers_of_a_domain_cut_short_are_a_full_runs_on_the_chunk_scored(early_then_full, demo, tmp_path,
                                                                                monkeypatch):  # fmt: skip
    """Nothing extrapolated: the early run's general figures are exactly those a full run reports for the one
    chunk it scored (chunk 0 of 4 comes first in the order; a full run of `--max-chunks 1` scores it alone)."""
    early, _, _, _ = early_then_full
    assert chunk_order(4)[0] == 0
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    one = EvalSettings(chunk=128, max_chunks=1, sample_tokens=8)
    alone = run_job(compare(str(demo.reference), str(demo.candidates["Q2_0"]), RS, RS, ["general"], eval_settings=one,
                            samples_per_domain=0, full=True))  # fmt: skip
    assert alone.measured_everything and alone.metrics["general"].tokens == PER_CHUNK
    assert early.metrics["general"].to_dict() == pytest.approx(alone.metrics["general"].to_dict(), rel=1e-9)


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


def test_the_first_look_scores_only_the_texts_that_hold_most_of_the_tokens(demo, tmp_path, monkeypatch):
    """Four domains of 4 chunks each: two hold half of the tokens, which settles Q2_0's verdict (a tie in the
    token-weighted median goes to the worse verdict); the other two are only tokenized (their sizes are
    known, no reference logits are computed or kept for them)."""
    from core.evaluation import refcache

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    events: list[Progress] = []
    c = run_job(compare(str(demo.reference), str(demo.candidates["Q2_0"]), RS, RS, eval_settings=EV,
                        samples_per_domain=0), events.append)  # fmt: skip
    assert sorted(c.early_stop) == ["code", "general", "math", "multilingual"]
    counted = sorted(d for d, st in c.early_stop.items() if st["tokens"] == 0)
    assert counted == ["math", "multilingual"]  # equal sizes: the domains' own order decides
    assert all(c.early_stop[d]["planned_tokens"] == 4 * PER_CHUNK and not c.early_stop[d]["final"] for d in counted)
    assert all(st["tokens"] == PER_CHUNK and st["final"] for d, st in c.early_stop.items() if d not in counted)
    assert c.overall() is not None and c.overall().verdict.words == "badly damaged"
    final = next(e for e in events if isinstance(e, Provisional) and e.final)
    assert final.tokens == 2 * PER_CHUNK
    scored = {e.phase for e in events if e.phase.startswith("Reference") and "scoring" in e.phase}
    assert len(scored) == 2 and not any(d in p for p in scored for d in counted)
    entries = sorted(refcache.cache_folder().glob("*.npz"))
    assert len(entries) == 2 and all(refcache.held(e) == (1, 4) for e in entries)
    from core.evaluation.comparison_text import text_summary

    text = text_summary(c)
    assert "math: not measured; the overall verdict was certain without it (252 tokens)." in text
    assert "general: cut short; its verdict is certain after 63 of 252 tokens." in text


def test_a_comparison_scored_to_the_end_in_rounds_reads_exactly_as_the_full_run(demo, tmp_path, monkeypatch):
    """Q4_0 does not settle early on 2-3 chunks a text: the rounds (a first look that leaves the smallest text for
    the second round, then the rest) end with every chunk scored, and every figure equals the one-pass full run's."""
    from core.evaluation.domains import DOMAINS, eval_text

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    ev = EvalSettings(chunk=128, max_chunks=3, sample_tokens=8)
    note = (eval_text(DOMAINS["code"]) or "")[:1400]  # the person's own text, 2 chunks of 128
    q4 = str(demo.candidates["Q4_0"])
    events: list[Progress] = []
    early = run_job(compare(str(demo.reference), q4, RS, RS, ["general", "math"], eval_settings=ev,
                            texts={"note": note}, samples_per_domain=0), events.append)  # fmt: skip
    full = run_job(compare(str(demo.reference), q4, RS, RS, ["general", "math"], eval_settings=ev,
                           texts={"note": note}, samples_per_domain=0, full=True))  # fmt: skip
    assert early.measured_everything and early.cut_short() == {}
    assert {d: m.tokens for d, m in early.metrics.items()} == {"general": 189, "math": 189, "note": 126}
    phases = [e.phase for e in events]
    first_candidate = next(i for i, p in enumerate(phases) if p.startswith("Candidate"))
    assert not any("note" in p for p in phases[:first_candidate])  # the smallest text waited for round two
    assert any("Reference" in p and "note" in p for p in phases[first_candidate:])
    for d in early.metrics:
        assert early.metrics[d].to_dict() == pytest.approx(full.metrics[d].to_dict(), rel=1e-9), d
    assert early.overall() == full.overall()


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
