"""Comparing the person's model with a reference: the policy the window uses, and what both front ends
call (core.evaluation, through this one door).

The window's comparison is meant to answer in a minute or two on a laptop: a few short chunks per
domain (`QUICK`), at a context short enough for that (`quick_run_settings`). The CLI and the
benchmark run the full texts.

What the Compare page says is decided here, where it is tested without Qt: the verdict in words
first (`headline`), the numbers under Details (`details`), the person's own prompt first among the
samples (`samples_first`), what each model is doing while it runs (`ProgressBoard`), an ETA that
counts down instead of jumping (`SmoothEta`), and the time it will take before it starts
(`estimate`).
"""

from __future__ import annotations

import math
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import QuantDoctorError
from core.evaluation.compare import Comparison, DomainResult, Provisional, domain_line, rests_on
from core.evaluation.compare import compare as _compare
from core.evaluation.comparison_text import cut_short_lines, text_summary, typical_findings, verdict, verdict_lines
from core.evaluation.domains import ALIASES, DEFAULT_DOMAINS, DOMAINS, Prompt, eval_text, prompts, resolve_domains
from core.evaluation.own_inputs import OWN_PROMPTS_DOMAIN, prompts_from, read_own_texts
from core.evaluation.samples import Sample
from core.evaluation.scoring import EVAL_DEFAULT_CTX, EvalSettings
from core.evaluation.settings_trial import SettingsTrial, file_or_settings
from core.files import stat_path, user_path
from core.progress import Job, Progress, format_duration
from core.settings.run import RunSettings
from core.settings.setup import Setup

__all__ = [
    "ALIASES",
    "DEFAULT_DOMAINS",
    "DOMAINS",
    "EVAL_DEFAULT_CTX",
    "OWN_PROMPTS_DOMAIN",
    "QUICK",
    "Comparison",
    "DomainResult",
    "Estimate",
    "EvalSettings",
    "ProgressBoard",
    "Prompt",
    "Provisional",
    "Sample",
    "SettingsTrial",
    "SmoothEta",
    "compare",
    "cut_short_lines",
    "details",
    "domain_line",
    "domain_words",
    "estimate",
    "file_or_settings",
    "file_size",
    "headline",
    "measured_speed",
    "prompts_from",
    "quick_run_settings",
    "read_own_texts",
    "samples_first",
    "text_summary",
    "typical_findings",
    "verdict",
    "verdict_lines",
]


def compare(*args: Any, **kwargs: Any) -> Job[Comparison]:
    """core.evaluation.compare.compare, with where it was scored (backend, device, build; why not a GPU)
    put into the result (core.app.gpu.stamp): every front end's comparison carries it."""
    from core.app.gpu import stamp

    result = yield from _compare(*args, **kwargs)
    return stamp(result)


# n_batch = one chunk: each chunk is decoded on its own, so the token counter and the stop rule move
# after every chunk (a few seconds on a laptop) instead of after four at once (the numbers are the same:
# llama-perplexity's sequences never see each other).
QUICK = EvalSettings(chunk=256, max_chunks=4, sample_tokens=64, n_batch=256)


def quick_run_settings(setup: Setup, cache_k: str | None = None, cache_v: str | None = None) -> RunSettings:
    """The person's settings, with a context short enough for the quick comparison (at least two chunks,
    at most llama.cpp's evaluation default), and the cache types given (the f16 reference of a
    settings comparison)."""
    r = setup.run
    return r.replace(
        n_ctx=max(QUICK.chunk * 2, min(r.n_ctx or EVAL_DEFAULT_CTX, EVAL_DEFAULT_CTX)),
        cache_type_k=cache_k or r.cache_type_k,
        cache_type_v=cache_v or r.cache_type_v,
    )


# --- the verdict in words, the numbers under Details -------------------------------------------------


def headline(c: Comparison, trial: SettingsTrial | None = None) -> list[str]:
    """The verdict in words only, one sentence a line: no perplexity, no KL divergence, no percentages
    (those are `details`). The overall verdict is the one most of the scored tokens get; a domain that
    reads worse gets its own line, never hidden."""
    if trial is not None:
        first, _sep, _rest = trial.explanation.partition(". ")
        return [first.rstrip(".") + "."]
    whole = c.overall()
    if whole is None:
        return ["No measurements were taken (see Details); compare the two answers below."]
    v = whole.verdict
    subject = "With your settings, against an f16 cache" if c.what == "settings" else "Against the reference"
    level = v.words
    if v.band == "damaged":
        level += ": its predictions have little in common with the reference's"
    if len(c.metrics) == 1:
        lines = [f"{subject}: {level} ({_text_name(next(iter(c.metrics)))})."]
    elif not whole.worse and len(whole.domains) == len(c.metrics):
        lines = [f"{subject}: {level} on every text ({_joined([_text_name(d) for d in c.metrics])})."]
    else:
        lines = [f"{subject}: {level} on most of the text ({_joined([_text_name(d) for d in whole.domains])})."]
    lines += [f"Worse on {_text_name(d)}: {w.words}." for d, w in whole.worse]
    return lines


