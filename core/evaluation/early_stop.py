"""When to stop measuring: a domain's verdict is final once no way the rest of its text could score moves it.

A comparison scores each domain's text chunk by chunk (llama-perplexity's chunks). After every
chunk, each domain has an interval for the mean KL divergence and the top-1 agreement the *full*
run would report on that text, and the verdict band (resources/verdicts.json, the worse of the two
numbers wins, core.evaluation.verdicts.judge) is final when every value in both intervals gives the
same band. The overall verdict is final when the token-weighted median of core.evaluation.verdicts
.overall is the same for every band each domain could still end in (that median only moves one way
when a domain's band does, so the best and the worst case bound it).

The samples are the chunks, never the tokens: tokens inside a chunk share their context, so they
are not independent, and treating them as such would make the intervals far too narrow. The full
run's number is the mean over a fixed, known set of chunks (every chunk of the same text holds the
same number of scored tokens), so each interval is about that finite set. Two kinds of bound:

1. **Bounds that are certain** (no probability at all). KL divergence is never negative, so the
   chunks scored so far put a floor under the full run's mean: (sum of the scored chunks' KLD) /
   (tokens in the whole text). A top-1 share lies in [0, 1], so the unscored chunks move it at most
   by their share of the tokens. These alone settle a damaged model: Q2_0 against Q4_1 scores a mean
   KLD above 11 on its first chunk, so even with every other chunk at zero the text's mean stays
   above the worst band's edge (1.0).
2. **An anytime-valid confidence sequence** for the rest: the betting confidence sequence for
   sampling *without replacement* of Waudby-Smith & Ramdas, "Confidence sequences for sampling
   without replacement" (NeurIPS 2020, section 3; the hedged capital process and the predictable
   plug-in bets of their "Estimating means of bounded random variables by betting", JRSS-B 2023,
   sections 4-5). It stays valid when it is looked at after every chunk and the run stops on what it
   shows (Ville's inequality), which a t-interval on chunk means is not. It needs the chunks to be
   scored in a uniformly random order, so a comparison scores them in a seeded shuffle (`chunk_order`);
   a full run scores the same set of chunks, and every number it reports is order-free. Its error
   budget is ALPHA for the whole comparison, split evenly over the domains and the two numbers
   (Bonferroni).

The betting sequence needs bounded values. Top-1 shares are in [0, 1]. KL divergence is not bounded
above: for the *lower* bound each chunk's mean is clipped at CLIP_TIMES × the worst band's edge,
which can only lower the mean, so the lower bound stays valid with no assumption. The *upper* bound
assumes no chunk of the text averages above that clip; once a scored chunk does, the upper side is
off for that domain (nothing can bound what was not scored), and only a complete run or the certain
bounds decide it. With bounded chunks and few of them, the upper side needs many chunks to be sure
of a small loss (the shipped texts have 3-8 chunks at 512, so a fine model is scored to the end);
a long text of the person's own, or a smaller chunk, can stop early there too.

Numbers shown are never extrapolated: a domain stopped early reports llama-perplexity's figures for
the chunks it scored, and says on how many tokens its verdict rests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from core.evaluation.verdicts import Verdict, table
from core.evaluation.verdicts import overall as overall_verdict

ALPHA = 0.05  # the chance, for a whole comparison, that a probabilistic "final" is wrong (the certain bounds: 0)
CLIP_TIMES = 2.0  # KLD chunk means are clipped at this many times the worst band's lower edge
ORDER_SEED = 20231  # the chunk shuffle: fixed, so a rerun (and the reference cache) scores the same chunks first
GRID = 10_001  # candidate means the confidence sequence tests, on [0, 1] (a resolution of 1e-4)
BET_CAP = 0.5  # c in Waudby-Smith & Ramdas: a bet never risks more than half of the capital


def chunk_order(n_chunks: int, seed: int = ORDER_SEED) -> npt.NDArray[np.int64]:
    """The order chunks are scored in: a seeded uniform shuffle (the confidence sequence's assumption)."""
    return np.random.default_rng([seed, n_chunks]).permutation(n_chunks)


class WithoutReplacementCS:
    """A betting confidence sequence for the mean of N values in [0, 1], seen one at a time in random order.

    For each candidate mean m on a grid, two bettors (for "above m" and "below m") stake a predictable
    share of their capital on each new value against the mean of the values not yet seen, which is
    (N·m − sum so far) / (values left) when m is the truth. Under that truth each bet is fair, so the
    hedged capital is a nonnegative martingale and, by Ville's inequality, it ever reaches 1/α with
    probability at most α. The set of m whose capital never reached 1/α is the confidence sequence;
    its running intersection is kept, which Ville's inequality also covers.
    """

    def __init__(self, n: int, alpha: float) -> None:
        self.n = n
        self.alpha = alpha
        self.m = np.linspace(0.0, 1.0, GRID)
        self.alive = np.ones(GRID, bool)
        self._kp = np.ones(GRID)
        self._km = np.ones(GRID)
        self.t = 0
        self.total = 0.0
        self._mean_hat = 0.5  # the predictable plug-in's running estimates (WSR 2023, eq. 26)
        self._var_sum = 0.25

    def update(self, x: float) -> None:
        x = min(1.0, max(0.0, float(x)))
        left = self.n - self.t
        if left <= 0:
            return
        t = self.t + 1
        mu = (self.n * self.m - self.total) / left  # the unseen values' mean, were m the truth
        possible = (mu >= 0.0) & (mu <= 1.0)
        var = self._var_sum / t
        lam = min(1e6, math.sqrt(2 * math.log(2 / self.alpha) / (var * t * math.log(1 + t))))
        with np.errstate(divide="ignore", invalid="ignore"):
            lam_p = np.minimum(lam, BET_CAP / np.maximum(mu, 1e-12))
            lam_m = np.minimum(lam, BET_CAP / np.maximum(1.0 - mu, 1e-12))
        self._kp = np.minimum(self._kp * (1 + lam_p * (x - mu)), 1e12)
        self._km = np.minimum(self._km * (1 - lam_m * (x - mu)), 1e12)
        self.alive &= possible & (0.5 * self._kp + 0.5 * self._km < 1 / self.alpha)
        self.t = t
        self.total += x
        self._mean_hat = (0.5 + self.total) / (t + 1)
        self._var_sum += (x - self._mean_hat) ** 2

    def interval(self) -> tuple[float, float]:
        """The smallest interval that holds every grid mean still alive, widened by one grid step."""
        if self.t >= self.n:
            exact = self.total / self.n
            return exact, exact
        idx = np.flatnonzero(self.alive)
        if idx.size == 0:  # cannot happen for a valid stream; say nothing rather than something wrong
            return 0.0, 1.0
        step = 1.0 / (GRID - 1)
        return max(0.0, float(self.m[idx[0]]) - step), min(1.0, float(self.m[idx[-1]]) + step)


def _kld_index(value: float) -> int:
    bands = table().bands
    for i, b in enumerate(bands):
        if b.kld_below is None or value < b.kld_below:
            return i
    return len(bands) - 1


def _top1_index(value: float) -> int:
    bands = table().bands
    for i, b in enumerate(bands):
        if b.top1_at_least is None or value >= b.top1_at_least:
            return i
    return len(bands) - 1


def worst_edge() -> float:
    """The lower KLD edge of the worst band ("badly damaged" from 1.0 on)."""
    edges = [b.kld_below for b in table().bands if b.kld_below is not None]
    return float(max(edges))


@dataclass
class Bounds:
    """Where the full run's numbers for one domain can still be: mean KLD and top-1 share, both ends."""

    kld_lo: float
    kld_hi: float  # math.inf when nothing bounds it yet
    top1_lo: float
    top1_hi: float

    def bands(self) -> tuple[int, int]:
        """(best, worst) band index the full run can still give: judge's rule, the worse number wins."""
        best = max(_kld_index(self.kld_lo), _top1_index(self.top1_hi))
        worst = max(_kld_index(self.kld_hi), _top1_index(self.top1_lo))
        return best, worst


@dataclass
class DomainWatch:
    """One domain's chunks as they come in, and whether its verdict band is settled.

    `n_chunks` is the number of chunks the full run scores (None until the reference has tokenized
    the text); `chunk_tokens` the scored tokens per chunk (every chunk of a text holds the same number).
    """

    domain: str
    chunk_tokens: int
    alpha: float
    n_chunks: int | None = None
    kld_sum: float = 0.0
    hits: int = 0
    chunks: int = 0
    final_after: int | None = None  # scored tokens when the band became final
    final_band: int | None = None
    _kld_cs: WithoutReplacementCS | None = field(default=None, repr=False)
    _top_cs: WithoutReplacementCS | None = field(default=None, repr=False)
    _over_clip: bool = False

    @property
    def tokens(self) -> int:
        return self.chunks * self.chunk_tokens

    @property
    def planned_tokens(self) -> int | None:
        return None if self.n_chunks is None else self.n_chunks * self.chunk_tokens

    @property
    def complete(self) -> bool:
        return self.n_chunks is not None and self.chunks >= self.n_chunks

    def plan(self, n_chunks: int) -> None:
        self.n_chunks = n_chunks
        self._kld_cs = WithoutReplacementCS(n_chunks, self.alpha / 2)
        self._top_cs = WithoutReplacementCS(n_chunks, self.alpha / 2)

    def add(self, kld_sum: float, hits: int, tokens: int) -> None:
        """One more chunk: its summed per-token KLD and its number of same-top-token positions."""
        if self.n_chunks is None or self._kld_cs is None or self._top_cs is None:
            raise ValueError("plan() the number of chunks before adding any")
        if tokens != self.chunk_tokens:
            raise ValueError(f"a chunk of {tokens} scored tokens in a text of {self.chunk_tokens}-token chunks")
        self.kld_sum += kld_sum
        self.hits += hits
        self.chunks += 1
        clip = CLIP_TIMES * worst_edge()
        mean = kld_sum / tokens
        self._over_clip |= mean > clip
        self._kld_cs.update(min(mean, clip) / clip)
        self._top_cs.update(hits / tokens)
        lo, hi = self.bounds().bands()
        if lo == hi and self.final_after is None:
            self.final_after, self.final_band = self.tokens, lo

    def bounds(self) -> Bounds:
        """The certain bounds, narrowed by the confidence sequence where it is valid (module docstring)."""
        if self.n_chunks is None or self._kld_cs is None or self._top_cs is None or self.chunks == 0:
            return Bounds(0.0, math.inf, 0.0, 1.0)
        whole = self.n_chunks * self.chunk_tokens
        if self.complete:
            kld, top = self.kld_sum / whole, self.hits / whole
            return Bounds(kld, kld, top, top)
        unseen = whole - self.tokens
        kld_lo, kld_hi = self.kld_sum / whole, math.inf
        top_lo, top_hi = self.hits / whole, (self.hits + unseen) / whole
        clip = CLIP_TIMES * worst_edge()
        k_lo, k_hi = self._kld_cs.interval()
        kld_lo = max(kld_lo, k_lo * clip)
        if not self._over_clip:
            kld_hi = k_hi * clip
        t_lo, t_hi = self._top_cs.interval()
        return Bounds(kld_lo, max(kld_lo, kld_hi), max(top_lo, t_lo), max(min(top_hi, t_hi), max(top_lo, t_lo)))

    def band_range(self) -> tuple[int, int]:
        """(best, worst) band still possible: once final it stays so, until every chunk is in (then exact)."""
        if self.final_band is not None and not self.complete:
            return self.final_band, self.final_band
        return self.bounds().bands()

    @property
    def final(self) -> bool:
        lo, hi = self.band_range()
        return lo == hi

    def status(self) -> dict[str, Any]:
        """For the JSON and the report: how far this domain got, and on how many tokens its verdict rests."""
        planned = self.planned_tokens
        return {
            "tokens": self.tokens, "planned_tokens": planned, "final": self.final,
            "certain_after": self.final_after, "cut_short": planned is not None and self.tokens < planned,
        }  # fmt: skip


def band_verdict(index: int, by: str = "") -> Verdict:
    b = table().bands[index]
    return Verdict(b.id, b.words, by)


def overall_range(watches: Mapping[str, DomainWatch]) -> tuple[int, int] | None:
    """(best, worst) overall band the full run can still give: the weighted median at both ends.

    None while a domain's size is not known yet (its weight in the median is its full run's tokens).
    """
    if not watches or any(w.n_chunks is None for w in watches.values()):
        return None
    ends = []
    for pick in (0, 1):
        per = {d: (band_verdict(w.band_range()[pick]), w.planned_tokens or 0) for d, w in watches.items()}
        whole = overall_verdict(per)
        if whole is None:
            return None
        ends.append([b.id for b in table().bands].index(whole.verdict.band))
    return ends[0], ends[1]


def overall_settled(watches: Mapping[str, DomainWatch]) -> int | None:
    """The overall band when no outcome of the unscored chunks can change it, else None."""
    span = overall_range(watches)
    return span[0] if span is not None and span[0] == span[1] else None


def per_domain_alpha(n_domains: int) -> float:
    """ALPHA split evenly over the domains (each domain then splits it over its two numbers)."""
    return ALPHA / max(1, n_domains)
