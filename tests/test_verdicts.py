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


# Every anchor type in resources/verdicts.json and the band docs/VERDICTS.md says it reads as (its last column).
ANCHORS = {
    "Q8_0": "identical", "Q6_K": "identical",
    "Q5_K_M": "small", "Q5_K_S": "small", "Q5_1": "small", "Q5_0": "small", "Q4_K_M": "small", "Q4_K_S": "small",
    "IQ4_NL": "small", "IQ4_XS": "small",
    "Q4_1": "noticeable", "Q4_0": "noticeable", "Q3_K_L": "noticeable", "Q3_K_M": "noticeable", "IQ3_M": "noticeable",
    "IQ3_S": "noticeable", "IQ3_XS": "noticeable", "IQ3_XXS": "noticeable", "Q3_K_S": "noticeable",
    "IQ2_M": "heavy", "IQ2_S": "heavy", "Q2_K": "heavy", "IQ2_XS": "heavy", "IQ2_XXS": "heavy",
    "IQ1_M": "damaged", "IQ1_S": "damaged",
}  # fmt: skip


def test_every_anchor_type_is_checked():
    """docs/VERDICTS.md: "each published type reads as the band in the last column (a test checks this for every
    anchor type)" -- every type of the table, not a sample; a type added to the table must be added here."""
    assert set(verdicts.table().types) == set(ANCHORS)


@pytest.mark.parametrize(("quant", "band"), ANCHORS.items())
def test_published_types_read_as_their_band(quant, band):
    t = verdicts.typical(quant)
    assert t is not None
    assert verdicts.judge(t.kld_mean, t.same_top).band == band


def _figures_checked(text: str, where: str) -> int:
    """Each "TYPE (figure, figure)" in `text` is that type's own figure from the table, rounded as shown."""
    types = verdicts.table().types
    checked = 0
    for names, inside in re.findall(r"\b((?:I?Q\d\w*/)*I?Q\d\w*) \(([^)]*)\)", text):
        named = names.split("/")  # "Q4_1/Q4_0 (0.0717/0.0719)": one figure each, in order
        numbers = re.findall(r"(?<![\d.\-–])(\d+\.\d+)(%?)(?![\d\-–])", inside)  # ranges (a–b) left out
        for i, (number, pct) in enumerate(numbers):
            name = named[i] if len(named) == len(numbers) else named[-1]
            t = types[name.upper()]
            value = t.same_top if pct else t.kld_mean
            assert value is not None, (where, name, number)
            shown = float(number) / (100 if pct else 1)
            digits = len(number.split(".")[1]) + (2 if pct else 0)
            assert round(value, digits) == pytest.approx(shown, abs=1e-12), (where, name, number)
            checked += 1
    return checked


def test_the_bands_figures_are_the_types_figures():
    """The figures a band's explanation gives (resources/verdicts.json) and those of docs/VERDICTS.md's band
    table are the types' own figures, rounded as shown."""
    assert sum(_figures_checked(band.why, band.id) for band in verdicts.table().bands) >= 8
    doc = (Path(__file__).resolve().parents[1] / "docs" / "VERDICTS.md").read_text(encoding="utf-8")
    rows = [
        line
        for line in doc.splitlines()
        if line.startswith("| ") and any(b.words in line for b in verdicts.table().bands)
    ]
    assert len(rows) == 5
    assert sum(_figures_checked(row, "docs/VERDICTS.md") for row in rows) >= 10


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