def details(c: Comparison, trial: SettingsTrial | None = None) -> list[str]:
    """The numbers behind the verdict, in human form ("perplexity 4.27 → 16 million, about 3.7 million times
    worse"), one line a text, then how far each was scored and the notes."""
    lines: list[str] = []
    if trial is not None:
        _first, _sep, rest = trial.explanation.partition(". ")
        lines += [part.strip().rstrip(".") + "." for part in rest.split("; ") if part.strip()]
        if trial.capped:
            lines.append(trial.capped)
    lines += [domain_line(d, m, c.verdict(d)) for d, m in c.metrics.items()]
    lines += cut_short_lines(c)
    if c.approximate:
        lines.append("Approximate: a server gives only its top log-probabilities.")
    lines += [f"Note: {n}" for n in c.notes]
    return lines


def domain_words(event: DomainResult) -> str:
    """A text's verdict as soon as it is in, in words ("the code text: small loss", and how far it was
    scored when it stopped early); its numbers go under Details."""
    v = event.verdict
    return f"{_text_name(event.domain)}: {v.words if v else 'not measured'}" + rests_on(event.status)


def _text_name(domain: str) -> str:
    return "your prompt" if domain == OWN_PROMPTS_DOMAIN else f"the {domain} text"


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def samples_first(c: Comparison) -> list[Sample]:
    """The samples in the order shown: the person's own prompts first (what they came with), then the
    shipped ones in their order."""
    return sorted(c.samples, key=lambda s: s.domain != OWN_PROMPTS_DOMAIN)


# --- while it runs: what each model is doing, and a steady ETA ----------------------------------------

SIDES = {"Reference": "Reference model", "Candidate": "Your model"}


@dataclass
class _Side:
    label: str
    doing: str = "waiting"
    done: float = 0.0
    total: float | None = None
    unit: str = ""
    scored: float = 0.0  # tokens scored so far on this side, every text and round together
    since: float = 0.0  # when `doing`/`done` last changed


class ProgressBoard:
    """One line per model, from the job's progress events: what it is doing, how many tokens it has scored,
    and, when a step takes long, for how long it has been at it (so the line moves at least every second
    while the job is alive, and a slow step is seen to be working, not stuck)."""

    SLOW_S = 5.0  # a step quiet for longer than this says how long it has been running

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.sides: dict[str, _Side] = {}
        self._last: dict[str, tuple[str, float]] = {}

    def feed(self, event: Progress) -> None:
        side, _, doing = event.phase.partition(" (")
        if side not in SIDES or ": " not in doing:
            return
        label, _, doing = doing.partition("): ")
        now = self._clock()
        s = self.sides.setdefault(side, _Side(label, since=now))
        s.label = label
        if (doing, event.done) != (s.doing, s.done):
            s.since = now
        last_doing, last_done = self._last.get(side, ("", 0.0))
        if event.unit == "tokens" and doing.startswith("scoring"):
            s.scored += event.done - last_done if doing == last_doing and event.done >= last_done else event.done
        self._last[side] = (doing, event.done)
        s.doing, s.done, s.total, s.unit = doing, event.done, event.total, event.unit

    def lines(self) -> list[str]:
        now = self._clock()
        out = []
        for key, title in SIDES.items():
            s = self.sides.get(key)
            if s is None:
                out.append(f"{title}: waiting" + (" for the reference" if key == "Candidate" else ""))
                continue
            line = f"{title} ({s.label}): {s.doing}"
            if s.total and s.unit:
                line += f", {s.done:,.0f} of {s.total:,.0f} {s.unit}"
            if s.scored and not (s.doing.startswith("scoring") and s.scored == s.done):
                line += f" ({s.scored:,.0f} tokens scored so far)"
            quiet = now - s.since
            if quiet >= self.SLOW_S:
                line += f"; working on it for {format_duration(quiet)}"
            out.append(line)
        return out


