"""The Compare page's decisions, headless (core.app.compare): the verdict in words first and the numbers
under Details, the person's own prompt first, what each model is doing, an ETA that never jumps up, and
the time it takes said before it starts. Then the page itself, driven offscreen on the demo pair."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.app.compare import (
    OWN_PROMPTS_DOMAIN,
    QUICK,
    Comparison,
    ProgressBoard,
    SmoothEta,
    details,
    estimate,
    headline,
    measured_speed,
    samples_first,
)
from core.evaluation.metrics import DomainMetrics
from core.evaluation.runners import TokenProgress
from core.evaluation.samples import Sample
from core.evaluation.scoring import EvalSettings
from core.progress import Progress

NUMBER = re.compile(r"\d")


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _comparison(**metrics: DomainMetrics) -> Comparison:
    return Comparison(reference="ref.gguf", candidate="mine.gguf", what="quant", metrics=metrics, samples=[])


def test_the_reported_verdict_is_words_and_its_huge_numbers_go_under_details_in_human_form() -> None:
    """The case from the issue: perplexity 4.27 → 16 million, mean KL divergence 15.1."""
    c = _comparison(general=DomainMetrics.of(4.27, 16.0e6, 15.1, 0.02, 508))
    words = "\n".join(headline(c))
    assert words == "Against the reference: badly damaged: its predictions have little in common with the reference's (the general text)."
    assert not NUMBER.search(words) and "perplexity" not in words and "KL" not in words
    more = "\n".join(details(c))
    assert "perplexity 4.27 → 16 million" in more and "mean KL divergence 15.1" in more
    assert "16000000" not in more and "1.6e" not in more


def test_a_domain_that_reads_worse_is_named_in_words() -> None:
    c = _comparison(
        general=DomainMetrics.of(10.0, 10.05, 0.004, 0.97, 2000),
        code=DomainMetrics.of(3.0, 3.01, 0.003, 0.98, 2000),
        multilingual=DomainMetrics.of(8.0, 30.0, 0.9, 0.5, 500),
    )
    lines = headline(c)
    assert lines[0].startswith("Against the reference: practically identical on most of the text (")
    assert lines[1] == "Worse on the multilingual text: heavy loss."
    assert not any(NUMBER.search(line) for line in lines)
    assert len([d for d in details(c) if d.startswith(("general:", "code:", "multilingual:"))]) == 3


def _sample(domain: str, pid: str) -> Sample:
    return Sample(domain, pid, f"prompt {pid}", "a", "b", 0, 0)


def test_the_person_own_prompt_is_the_first_sample() -> None:
    c = _comparison()
    c.samples = [_sample("general", "water-cycle"), _sample("code", "fizzbuzz"), _sample("math", "sum"),
                 _sample(OWN_PROMPTS_DOMAIN, "mine-1")]  # fmt: skip
    order = [s.prompt_id for s in samples_first(c)]
    assert order == ["mine-1", "water-cycle", "fizzbuzz", "sum"]


def test_the_board_says_per_model_what_it_does_and_moves_while_a_chunk_is_long() -> None:
    clock = FakeClock()
    board = ProgressBoard(clock)
    assert board.lines() == ["Reference model: waiting", "Your model: waiting for the reference"]
    board.feed(Progress("Reference (Q8_0.gguf): loading Q8_0.gguf"))
    board.feed(Progress("Reference (Q8_0.gguf): scoring the general text", 0, 508, "tokens"))
    clock.t += 3
    board.feed(Progress("Reference (Q8_0.gguf): scoring the general text", 127, 508, "tokens"))
    assert board.lines()[0] == (
        "Reference model (Q8_0.gguf): scoring the general text, 127 of 508 tokens"
    )
    clock.t += 14  # a slow chunk: the line still moves, second by second
    board.feed(Progress("Reference (Q8_0.gguf): scoring the general text", 127, 508, "tokens"))
    assert board.lines()[0].endswith("; working on it for 14 s")
    board.feed(Progress("Reference (Q8_0.gguf): scoring the code text", 127, 381, "tokens"))
    board.feed(Progress("Candidate (mine.gguf): scoring the general text", 127, 508, "tokens"))
    board.feed(TokenProgress("Candidate (mine.gguf): sample output (water-cycle)", 5, 64, "tokens"))
    ref, mine = board.lines()
    assert "(254 tokens scored so far)" in ref
    assert mine == "Your model (mine.gguf): sample output (water-cycle), 5 of 64 tokens (127 tokens scored so far)"


def test_the_eta_counts_down_and_never_jumps_up_by_minutes() -> None:
    """The issue's run: 1:14 left, then the measured rate fell and the raw ETA said 6:29."""
    clock = FakeClock()
    eta = SmoothEta(clock)
    assert eta.update(None) is None
    assert eta.update(74.0) == 74.0
    shown = [74.0]
    raw = [80, 150, 300, 389, 389, 389, 380, 370]
    for r in raw:
        clock.t += 2.0
        value = eta.update(float(r))
        assert value is not None
        assert value - shown[-1] <= 0.5 * 2.0 + 1e-9  # at most half a second up per second gone
        shown.append(value)
    assert shown[-1] < 74.0 + 0.5 * 2.0 * len(raw) + 1e-9  # it rose slowly, not to six minutes
    clock.t += 2.0
    assert eta.update(20.0) == 20.0  # good news is shown at once
    clock.t += 5.0
    assert eta.update(None) == pytest.approx(15.0)  # and it counts down with the clock


