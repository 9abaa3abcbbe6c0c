"""A small self-contained HTML page of one comparison (no scripts, no external files).

Kept apart from everything else so the shared report module (diagnosis issue) can absorb it: it
reads only `Comparison.to_dict()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import display_text
from core.errors import ReportError
from core.evaluation.compare import Comparison
from core.evaluation.comparison_text import cut_short_lines, typical_findings, verdict_lines
from core.files import write_text_file
from core.numbers import plain

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2430;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d8dde6;padding:.35rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}
.bad{color:#b3261e;font-weight:600}.ok{color:#1e6b35}.note{color:#5b6472;font-size:.9rem}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.pair pre{white-space:pre-wrap;background:#f5f7fa;
padding:.6rem;border-radius:6px;margin:0;font-size:.9rem}.split{background:#ffd8d2}.from{text-decoration:underline}
"""


def _e(value: Any) -> str:
    return display_text.html(value)  # the one door for text from files and servers


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return plain(value, digits)  # "2.8 million", never "2.769e+06"
    return _e(value)


def _domain_lines(comparison: Comparison) -> list[str]:
    from core.evaluation.compare import domain_line

    lines = [domain_line(d, m, comparison.verdict(d)) for d, m in comparison.metrics.items()]
    return lines + typical_findings(comparison) + cut_short_lines(comparison)


def render(comparison: Comparison) -> str:
    d = comparison.to_dict()
    rows = []
    for domain, m in d["metrics"].items():
        bad = m["ppl_ratio"] > 1.01
        rows.append(
            f"<tr><td>{_e(domain)}</td><td>{_fmt(m['ppl_reference'])}</td><td>{_fmt(m['ppl_candidate'])}</td>"
            f"<td class='{'bad' if bad else 'ok'}'>{m['ppl_ratio']:.4f}</td><td>{m['kld_mean']:.4f}</td>"
            f"<td>{m['kld_p99']:.4f}</td><td>{100 * m['top1_agreement']:.1f}%</td><td>{100 * m['rms_dp']:.2f}%</td>"
            f"<td>{m['tokens']}</td></tr>"
        )
    samples = []
    for s in d["samples"]:
        cut = s["first_divergence_char"]
        ref_html = _mark(s["reference"], cut, yours=False)
        cand_html = _mark(s["candidate"], cut)
        where = "identical" if cut is None else f"they part at token {s['first_divergence']}"
        samples.append(
            f"<h3>{_e(s['domain'])}: {_e(s['prompt_id'])} <span class='note'>({where})</span></h3>"
            f"<p class='note'>{_e(s['prompt'][:600])}</p><div class='pair'><div><b>Reference</b>"
            f"<pre>{ref_html}</pre></div><div><b>Candidate</b><pre>{cand_html}</pre></div></div>"
        )
    notes = "".join(f"<li>{_e(n)}</li>" for n in d["notes"])
    approx = " (approximate: a server was involved)" if d["approximate"] else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Quant Doctor comparison</title><style>{_CSS}</style></head>
<body><h1>Quant Doctor: side-by-side comparison</h1>
<p><b>Reference:</b> {_e(d["reference"])}<br><b>Candidate:</b> {_e(d["candidate"])}</p>
<p>{"<br>".join(_e(line) for line in verdict_lines(comparison))}</p>
<ul>{"".join(f"<li>{_e(line)}</li>" for line in _domain_lines(comparison))}</ul>
<h2>Measurements{approx}</h2>
<table><tr><th>Domain</th><th>PPL reference</th><th>PPL candidate</th><th>PPL ratio</th><th>Mean KLD</th>
<th>KLD 99%</th><th>Same top token</th><th>RMS Δp</th><th>Tokens</th></tr>{"".join(rows)}</table>
<p class="note">As llama.cpp's llama-perplexity --kl-divergence measures them. A PPL increase over 1% is meaningful.</p>
<h2>Sample outputs (greedy)</h2>{"".join(samples) or "<p class='note'>No samples.</p>"}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
</body></html>
"""


def _mark(text: str, cut: int | None, yours: bool = True) -> str:
    """Where the texts part: the candidate's continuation highlighted, the reference's only underlined
    (it is what the candidate is measured against, even when they differ from the first character)."""
    if cut is None or cut >= len(text):
        return _e(text)
    return f"{_e(text[:cut])}<span class='{'split' if yours else 'from'}'>{_e(text[cut:])}</span>"


def write_comparison_report(comparison: Comparison, path: Path) -> Path:
    return write_text_file(path, render(comparison), "the report", ReportError)
