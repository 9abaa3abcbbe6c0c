"""Progress events for long jobs.

Long jobs in core are generators: they yield `Progress` and return their result, so the CLI can
print them, the GUI can turn them into signals off the UI thread, and tests can drive them with
no event loop at all. Cancelling is closing the generator between two yields; jobs clean up
(stop children, remove partial files) in `finally` blocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import ClassVar, TypeVar

T = TypeVar("T")

Job = Generator["Progress", None, T]


@dataclass(frozen=True)
class Progress:
    """One step of a long job: which phase, how far, and how long is left (when it can be known)."""

    phase: str
    done: float = 0.0
    total: float | None = None
    unit: str = ""
    eta_s: float | None = None
    message: str = ""
    # A milestone (a domain's result) carries news, not just a position: a UI that shows only the
    # latest progress must still deliver every milestone.
    milestone: ClassVar[bool] = False
    overall: float | None = None  # 0..1 across every phase of the whole job, when the job can tell
    overall_eta_s: float | None = None  # time left for the whole job, from measured rates

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))

    def describe(self) -> str:
        parts = [self.phase]
        if self.total:
            parts.append(f"{self.done:,.0f}/{self.total:,.0f} {self.unit}".rstrip())
        if self.eta_s is not None:
            parts.append(f"about {format_duration(self.eta_s)} left")
        if self.message:
            parts.append(self.message)
        if self.overall is not None:
            whole = f"{100 * self.overall:.0f}% overall"
            if self.overall_eta_s is not None:
                whole += f", about {format_duration(self.overall_eta_s)} to go"
            parts.append(whole)
        return " - ".join(parts)


class EtaClock:
    """Estimates time left from the rate so far; None until there is a rate to speak of."""

    def __init__(self, total: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self._clock = clock
        self._start = clock()

    def eta(self, done: float) -> float | None:
        elapsed = self._clock() - self._start
        if done <= 0 or elapsed < 0.2 or self.total <= 0:
            return None
        return max(0.0, elapsed * (self.total - done) / done)


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_job(job: Job[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Drive a job to its end, handing each event to `on_progress`; returns the job's result."""
    try:
        while True:
            event = next(job)
            if on_progress is not None:
                on_progress(event)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