def test_the_eta_follows_a_steady_measurement() -> None:
    clock = FakeClock()
    eta = SmoothEta(clock)
    eta.update(60.0)
    for left in range(58, 0, -2):
        clock.t += 2.0
        assert eta.update(float(left)) == pytest.approx(float(left))


def test_the_estimate_before_start_scales_with_size_and_learns_the_machine() -> None:
    small = estimate((98_362_432, 98_362_432), ["general", "code", "multilingual"])
    large = estimate((8_500_000_000, 4_700_000_000), ["general", "code", "multilingual"])
    assert not small.measured and "rough guess" in small.words()
    assert 10 < large.seconds / small.seconds < 40  # the time follows the models' sizes
    assert 10 < small.seconds < 30 and 120 < large.seconds < 600  # a tiny pair, a 7B Q4 against its Q8
    assert estimate((98_362_432,) * 2, ["general"]).seconds < small.seconds  # and the number of texts
    speed = measured_speed(2 * small.seconds, (98_362_432,) * 2, ["general", "code", "multilingual"])
    assert speed == pytest.approx(2.0)
    again = estimate((98_362_432,) * 2, ["general", "code", "multilingual"], speed=speed)
    assert again.measured and again.seconds == pytest.approx(2 * small.seconds)
    assert "measured on your last comparison" in again.words()
    assert re.search(r"about (\d+ s|\d+ min \d\d s) at most", large.words())


def test_the_quick_comparison_decodes_one_chunk_at_a_time() -> None:
    """So the token counter and the stop rule move after every chunk, not after four."""
    assert QUICK.n_batch == QUICK.chunk and EvalSettings().n_batch == 2048  # the CLI keeps llama-perplexity's


# --- the page, offscreen ------------------------------------------------------------------------------


def test_the_page_speaks_first_in_words_with_the_person_prompt_first(qtbot: Any, tmp_path: Any, demo: Any) -> None:
    from windowkit import make_window

    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=30_000):
        window.on_demo_ready(demo)  # Q2_0 on screen, Q4_1 the reference
    qtbot.waitUntil(lambda: not window.state.busy, timeout=30_000)
    page = window.compare_page
    window.show_page("compare")
    page.eval_settings = EvalSettings(chunk=128, max_chunks=2, sample_tokens=8, n_batch=128)
    for name, box in page.domain_boxes.items():
        box.setChecked(name == "general")
    page.speed = None  # as on a machine where no comparison ran yet (a measured speed is kept in the cache)
    page.update_estimate()
    before = page.estimate_label.text()
    assert before.startswith("This takes about ") and "rough guess" in before  # said before it starts
    qtbot.waitUntil(lambda: page.plan is not None, timeout=10_000)  # then the peak memory, found off the UI thread
    assert "Peak memory: about " in page.estimate_label.text() and page.plan.fits
    page.prompt_edit.setPlainText("Why does my model repeat itself?")
    page.add_prompt_button.click()
    boards: list[str] = []
    etas: list[str] = []
    window.state.progress.connect(lambda p: boards.append(page.board_label.text()))
    window.state.progress.connect(lambda p: etas.append(page.overall_text.text()))
    page.run_button.click()
    qtbot.waitUntil(lambda: window.state.comparison is not None, timeout=180_000)
    assert any(re.search(r"Your model \(.+\): scoring the general text, \d+ of \d+ tokens", b) for b in boards)
    # the reference's numbers may come from its cache (an earlier run): it then only writes its answers
    assert any(re.search(r"Reference model \(.+\): (scoring|sample output)", b) for b in boards)
    verdict = page.verdict_label.text()
    assert verdict.startswith("Against the reference: badly damaged")
    assert "perplexity" not in verdict and "KL" not in verdict and "million" not in verdict
    assert page.details_button.isVisible() and page.details_label.isHidden() and page.charts.isHidden()
    page.details_button.click()
    assert page.details_label.isVisible() and page.charts.isVisible()
    assert re.search(r"general: badly damaged — perplexity [\d.,]+ → [\d.,]+( million)?", page.details_label.text())
    assert page.prompt_picker.itemText(0) == "Your prompt: Why does my model repeat itself?"
    assert page.prompt_picker.itemText(1).startswith("Sample (general): ")
    assert page.prompt_picker.currentIndex() == 0
    assert page.samples[0].prompt == "Why does my model repeat itself?"
    after = page.estimate_label.text()
    assert "measured on your last comparison" in after  # the next estimate uses this machine's speed
