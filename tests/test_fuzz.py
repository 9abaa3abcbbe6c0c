"""Seeded fuzzing of model headers and configs through inspect, the memory estimate and diagnose
(issue 12): every mutated input ends in a result or a Quant Doctor error, within a time and a memory
limit, in a child process. tests/bench/bench_fuzz.py runs the same with more cases and prints counts.

The run's coverage is pinned too, so it cannot shrink without a failure: every base (the demo's real
header included), every folder format, huge shape counts among the mutations, and each of those
refused. A product that stops refusing them fails here; it does not make the fuzzer quietly milder."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="resource.setrlimit is POSIX")

SEED, N = 1212, 100
HUGE_SHAPES = 5  # cases of this seed that set a shape count to 3 billion or more (all refused)
REFUSED = 83  # cases of this seed that end in a typed error (the rest end in a result)


def test_mutated_headers_and_configs_end_in_a_result_or_a_typed_error(demo) -> None:
    from fuzzing import fuzz

    report, refused = fuzz(seed=SEED, n=N, demo=demo.reference)
    assert refused and report.refuses_huge_shape, "a header claiming 3 billion layers was read without complaint"
    counts = report.counts
    assert counts["typed"] > 0 and counts["ok"] > 0  # the mutations do reach both outcomes
    assert len(report.results) + len(report.child_deaths) == N
    failures = [f"{f['outcome']}: {f['what']}\n{f['detail']}" for f in report.failures]
    assert not failures, "\n\n".join(failures[:5])
    slow = [r for r in report.results if r["seconds"] > 2.0 and r["outcome"] == "typed"]
    assert not slow, [(r["what"], r["seconds"]) for r in slow[:5]]  # a header problem is answered within 2 s
    assert max(r["max_rss"] for r in report.results) < 1024 * 1024 * 1024

    # coverage: what this seed reaches, so a change that narrows the run is seen
    bases = Counter(c.base for c in report.cases)
    assert set(bases) == {"llama", "moe", "demo", "gptq", "exl2", "awq"}, bases
    huge = [c for c in report.cases if c.huge_shape]
    assert len(huge) >= HUGE_SHAPES, [c.what for c in report.cases]
    # what is refused today: fewer refusals is a regression in what the product refuses (or a change of the
    # mutations, which then updates these floors on purpose, never by itself)
    assert counts["typed"] >= REFUSED, f"{counts['typed']} of {N} refused, {REFUSED} when pinned"
    accepted = report.huge_shapes_accepted
    assert not accepted, [(r["what"], r["outcome"]) for r in accepted]  # each huge shape is refused


LINK_SEED, LINK_N = 2424, 60
LINK_REFUSED = 58  # cases of this seed that end in a typed error (the rest read, their hostile link unread)


def test_model_folders_with_hostile_links_never_read_outside() -> None:
    """Issue 24: weight and metadata files replaced by links (a loop, to itself, out of the folder directly or
    through a second link, to /dev/zero, a FIFO, /proc/self/mem, /etc/passwd, a folder, nowhere). Each case
    ends in a result or a typed error, never opens a file outside the folder, never shows a word of one."""
    from fuzzing import LINK_TARGETS, LINKED_FILES, fuzz_links

    report = fuzz_links(LINK_SEED, LINK_N)
    failures = [f"{f['outcome']}: {f['what']}\n{f['detail']}" for f in report.failures]
    assert not failures, "\n\n".join(failures[:5])  # "leak" among them: an outside file opened or shown
    assert len(report.results) == LINK_N
    assert max(r["seconds"] for r in report.results) < 2.0
    assert max(r["max_rss"] for r in report.results) < 500 * 1024 * 1024
    # coverage: every kind of link and every linked file is among this seed's cases
    whats = " ".join(c.what for c in report.cases)
    assert all(f"-> {t}" in whats for t in LINK_TARGETS), whats
    assert all(name in whats for name in LINKED_FILES if name != "model.safetensors.index.json") and "index" in whats
    assert report.counts["typed"] >= LINK_REFUSED, report.counts


COMPARE_SEED, COMPARE_N = 2426, 80
COMPARE_REFUSED = 60


def test_hostile_compare_inputs_end_in_a_plain_error() -> None:
    """Issue 24: `--text` / `--prompts` inputs of every hostile kind through the comparison's own readers:
    JSON edge values and nesting, binary and invalid text, FIFOs, devices, /proc/self/mem, loops, folders,
    sparse files over the limits, `~nosuchuser`, NUL and overlong paths. A result or a typed error, fast."""
    from fuzzing import fuzz_compare_inputs

    report = fuzz_compare_inputs(COMPARE_SEED, COMPARE_N)
    failures = [f"{f['outcome']}: {f['what']}\n{f['detail']}" for f in report.failures]
    assert not failures, "\n\n".join(failures[:5])
    assert len(report.results) == COMPARE_N
    assert max(r["seconds"] for r in report.results) < 2.0
    assert max(r["max_rss"] for r in report.results) < 500 * 1024 * 1024
    whats = " ".join(c.what for c in report.cases)
    kinds = ("fifo", "dev-zero", "proc-mem", "deep", "NaN", "sparse", "path ~nosuchuser", "invalid utf-8", "loop",
             "folder", "path NUL")  # fmt: skip
    for kind in kinds:
        assert kind in whats, kind
    assert report.counts["typed"] >= COMPARE_REFUSED and report.counts["ok"] > 0, report.counts