def _source_tables(text: str) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The scoreboard's KLD by "type imatrix" row, and the LLaMA 2 vs 3 table by column ("L3 8b q2_K") and metric."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and re.fullmatch(r"[a-zA-Z0-9_]+", cells[0]) and cells[5][:1].isdigit():
            rows[f"{cells[0]} {cells[1]}"] = float(cells[5].split("±")[0])
    start = text.index("| Metric", text.index("## LLaMA 2 vs. LLaMA 3 Quantization comparison"))
    lines = text[start:].split("\n\n", 1)[0].splitlines()  # that table only, up to the blank line after it
    columns = [c.strip() for c in lines[0].strip().strip("|").split("|")][1:]
    by_column: dict[str, dict[str, float]] = {c: {} for c in columns}
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("Mean KLD", "Same top p"):
            for column, cell in zip(columns, cells[1:], strict=True):
                value = float(cell.split("±")[0].strip().rstrip("%"))
                by_column[column][cells[0]] = value / 100 if cells[0] == "Same top p" else value
    return rows, by_column


def test_every_figure_is_in_its_source():
    """Each figure, found in the cited row of llama.cpp's README (inside the sdist build_llama_tools.sh fetches):
    a type's KLD in its scoreboard row, its same-top share in its own column ("L3 8b <type>") of the LLaMA 2 vs 3
    table, and every other model's KLD and same-top share in its column ("L2 7b <type>")."""
    readme = _readme()
    if readme is None:
        pytest.skip("llama.cpp's sources are not here (bash tests/bench/build_llama_tools.sh fetches them)")
    rows, by_column = _source_tables(readme.read_text(encoding="utf-8"))
    table = verdicts.table()
    for name, t in table.types.items():
        assert rows[t.row] == pytest.approx(t.kld_mean, abs=1e-6), name
        if t.same_top is not None:
            column = by_column[f"L3 8b {t.row.split()[0]}"]
            assert column["Same top p"] == pytest.approx(t.same_top, abs=1e-5), name
            assert column["Mean KLD"] == pytest.approx(t.kld_mean, abs=1e-6), name  # the same run as the scoreboard
    assert rows["f16 None"] == table.noise_floor
    import json

    from core.paths import resources_dir

    others = json.loads((resources_dir() / "verdicts.json").read_text(encoding="utf-8"))["other_models"]
    assert others
    for o in others:
        assert o["model"] == "LLaMA 2 7B" and o["source"] == "llama2-vs-llama3", o
        column = by_column[f"L2 7b {o['type'].replace('Q', 'q', 1)}"]
        assert column["Mean KLD"] == pytest.approx(o["kld_mean"], abs=1e-6), o
        assert column["Same top p"] == pytest.approx(o["same_top"], abs=1e-5), o


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


# --- the overall verdict: what most of the scored tokens get, worse domains named -------------------------------

# Measured by `bench_verdicts.py --verdicts` (chunk 512, reference the demo Q4_1): (mean KLD, same top token,
# scored tokens) per domain for the demo Q4_0 and a Q8_0 requant of the reference. tests/bench/README.md has the run.
Q4_0 = {"general": (0.2788, 0.692, 1020), "code": (0.2321, 0.796, 1020), "multilingual": (0.4926, 0.539, 2040),
        "math": (0.2317, 0.774, 765)}  # fmt: skip
Q8_0_REQUANT = {"general": (0.0053, 0.953, 1020), "code": (0.0047, 0.968, 1020),
                "multilingual": (0.0088, 0.931, 2040), "math": (0.0047, 0.969, 765)}  # fmt: skip


def _comparison(figures):
    from core.evaluation.compare import Comparison
    from core.evaluation.metrics import DomainMetrics

    metrics = {d: DomainMetrics.of(10.0, 10.0 * (1 + kld), kld, top, n) for d, (kld, top, n) in figures.items()}
    return Comparison("ref.gguf", "cand.gguf", "quant", metrics, [])


def _overall(bands_and_tokens):
    return verdicts.overall({d: (verdicts.judge(k), n) for d, (k, n) in bands_and_tokens.items()})


