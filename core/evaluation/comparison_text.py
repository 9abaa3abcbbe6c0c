"""Plain words for a comparison: a verdict and a text summary for the CLI, the window and the report.

The CLI summary, the window's verdict line and both reports all word the overall verdict here
(`verdict_lines`), so they cannot disagree.

The words come from the published reference table (core.evaluation.verdicts, resources/verdicts.json);
the numbers are worded by core.numbers ("perplexity 38.9 → 2.2 million, about 57,000 times worse").
The raw figures stay in the JSON and in the details table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.display_text import one_line
from core.evaluation.verdicts import typical_sentence
from core.numbers import percent, perplexity_change, plain

if TYPE_CHECKING:
    from core.evaluation.compare import Comparison


def verdict_lines(c: Comparison) -> list[str]:
    """The overall verdict in words, then one line for each domain that reads worse than it.

    The overall verdict is the one most of the scored tokens get (core.evaluation.verdicts.overall);
    a domain that reads worse is never hidden: it gets its own line with its numbers.
    """
    whole = c.overall()
    if whole is None:
        return ["No measurements were taken (see the notes); compare the sample outputs."]
    v = whole.verdict
    subject = "With these settings, against an f16 cache" if c.what == "settings" else "Against the reference"
    level = v.words
    if v.band == "damaged":
        level += ": its predictions have little in common with the reference's"
    if len(c.metrics) == 1:
        domain = next(iter(c.metrics))
        return [f"{subject}: {level} ({domain}: {_numbers(c, domain)})."]
    if not whole.worse and len(whole.domains) == len(c.metrics):
        worst = max(whole.domains, key=lambda d: c.metrics[d].kld_mean)
        lines = [f"{subject}: {level} on every domain (the weakest, {worst}: {_numbers(c, worst)})."]
    else:
        lines = [f"{subject}: {level} on most of the text ({_joined(whole.domains)}: "
                 f"{percent(whole.share)} of the scored tokens)."]  # fmt: skip
    lines += [f"Worse on {d}: {w.words} ({_numbers(c, d)})." for d, w in whole.worse]
    return lines


def verdict(c: Comparison) -> str:
    """The overall verdict and the domains that read worse, one a line (see verdict_lines)."""
    return "\n".join(verdict_lines(c))


def _numbers(c: Comparison, domain: str) -> str:
    m = c.metrics[domain]
    return (
        f"{perplexity_change(m.ppl_reference, m.ppl_candidate)}, the same top token {percent(m.top1_agreement)} of "
        f"the time, mean KL divergence {plain(m.kld_mean)}"
    )


def _joined(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


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


def cut_short_lines(c: Comparison) -> list[str]:
    """Which domains were cut short once the verdict was certain, and on how many tokens each verdict rests.

    Empty when every domain was scored to the end. The numbers shown for a domain cut short are
    llama-perplexity's for the tokens it scored; nothing is extrapolated to the rest.
    """
    short = c.cut_short()
    if not short:
        return []
    lines = ["Stopped early once the verdict was certain (measure everything with --full, or "
             "\"Measure everything\" in the window):"]  # fmt: skip
    for d, s in short.items():
        planned, tokens = s.get("planned_tokens"), s.get("tokens") or 0
        whole = f" of {planned:,}" if isinstance(planned, int) else ""
        if not tokens:
            lines.append(f"{d}: not measured; the overall verdict was certain without it ({planned or 0:,} tokens).")
        elif s.get("final"):
            lines.append(f"{d}: cut short; its verdict is certain after {tokens:,}{whole} tokens.")
        else:
            lines.append(f"{d}: cut short after {tokens:,}{whole} tokens, its own verdict not yet certain; the "
                         "overall verdict was.")  # fmt: skip
    return lines


def text_summary(c: Comparison) -> str:
    from core.evaluation.compare import domain_line

    lines = [f"Reference: {c.reference}", f"Candidate: {c.candidate}", "", *verdict_lines(c), ""]
    lines += [f"  {domain_line(d, m, c.verdict(d))}" for d, m in c.metrics.items()]
    early = cut_short_lines(c)
    if early:
        lines += ["", early[0], *(f"  {x}" for x in early[1:])]
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
    return "\n".join(one_line(line) for line in lines).rstrip() + "\n"  # a value's newline starts no line


def _short(text: str, limit: int = 600) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
