from __future__ import annotations

import pytest

from core.progress import EtaClock, Progress, format_duration, run_job


def test_run_job_returns_the_result_and_forwards_events():
    def job():
        yield Progress("a", 1, 2)
        yield Progress("b", 2, 2)
        return 42

    seen = []
    assert run_job(job(), seen.append) == 42
    assert [e.phase for e in seen] == ["a", "b"]
    assert seen[0].fraction == 0.5


def test_eta_from_rate():
    now = [100.0]
    clock = EtaClock(1000, clock=lambda: now[0])
    assert clock.eta(0) is None
    now[0] = 110.0  # 250 of 1000 in 10 s -> 30 s left
    assert clock.eta(250) == pytest.approx(30.0)


def test_describe_in_plain_words():
    e = Progress("Downloading", 5_000_000, 10_000_000, "bytes", eta_s=75)
    assert e.describe() == "Downloading - 5,000,000/10,000,000 bytes - about 1 min 15 s left"
    assert format_duration(3700) == "1 h 01 min"
