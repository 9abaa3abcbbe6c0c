"""The numbers: perplexity, KL divergence, top-1 agreement and Δp, as llama-perplexity defines them.

Definitions follow llama.cpp's `tools/perplexity/perplexity.cpp` (`--kl-divergence`):

- a scored token's NLL is −log softmax(logits)[next token]; PPL = exp(mean NLL);
- KLD per token is Σ p_ref · (log p_ref − log p_cand) over the vocabulary;
- "same top p" (top-1 agreement) counts tokens where both models' most likely next token is the same;
- Δp = p_cand(next token) − p_ref(next token); RMS Δp = sqrt(mean Δp²);
- percentiles interpolate linearly between sorted values (its `percentile` lambda).

What we keep of the reference (and why): llama-perplexity writes the reference's whole distribution
to disk as 16-bit numbers (2 bytes × vocabulary per token: 300 KB per token for a 150K vocabulary).
We keep, per scored token, the reference's top-k log-probs, the total mass P_rest of everything
else, and m tokens drawn from that rest in proportion to their probability (systematic sampling),
with their log-probs. Then

    KLD = Σ_{i in top-k} p_i (log p_i − log q_i) + P_rest · mean_{s in samples} (log p_s − log q_s)

is an unbiased estimate of the full sum. Keeping only the top-k and treating the rest as one bucket
is not enough: small or uncertain models keep 10-25% of their mass outside the top 128, and that
bucket version undershot llama-perplexity's mean KLD by 20-25% on the demo pair. With k = 64 and
m = 64 (1 KB per token) the estimate stays within 1% of llama-perplexity's mean KLD on the demo pair
(tests/bench/README.md has the figures). The reference's own NLL and argmax come from its full
distribution before compression, so PPL, Δp and top-1 agreement are exact.

Everything here is plain numpy on float32 logits, worked in row blocks so a 150K vocabulary does not
multiply memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
BoolArr = npt.NDArray[np.bool_]

ROW_BLOCK = 32  # rows of logits worked at a time: bounds temporaries to a few × 32 × vocabulary numbers
MIN_MASS = 1e-30


@dataclass
class RefBlock:
    """What is kept of the reference for a run of scored tokens."""

    topk_ids: I32  # [n, k], most likely first
    topk_logp: F32  # [n, k]
    rest_mass: F64  # [n] probability mass outside the top-k
    nll: F64  # [n] −log p_ref(next token), from the full distribution
    argmax: I32  # [n] the reference's most likely token (ties: the lowest id, like llama.cpp)
    tail_ids: I32  # [n, m] tokens sampled from outside the top-k, in proportion to their probability
    tail_logp: F32  # [n, m]

    def __len__(self) -> int:
        return int(self.nll.shape[0])

    def slice(self, start: int, stop: int) -> RefBlock:
        return RefBlock(
            self.topk_ids[start:stop], self.topk_logp[start:stop], self.rest_mass[start:stop],
            self.nll[start:stop], self.argmax[start:stop], self.tail_ids[start:stop], self.tail_logp[start:stop],
        )  # fmt: skip

    @staticmethod
    def concat(blocks: list[RefBlock], k: int, samples: int = 0) -> RefBlock:
        if not blocks:
            return RefBlock(
                np.zeros((0, k), np.int32), np.zeros((0, k), np.float32), np.zeros(0), np.zeros(0),
                np.zeros(0, np.int32), np.zeros((0, samples), np.int32), np.zeros((0, samples), np.float32),
            )  # fmt: skip
        return RefBlock(*(np.concatenate([getattr(b, f) for b in blocks]) for f in RefBlock.__dataclass_fields__))


@dataclass
class TokenStats:
    """Per-token results of a candidate pass against a reference."""

    nll_ref: F64
    nll_cand: F64
    kld: F64
    same_top: BoolArr
    p_diff: F64

    def __len__(self) -> int:
        return int(self.nll_cand.shape[0])

    @staticmethod
    def concat(parts: list[TokenStats]) -> TokenStats:
        if not parts:
            z = np.zeros(0)
            return TokenStats(z, z, z, np.zeros(0, bool), z)
        return TokenStats(
            np.concatenate([p.nll_ref for p in parts]), np.concatenate([p.nll_cand for p in parts]),
            np.concatenate([p.kld for p in parts]), np.concatenate([p.same_top for p in parts]),
            np.concatenate([p.p_diff for p in parts]),
        )  # fmt: skip

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"nll_ref": self.nll_ref, "nll_cand": self.nll_cand, "kld": self.kld,
                "same_top": self.same_top, "p_diff": self.p_diff}  # fmt: skip

    @staticmethod
    def from_arrays(d: Any) -> TokenStats:
        return TokenStats(
            np.asarray(d["nll_ref"], np.float64), np.asarray(d["nll_cand"], np.float64),
            np.asarray(d["kld"], np.float64), np.asarray(d["same_top"], bool), np.asarray(d["p_diff"], np.float64),
        )  # fmt: skip


def _log_softmax_block(logits: F32) -> tuple[F32, F64]:
    """Rows of log-probabilities (a new float32 array) and each row's log-sum-exp offset."""
    mx = logits.max(axis=1, keepdims=True)
    x = logits - mx
    e = np.exp(x)
    lse = np.log(e.sum(axis=1, dtype=np.float64))
    x -= lse[:, None].astype(np.float32)
    return x, lse + mx[:, 0].astype(np.float64)


