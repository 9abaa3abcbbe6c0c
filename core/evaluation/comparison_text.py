"""Plain words for a comparison: a one-line verdict and a text summary for the CLI.

Thresholds follow the design's domain knowledge: a PPL increase over 1% is meaningful; mean KLD
below ~0.01 is near-lossless (Q8_0 territory), above ~0.1 clearly degraded, above 1 broken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.evaluation.compare import Comparison

PPL_MEANINGFUL = 1.01
KLD_NEAR_LOSSLESS = 0.01
KLD_DEGRADED = 0.1
KLD_BROKEN = 1.0


def verdict(c: Comparison) -> str:
    if not c.metrics:
        return "No measurements were taken (see the notes); compare the sample outputs."
    worst_domain, worst = max(c.metrics.items(), key=lambda kv: kv[1].kld_mean)
    ratio = max(m.ppl_ratio for m in c.metrics.values())
    if worst.kld_mean >= KLD_BROKEN:
        level = "badly damaged: its predictions have little in common with the reference's"
    elif worst.kld_mean >= KLD_DEGRADED or ratio > 1.05:
        level = "clearly degraded"
    elif ratio > PPL_MEANINGFUL or worst.kld_mean >= KLD_NEAR_LOSSLESS:
        level = "measurably worse, though usable for most work"
    else:
        level = "practically the same as the reference"
    subject = "With these settings the model is" if c.what == "settings" else "The candidate is"
    return (
        f"{subject} {level} (worst domain: {worst_domain}, perplexity ×{worst.ppl_ratio:.3f}, mean KLD "
        f"{worst.kld_mean:.4f}, same top token {100 * worst.top1_agreement:.1f}% of the time)."
    )


def text_summary(c: Comparison) -> str:
    lines = [f"Reference: {c.reference}", f"Candidate: {c.candidate}", "", verdict(c), ""]
    if c.metrics:
        approx = "  (approximate: a server was involved)" if c.approximate else ""
        lines.append(f"{'domain':<13} {'PPL ref':>9} {'PPL cand':>11} {'ratio':>8} {'KLD':>8} {'KLD p99':>8} "
                     f"{'same top':>8} {'RMS Δp':>7} {'tokens':>7}{approx}")  # fmt: skip
        for dom, m in c.metrics.items():
            lines.append(
                f"{dom:<13} {m.ppl_reference:>9.3f} {m.ppl_candidate:>11.3f} {m.ppl_ratio:>8.4f} {m.kld_mean:>8.4f} "
                f"{m.kld_p99:>8.4f} {100 * m.top1_agreement:>7.1f}% {100 * m.rms_dp:>6.2f}% {m.tokens:>7}"
            )
        lines.append("")
    for s in c.samples:
        where = "identical" if s.first_divergence is None else f"they part at token {s.first_divergence}"
        lines += [f"--- {s.domain}: {s.prompt_id} ({where})", f"Prompt:    {_short(s.prompt, 300)}",
                  f"Reference: {_short(s.reference)}", f"Candidate: {_short(s.candidate)}", ""]  # fmt: skip
    for note in c.notes:
        lines.append(f"Note: {note}")
    return "\n".join(lines).rstrip() + "\n"


def _short(text: str, limit: int = 600) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
