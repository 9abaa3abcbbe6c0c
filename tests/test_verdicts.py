"""The verdict table: every boundary pinned, every figure checked at its source, numbers in words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.evaluation import verdicts
from core.numbers import percent, perplexity_change, plain, times

BANDS = ["identical", "small", "noticeable", "heavy", "damaged"]


@pytest.mark.parametrize(
    ("kld", "band"),
    [
        (0.0, "identical"), (0.00799, "identical"), (0.008, "small"),
        (0.04999, "small"), (0.05, "noticeable"),
        (0.2999, "noticeable"), (0.3, "heavy"),
        (0.9999, "heavy"), (1.0, "damaged"), (12.7, "damaged"),
    ],
)  # fmt: skip
def test_each_kld_boundary(kld, band):
    assert verdicts.judge(kld).band == band


@pytest.mark.parametrize(
    ("top1", "band"),
    [(1.0, "identical"), (0.94, "identical"), (0.9399, "small"), (0.88, "small"), (0.8799, "noticeable"),
     (0.65, "noticeable"), (0.6499, "heavy"), (0.40, "heavy"), (0.3999, "damaged"), (0.0043, "damaged")],
)  # fmt: skip
def test_each_top1_boundary(top1, band):
    v = verdicts.judge(0.0, top1)
    assert v.band == band
    assert v.by == ("KL divergence" if band == "identical" else "top-token agreement")


def test_the_worse_of_the_two_numbers_decides():
    v = verdicts.judge(0.445132, 0.71138)  # LLaMA 3 8B Q2_K: heavy by KLD, noticeable by top-1
    assert (v.band, v.words, v.by) == ("heavy", "heavy loss", "KL divergence")


@pytest.mark.parametrize(
    ("quant", "band"),
    [("Q8_0", "identical"), ("Q6_K", "identical"), ("Q5_K_M", "small"), ("Q4_K_M", "small"), ("IQ4_XS", "small"),
     ("Q4_0", "noticeable"), ("Q3_K_M", "noticeable"), ("IQ3_XXS", "noticeable"), ("Q2_K", "heavy"),
     ("IQ2_XXS", "heavy"), ("IQ1_S", "damaged")],
)  # fmt: skip
def test_published_types_read_as_their_band(quant, band):
    t = verdicts.typical(quant)
    assert t is not None
    assert verdicts.judge(t.kld_mean, t.same_top).band == band


def test_bands_are_ordered_and_worded():
    t = verdicts.table()
    assert [b.id for b in t.bands] == BANDS
    assert t.bands[0].words == "practically identical" and t.bands[-1].words == "badly damaged"
    klds = [b.kld_below for b in t.bands[:-1]]
    tops = [b.top1_at_least for b in t.bands[:-1]]
    assert klds == sorted(klds) and tops == sorted(tops, reverse=True)
    assert t.reference_precision == "FP16" and "quant" in t.reference_note


def test_far_above_typical_for_the_label():
    assert verdicts.far_above_typical("Q4_K_M", 0.0313 * 4.9) is None
    assert verdicts.far_above_typical("q4_k_m", 0.0313 * 6) == pytest.approx(6, rel=0.01)
    assert verdicts.far_above_typical("Q2_0", 12.0) is None  # not in the table: no claim
    assert "0.0313" in verdicts.typical_sentence("Q4_K_M") and "FP16" in verdicts.typical_sentence("Q4_K_M")


def _readme() -> Path | None:
    from core.paths import cache_dir

    for p in sorted((cache_dir() / "llama-tools").glob("*/src/vendor/llama.cpp/tools/perplexity/README.md")):
        return p
    return None


def test_every_figure_is_in_its_source():
    """Each figure, found in the cited row of llama.cpp's README (inside the sdist build_llama_tools.sh fetches)."""
    readme = _readme()
    if readme is None:
        pytest.skip("llama.cpp's sources are not here (bash tests/bench/build_llama_tools.sh fetches them)")
    text = readme.read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and re.fullmatch(r"[a-zA-Z0-9_]+", cells[0]) and cells[5][:1].isdigit():
            rows[f"{cells[0]} {cells[1]}"] = float(cells[5].split("±")[0])
    same_top = re.search(r"\| Same top p\s*\|(.*)\|", text)
    assert same_top is not None
    tops = [float(c.split("±")[0].strip().rstrip("%")) / 100 for c in same_top.group(1).split("|")]
    table = verdicts.table()
    for name, t in table.types.items():
        assert rows[t.row] == pytest.approx(t.kld_mean, abs=1e-6), name
        if t.same_top is not None:
            assert t.same_top in [pytest.approx(x, abs=1e-5) for x in tops], name
    assert rows["f16 None"] == table.noise_floor


@pytest.mark.parametrize(
    ("ratio", "words"),
    [(57490.399, "about 57,000 times worse"), (2.5, "about 2.5 times worse"), (1.19, "19% higher"),
     (1.004, "0.4% higher"), (1.0, "the same"), (3.1e6, "about 3.1 million times worse")],
)  # fmt: skip
def test_ratios_in_words(ratio, words):
    assert times(ratio) == words


def test_numbers_in_words():
    assert perplexity_change(38.91, 2.2e6) == "perplexity 38.9 → 2.2 million (about 57,000 times worse)"
    assert plain(0.001355) == "0.00136" and plain(12.1499) == "12.1" and plain(2979120.7) == "3 million"
    assert percent(0.7583) == "76%" and percent(0.0043) == "0.4%" and percent(0.996) == "99.6%"