def test_the_demo_q4_0_reads_the_verdict_most_of_its_tokens_get_not_its_worst_domains():
    """The old rule (the worst domain's verdict) said "heavy loss" here; three domains of four, 58% of the
    scored tokens, read "noticeable loss", like the table's Q4_0 row."""
    c = _comparison(Q4_0)
    assert [c.verdict(d).band for d in Q4_0] == ["noticeable", "noticeable", "heavy", "noticeable"]
    whole = c.to_dict()["verdict"]
    assert whole["words"] == "noticeable loss"  # the worst-domain rule gives "heavy loss"
    assert whole["share"] == pytest.approx(2805 / 4845, abs=1e-4)
    assert whole["domains"] == ["general", "code", "math"]
    assert whole["worst_domain"] == "multilingual" and whole["worse"]["multilingual"]["words"] == "heavy loss"
    assert verdicts.judge(verdicts.table().types["Q4_0"].kld_mean).words == whole["words"]


def test_the_pooled_mean_is_not_the_rule():
    """One mean KL divergence over all scored tokens (what llama-perplexity prints for the texts joined) is 0.35
    for the demo Q4_0, "heavy loss": the long multilingual text decides it. The bands were set on single-text
    means, so the overall verdict is a median of the domains' verdicts instead (docs/VERDICTS.md)."""
    pooled = sum(k * n for k, _t, n in Q4_0.values()) / sum(n for _k, _t, n in Q4_0.values())
    assert pooled == pytest.approx(0.3516, abs=1e-4) and verdicts.judge(pooled).band == "heavy"
    assert _comparison(Q4_0).overall().verdict.band == "noticeable"


def test_a_q8_0_requant_reads_practically_identical_with_its_one_weaker_domain_named():
    c = _comparison(Q8_0_REQUANT)
    whole = c.overall()
    assert whole.verdict.words == "practically identical"  # the worst-domain rule gives "small loss"
    assert [(d, v.words) for d, v in whole.worse] == [("multilingual", "small loss")]
    from core.evaluation.comparison_text import text_summary, verdict_lines

    lines = verdict_lines(c)
    assert lines[0] == ("Against the reference: practically identical on most of the text (general, code and math: "
                        "58% of the scored tokens).")  # fmt: skip
    assert lines[1].startswith("Worse on multilingual: small loss (perplexity 10 → 10.1")
    assert lines[1].endswith("the same top token 93% of the time, mean KL divergence 0.0088).")
    assert "\n".join(lines) in text_summary(c)


@pytest.mark.parametrize(
    ("domains", "band", "worse"),
    [
        ({"a": (0.0, 3000), "b": (0.5, 1000)}, "identical", ["b"]),  # the longer text outweighs
        ({"a": (0.0, 1000), "b": (0.5, 3000)}, "heavy", []),
        ({"a": (0.0, 1000), "b": (0.5, 1000)}, "heavy", []),  # an exact tie goes to the worse
        ({"a": (0.0, 1000), "b": (0.02, 999), "c": (2.0, 1)}, "small", ["c"]),  # at least half this or better
        ({"a": (0.0, 400), "b": (0.02, 200), "c": (0.5, 400)}, "small", ["c"]),  # …and at least half this or worse
        ({"a": (0.0, 0), "b": (2.0, 0), "c": (2.0, 0)}, "damaged", []),  # no token counts: one vote each
        ({"a": (0.1, 10)}, "noticeable", []),
    ],
)  # fmt: skip
def test_the_overall_verdict_is_the_token_weighted_median(domains, band, worse):
    whole = _overall(domains)
    assert whole.verdict.band == band
    assert [d for d, _v in whole.worse] == worse
    assert whole.share >= 0.5  # at least half the scored tokens read this verdict or better


def test_worse_domains_come_worst_first_and_unmeasured_ones_do_not_count():
    whole = _overall({"a": (0.0, 5000), "b": (0.1, 10), "c": (5.0, 10), "d": (float("nan"), 10**6)})
    assert whole.verdict.band == "identical" and [d for d, _v in whole.worse] == ["c", "b"]
    assert verdicts.overall({"d": (verdicts.judge(float("nan")), 100)}) is None
    assert verdicts.overall({}) is None
