"""Seeded fuzzing of model headers and configs through inspect, the memory estimate and diagnose
(issue 12): every mutated input ends in a result or a Quant Doctor error, within a time and a memory
limit, in a child process. tests/bench/bench_fuzz.py runs the same with more cases and prints counts."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="resource.setrlimit is POSIX")


def test_mutated_headers_and_configs_end_in_a_result_or_a_typed_error() -> None:
    from fuzzing import fuzz

    report, _ = fuzz(seed=1212, n=100)
    counts = report.counts
    assert counts["typed"] > 0 and counts["ok"] > 0  # the mutations do reach both outcomes
    failures = [f"{f['outcome']}: {f['what']}\n{f['detail']}" for f in report.failures]
    assert not failures, "\n\n".join(failures[:5])
    slow = [r for r in report.results if r["seconds"] > 2.0 and r["outcome"] == "typed"]
    assert not slow, [(r["what"], r["seconds"]) for r in slow[:5]]  # a header problem is answered within 2 s
    assert max(r["max_rss"] for r in report.results) < 1024 * 1024 * 1024
