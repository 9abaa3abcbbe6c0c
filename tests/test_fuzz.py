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
