"""One percentage and one ETA across every phase of a comparison, from measured rates.

A comparison is several runs of different kinds: loading a model, scoring texts (fast: hundreds of
tokens a second), generating samples (slow: one token at a time), on two models of different
speed. Each piece of work is planned up front with its size in its own unit; each unit kind's rate
is measured as the job runs (per side, falling back to the other side's rate, then to a modest
default), so the ETA is the remaining units of each kind over that kind's measured rate.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.progress import Progress

DEFAULT_RATES = {"load": 0.3, "score": 150.0, "generate": 8.0}  # units per second until measured


@dataclass
class _Work:
    side: str
    kind: str  # load | score | generate
    total: float
    done: float = 0.0


class OverallClock:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.work: dict[str, _Work] = {}
        self._clock = clock
        self._last = clock()
        self._units: dict[tuple[str, str], float] = {}
        self._seconds: dict[tuple[str, str], float] = {}
        self._shown = 0.0
        self.base: dict[str, float] = {}  # work already done on a key when a task of a later round began

    def plan(self, key: str, side: str, kind: str, total: float) -> None:
        self.work[key] = _Work(side, kind, max(1.0, float(total)))

    def _rate(self, side: str, kind: str) -> float:
        for k in ((side, kind), *((s, kind) for s, kd in self._seconds if kd == kind)):
            secs = self._seconds.get(k, 0.0)
            if secs > 0.5 and self._units.get(k, 0.0) > 0:
                return self._units[k] / secs
        return DEFAULT_RATES[kind]

    def _seconds_left(self, w: _Work) -> float:
        return max(0.0, w.total - w.done) / self._rate(w.side, w.kind)

    def advance(self, key: str, done: float, total: float | None = None) -> None:
        """Record that `key` has reached `done` units; the time since the last call is that kind's."""
        now = self._clock()
        w = self.work.get(key)
        if w is None:
            self._last = now
            return
        if total:
            w.total = max(w.total if w.kind == "load" else 0.0, float(total))
        gained = max(0.0, min(done, w.total) - w.done)
        k = (w.side, w.kind)
        self._seconds[k] = self._seconds.get(k, 0.0) + (now - self._last)
        self._units[k] = self._units.get(k, 0.0) + gained
        w.done = max(w.done, min(done, w.total))
        self._last = now

    def finish_side_load(self, side: str) -> None:
        key = f"{side}:load"
        if key in self.work and self.work[key].done < 1:
            self.advance(key, 1)

    def fraction(self) -> float:
        spent = sum(w.done / self._rate(w.side, w.kind) for w in self.work.values())
        left = sum(self._seconds_left(w) for w in self.work.values())
        return spent / (spent + left) if spent + left > 0 else 0.0

    def seconds_left(self, keys: list[str]) -> float | None:
        """Time left for these pieces of work at the measured rates (None before any rate is measured)."""
        if not any(self._units.values()):
            return None
        return sum(self._seconds_left(self.work[k]) for k in keys if k in self.work)

    def eta(self) -> float | None:
        if not any(self._units.values()):
            return None
        return sum(self._seconds_left(w) for w in self.work.values())

    def stamp(self, event: Progress) -> Progress:
        """The event with the overall share (never going backwards when a slower rate is measured) and ETA."""
        self._shown = max(self._shown, self.fraction())
        return dataclasses.replace(event, overall=self._shown, overall_eta_s=self.eta())
