"""Plain words for a comparison: a verdict and a text summary for the CLI, the window and the report.

The words come from the published reference table (core.evaluation.verdicts, resources/verdicts.json);
the numbers are worded by core.numbers ("perplexity 38.9 → 2.2 million, about 57,000 times worse").
The raw figures stay in the JSON and in the details table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.evaluation.verdicts import typical_sentence
from core.numbers import percent, perplexity_change, plain

if TYPE_CHECKING:
    from core.evaluation.compare import Comparison


def verdict(c: Comparison) -> str:
    """One sentence: the worst domain's verdict, in words and human numbers."""
    worst = c.overall()
    if worst is None:
        return "No measurements were taken (see the notes); compare the sample outputs."
    domain, v = worst
    m = c.metrics[domain]
    subject = "With these settings, against an f16 cache" if c.what == "settings" else "Against the reference"
    level = v.words
    if v.band == "damaged":
        level += ": its predictions have little in common with the reference's"
    where = f"worst on {domain}" if len(c.metrics) > 1 else domain
    return (
        f"{subject}: {level} ({where}: {perplexity_change(m.ppl_reference, m.ppl_candidate)}, the same top token "
        f"{percent(m.top1_agreement)} of the time, mean KL divergence {plain(m.kld_mean)})."
    )


def typical_findings(c: Comparison) -> list[str]:
    """ "For a file labelled Q4_K_M this loss is 12× what is typical" lines, where it is far above typical."""
    out = []
    for d in c.metrics:
        n = c.times_typical(d)
        if n is not None and c.candidate_type:
            out.append(
                f"For a file labelled {c.candidate_type} this loss ({d}) is {n:.0f}× what is typical. "
                f"{typical_sentence(c.candidate_type)}. A broken conversion or upload looks like this: try another "
                f"uploader's {c.candidate_type} of the same model."
            )
    return out


def text_summary(c: Comparison) -> str:
    from core.evaluation.compare import domain_line

    lines = [f"Reference: {c.reference}", f"Candidate: {c.candidate}", "", verdict(c), ""]
    lines += [f"  {domain_line(d, m, c.verdict(d))}" for d, m in c.metrics.items()]
    found = typical_findings(c)
    if found:
        lines += ["", *found]
    if c.metrics:
        approx = "  (approximate: a server was involved)" if c.approximate else ""
        lines += ["", "Details:"]
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
