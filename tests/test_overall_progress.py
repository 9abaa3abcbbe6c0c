"""One overall share and ETA across phases of different speeds, from measured rates (a fake clock)."""

from __future__ import annotations

import pytest

from core.evaluation.overall import OverallClock
from core.progress import Progress


def test_overall_eta_uses_each_kinds_measured_rate():
    now = [0.0]
    clock = OverallClock(lambda: now[0])
    clock.plan("reference:load", "reference", "load", 1)
    clock.plan("reference:score", "reference", "score", 1000)
    clock.plan("reference:gen", "reference", "generate", 50)
    assert clock.eta() is None and clock.fraction() == 0
    now[0] = 2.0
    clock.advance("reference:load", 1)  # loading took 2 s
    now[0] = 7.0
    clock.advance("reference:score", 500)  # 100 tokens/s
    assert clock.eta() == pytest.approx(500 / 100 + 50 / 8.0)  # generation: the default rate until measured
    now[0] = 12.0
    clock.advance("reference:score", 1000)
    now[0] = 22.0
    clock.advance("reference:gen", 10)  # 1 token/s
    assert clock.eta() == pytest.approx(40.0)
    assert clock.fraction() == pytest.approx(22 / 62)
    stamped = clock.stamp(Progress("x", 1, 2))
    assert stamped.overall == pytest.approx(22 / 62) and "% overall" in stamped.describe()
    assert "to go" in stamped.describe()