def compress_reference(logits: F32, targets: I32, k: int, samples: int = 0, seed: int = 0) -> RefBlock:
    """Keep each row's top-k log-probs, a systematic sample of the rest, its mass, NLL and argmax."""
    n, vocab = logits.shape
    k = min(k, vocab)
    m_s = max(0, min(samples, vocab - k))
    ids = np.empty((n, k), np.int32)
    lps = np.empty((n, k), np.float32)
    tail_ids = np.empty((n, m_s), np.int32)
    tail_lps = np.empty((n, m_s), np.float32)
    rest = np.empty(n, np.float64)
    nll = np.empty(n, np.float64)
    argmax = np.empty(n, np.int32)
    rows = np.arange(ROW_BLOCK)
    rng = np.random.default_rng(seed)
    for s in range(0, n, ROW_BLOCK):
        block = np.asarray(logits[s : s + ROW_BLOCK], dtype=np.float32)
        m = block.shape[0]
        r = rows[:m]
        logp, lse = _log_softmax_block(block)
        tgt = targets[s : s + m]
        nll[s : s + m] = lse - block[r, tgt].astype(np.float64)
        argmax[s : s + m] = block.argmax(axis=1)
        if k < vocab:
            part = np.argpartition(logp, vocab - k, axis=1)[:, vocab - k :]
        else:
            part = np.broadcast_to(np.arange(vocab), (m, vocab))
        vals = np.take_along_axis(logp, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        ids[s : s + m] = np.take_along_axis(part, order, axis=1)
        lps[s : s + m] = np.take_along_axis(vals, order, axis=1)
        cdf = np.exp(logp, dtype=np.float64)  # becomes the tail's cumulative sum, in place
        np.put_along_axis(cdf, part, 0.0, axis=1)
        np.cumsum(cdf, axis=1, out=cdf)
        mass = cdf[:, -1].copy()
        rest[s : s + m] = mass
        if m_s:
            tail_ids[s : s + m], tail_lps[s : s + m] = _systematic_sample(cdf, mass, logp, m_s, rng)
    return RefBlock(ids, lps, rest, nll, argmax, tail_ids, tail_lps)


def _systematic_sample(cdf: F64, mass: F64, logp: F32, m_s: int, rng: np.random.Generator) -> tuple[I32, F32]:
    """`m_s` tokens per row drawn from the tail in proportion to their probability (systematic sampling).

    Each sample stands for mass/m_s of the tail, so the mean of log(p/q) over the samples, times the
    tail's mass, is an unbiased estimate of the tail's share of the KL divergence. Systematic
    sampling (evenly spaced points on the cumulative sum, one random offset per row) keeps its
    variance far below independent draws; a fixed seed keeps the cache reproducible.
    """
    m, vocab = cdf.shape
    rows = np.arange(m)[:, None]
    safe = np.maximum(mass, MIN_MASS)[:, None]
    want = ((np.arange(m_s)[None, :] + rng.random((m, 1))) / m_s + rows * 2.0).ravel()
    cdf /= safe  # each row now runs from 0 to 1; shifting row r by 2r makes one sorted array
    cdf += rows * 2.0
    pos = np.searchsorted(cdf.ravel(), want, side="right").reshape(m, m_s) - rows * vocab
    pos = np.clip(pos, 0, vocab - 1).astype(np.int32)
    return pos, np.take_along_axis(logp, pos, axis=1)


def candidate_stats(logits: F32, targets: I32, ref: RefBlock) -> TokenStats:
    """Score a candidate's logits against the kept reference, token by token."""
    n = logits.shape[0]
    if len(ref) != n:
        raise ValueError(f"{n} candidate rows against {len(ref)} reference rows")
    nll = np.empty(n, np.float64)
    kld = np.empty(n, np.float64)
    same = np.empty(n, bool)
    rows = np.arange(ROW_BLOCK)
    sampled = ref.tail_ids.shape[1] > 0
    for s in range(0, n, ROW_BLOCK):
        block = np.asarray(logits[s : s + ROW_BLOCK], dtype=np.float32)
        m = block.shape[0]
        r = rows[:m]
        mx = block.max(axis=1)
        lse = np.log(np.exp(block - mx[:, None]).sum(axis=1, dtype=np.float64)) + mx.astype(np.float64)
        tgt = targets[s : s + m]
        nll[s : s + m] = lse - block[r, tgt].astype(np.float64)
        same[s : s + m] = block.argmax(axis=1) == ref.argmax[s : s + m]
        logq = np.take_along_axis(block, ref.topk_ids[s : s + m], axis=1).astype(np.float64) - lse[:, None]
        logp = ref.topk_logp[s : s + m].astype(np.float64)
        head = (np.exp(logp) * (logp - logq)).sum(axis=1)
        p_rest = ref.rest_mass[s : s + m]
        if sampled:
            t_logq = np.take_along_axis(block, ref.tail_ids[s : s + m], axis=1).astype(np.float64) - lse[:, None]
            t_logp = ref.tail_logp[s : s + m].astype(np.float64)
            tail = p_rest * (t_logp - t_logq).mean(axis=1)
        else:
            q_rest = np.clip(1.0 - np.exp(logq).sum(axis=1), MIN_MASS, 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                tail = np.where(
                    p_rest > MIN_MASS, p_rest * (np.log(np.maximum(p_rest, MIN_MASS)) - np.log(q_rest)), 0.0
                )
        kld[s : s + m] = head + tail
    p_diff = np.exp(-nll) - np.exp(-ref.nll)
    return TokenStats(ref.nll.copy(), nll, kld, same, p_diff)


def percentile(sorted_values: npt.NDArray[Any], fraction: float) -> float:
    """llama-perplexity's percentile: linear between the two nearest sorted values."""
    n = len(sorted_values)
    if n == 0:
        return float("nan")
    if fraction <= 0:
        return float(sorted_values[0])
    if fraction >= 1:
        return float(sorted_values[-1])
    p = fraction * (n - 1)
    i = int(p)
    p -= i
    return float((1 - p) * sorted_values[i] + p * sorted_values[min(i + 1, n - 1)])


@dataclass(frozen=True)
class DomainMetrics:
    """One domain's numbers, named as in the CLI's JSON."""

    ppl_reference: float
    ppl_candidate: float
    ppl_ratio: float
    kld_mean: float
    kld_p99: float
    top1_agreement: float
    rms_dp: float
    tokens: int
    approximate: bool = False
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ppl_reference": self.ppl_reference, "ppl_candidate": self.ppl_candidate,
            "ppl_ratio": self.ppl_ratio, "kld_mean": self.kld_mean, "kld_p99": self.kld_p99,
            "top1_agreement": self.top1_agreement, "rms_dp": self.rms_dp, "tokens": self.tokens,
        }  # fmt: skip
        if self.approximate:
            out["approximate"] = True
        out.update(self.extra)
        return out

    @classmethod
    def of(
        cls, ppl_reference: float, ppl_candidate: float, kld_mean: float, top1_agreement: float, tokens: int = 0
    ) -> DomainMetrics:
        """The four numbers that matter most (the rest derived or unknown): for evidence written by hand."""
        ratio = ppl_candidate / ppl_reference if ppl_reference else float("inf")
        return cls(ppl_reference, ppl_candidate, ratio, kld_mean, kld_mean, top1_agreement, 0.0, tokens)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainMetrics:
        known = {k for k in cls.__dataclass_fields__ if k != "extra"}
        return cls(**{k: data[k] for k in known if k in data},
                   extra={k: v for k, v in data.items() if k not in known})  # fmt: skip


def summarize(stats: TokenStats, approximate: bool = False) -> DomainMetrics:
    """Aggregate per-token results the way llama-perplexity's final statistics do."""
    n = len(stats)
    if n == 0:
        nan = float("nan")
        return DomainMetrics(nan, nan, nan, nan, nan, nan, nan, 0, approximate)
    mean_ref = float(stats.nll_ref.mean())
    mean_cand = float(stats.nll_cand.mean())
    kld_sorted = np.sort(stats.kld.astype(np.float32))
    dp = stats.p_diff
    return DomainMetrics(
        ppl_reference=math.exp(mean_ref),
        ppl_candidate=math.exp(mean_cand),
        ppl_ratio=math.exp(mean_cand - mean_ref),
        kld_mean=float(stats.kld.mean()),
        kld_p99=percentile(kld_sorted, 0.99),
        top1_agreement=float(stats.same_top.mean()),
        rms_dp=float(np.sqrt((dp * dp).mean())),
        tokens=n,
        approximate=approximate,
        extra={
            "kld_median": percentile(kld_sorted, 0.5),
            "kld_max": float(kld_sorted[-1]),
            "mean_dp": float(dp.mean()),
        },
    )


# --- approximate metrics from top-k log-probs (remote servers) ---


@dataclass
class TopLogprobs:
    """One scored position as an OpenAI-compatible server reports it: strings, not token ids."""

    offset: int  # character offset of the token in the window's text
    token: str
    logprob: float
    top: dict[str, float]


def approximate_stats(ref: list[TopLogprobs], cand: list[TopLogprobs]) -> TokenStats:
    """Per-token stats from two aligned lists of top-k dictionaries.

    PPL, Δp and top-1 agreement are exact (they need only the next token's log-prob and the most
    likely token). KLD is approximate: a reference token missing from the candidate's top-k is
    given the candidate's smallest listed probability (an upper bound on it, so KLD is
    underestimated), and the rest of the mass is treated as one bucket, as for local runs.
    """
    n = len(ref)
    nll_r = np.empty(n)
    nll_c = np.empty(n)
    kld = np.empty(n)
    same = np.empty(n, bool)
    for i, (a, b) in enumerate(zip(ref, cand, strict=True)):
        nll_r[i] = -a.logprob
        nll_c[i] = -b.logprob
        top_a = a.top or {a.token: a.logprob}
        top_b = b.top or {b.token: b.logprob}
        same[i] = max(top_a, key=lambda s: top_a[s]) == max(top_b, key=lambda s: top_b[s])
        floor = min(top_b.values())
        head = 0.0
        p_sum = 0.0
        q_sum = 0.0
        for tok, lp in top_a.items():
            lq = top_b.get(tok, floor)
            p = math.exp(lp)
            head += p * (lp - lq)
            p_sum += p
            q_sum += math.exp(lq)
        p_rest = max(0.0, 1.0 - p_sum)
        q_rest = max(MIN_MASS, 1.0 - q_sum)
        kld[i] = head + (p_rest * (math.log(p_rest) - math.log(q_rest)) if p_rest > MIN_MASS else 0.0)
    p_diff = np.exp(-nll_c) - np.exp(-nll_r)
    return TokenStats(nll_r, nll_c, kld, same, p_diff)