class SmoothEta:
    """The time left as shown: it counts down with the clock and moves toward each new measured estimate,
    but it never jumps up. A longer estimate raises it by at most `rise_per_s` seconds per second gone
    (so "about 1 min" never turns into "about 6 min" at once); a shorter one is followed at once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, half_life_s: float = 4.0,
                 rise_per_s: float = 0.5) -> None:  # fmt: skip
        self._clock = clock
        self.half_life_s = half_life_s
        self.rise_per_s = rise_per_s
        self.shown: float | None = None
        self._at = 0.0

    def update(self, measured: float | None) -> float | None:
        now = self._clock()
        if self.shown is None:
            if measured is not None:
                self.shown, self._at = max(0.0, measured), now
            return self.shown
        dt = max(0.0, now - self._at)
        counted = max(0.0, self.shown - dt)  # the countdown on its own
        if measured is None:
            target = counted
        elif measured <= counted:
            target = measured  # good news is shown as it is
        else:
            pull = 1.0 - 0.5 ** (dt / self.half_life_s) if self.half_life_s > 0 else 1.0
            target = min(counted + pull * (measured - counted), self.shown + self.rise_per_s * dt)
        self.shown, self._at = max(0.0, target), now
        return self.shown


# --- before it starts: how long it will take ----------------------------------------------------------

GIB = 1024**3
# Until this machine has been measured: tokens a second for a 1 GiB model (a model twice the size takes
# twice as long), a laptop CPU's order of magnitude; loading reads the file at DEFAULT_LOAD_GIB_S.
DEFAULT_SCORE_TOKENS_S = 300.0
DEFAULT_GENERATE_TOKENS_S = 20.0
DEFAULT_LOAD_GIB_S = 1.0
LOAD_OVERHEAD_S = 3.0  # a llama.cpp child process starting, before it reads the model (measured: ~20 s for the
# smallest window comparison of the 94 MB demo pair on an idle laptop, tests/test_gui.py, is mostly this)


@dataclass(frozen=True)
class Estimate:
    """How long a comparison will take, before it starts: at most `seconds` (it stops sooner once the verdict
    is certain), from the models' sizes and this machine's measured speed (`measured`) or a default."""

    seconds: float
    measured: bool

    def words(self) -> str:
        how = ("at the speed measured on your last comparison" if self.measured
               else "a rough guess from the models' sizes: the first comparison measures this computer")  # fmt: skip
        return f"This takes about {format_duration(_rounded(self.seconds))} at most ({how})."


def _rounded(seconds: float) -> float:
    """An estimate to a precision it has: 5 s under a minute, 30 s under ten minutes, then whole minutes."""
    step = 5 if seconds < 60 else 30 if seconds < 600 else 60
    return max(step, round(seconds / step) * step)


def _work(sizes: tuple[int, int], domains: list[str], long_context: bool, ev: EvalSettings, own_prompts: int,
          own_texts: dict[str, str]) -> float:  # fmt: skip
    """The comparison's seconds at the default speeds, as a full quick run would do it."""
    texts: dict[str, str] = dict(own_texts)
    n_prompts = own_prompts
    for d in resolve_domains(domains, long_context) if domains or long_context else []:
        text = eval_text(d)
        if text:
            texts[d.id] = text
        n_prompts += min(1, len(prompts(d)))
    total = 0.0
    for size in sizes:
        gib = max(size / GIB, 0.05)
        total += 2 * (LOAD_OVERHEAD_S + gib / DEFAULT_LOAD_GIB_S)  # a load per round: a first look, then the rest
        for name, text in texts.items():
            chunk = ev.long_chunk if name == "long" and ev.long_chunk else (4096 if name == "long" else ev.chunk)
            n = max(1, len(text) // 4 // chunk)
            n = min(n, ev.max_chunks) if ev.max_chunks else n
            total += n * chunk * gib / DEFAULT_SCORE_TOKENS_S  # every token of a chunk is decoded
        total += n_prompts * ev.sample_tokens * gib / DEFAULT_GENERATE_TOKENS_S
    return total


def estimate(sizes: tuple[int, int], domains: list[str], long_context: bool = False, eval_settings: EvalSettings = QUICK,
             own_prompts: int = 0, own_texts: dict[str, str] | None = None, speed: float | None = None) -> Estimate:  # fmt: skip
    """The time a comparison of two models of these file sizes will take at most. `speed` is this machine's
    measured factor (`measured_speed` of an earlier comparison: its real seconds over the default
    estimate's), else the defaults are used and the estimate says it is rough."""
    base = _work(sizes, domains, long_context, eval_settings, own_prompts, own_texts or {})
    factor = speed if speed is not None and math.isfinite(speed) and speed > 0 else 1.0
    return Estimate(base * factor, speed is not None)


def file_size(source: str) -> int | None:
    """A model file's size for the estimate; None for a server or a path that is not a file."""
    try:
        st = stat_path(user_path(source))
    except QuantDoctorError:  # `~nosuchuser`, missing, unreadable: the comparison itself says which
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def measured_speed(seconds: float, sizes: tuple[int, int], domains: list[str], long_context: bool = False,
                   eval_settings: EvalSettings = QUICK, own_prompts: int = 0,
                   own_texts: dict[str, str] | None = None) -> float | None:  # fmt: skip
    """This machine's speed from a finished comparison: its real seconds over what the defaults predicted
    for the same work (None when there is nothing to go by)."""
    base = _work(sizes, domains, long_context, eval_settings, own_prompts, own_texts or {})
    return seconds / base if base > 0 and seconds > 0 else None
