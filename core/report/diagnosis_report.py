"""The diagnosis as something to keep or share: self-contained HTML, Markdown, or JSON.

The HTML needs nothing but a browser: styles inline, charts as inline SVG, no scripts, no fonts or
images fetched from anywhere, so it can be mailed or attached to a forum post as one file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import __version__, display_text
from core.checks.finding import CONFIDENCE_WORDS, Finding
from core.checks.tiers import bpw_words
from core.diagnosis import Diagnosis
from core.engines import registry as engines
from core.engines.base import COPY_KIND_WORDS
from core.engines.registry import effective_ctx
from core.errors import ReportError
from core.files import write_text_file
from core.model.naming import friendly_name
from core.model.profile_text import human_bytes, human_count
from core.numbers import plain
from core.palette import LIMIT, MEMORY_PARTS, series
from core.severity import LABELS, NOT_CHECKED, NOT_CHECKED_COLOUR
from core.severity import colour as severity_colour

if TYPE_CHECKING:
    from core.evaluation.compare import Comparison

escape = display_text.html  # every value in the HTML report goes through the one door


def to_json(d: Diagnosis) -> str:
    return json.dumps(d.to_dict(), indent=2, default=str)


# --- Markdown: text from files and servers is escaped, never markup ---------------------------------
#
# core.display_text is the one door for it: `_md` is one line of literal text, `_code` a code span,
# `_sample_block` / `_code_block` fenced blocks that keep their lines (see display_text's Markdown part).

_md = display_text.markdown
_code = display_text.markdown_code


def _sample_block(value: object) -> str:
    """A model's output as a fenced block: its line breaks and indentation kept (code is code)."""
    return display_text.markdown_block(value, info="text")


def _code_block(value: object, indent: str = "") -> str:
    return "\n" + display_text.markdown_block(value, indent)


def to_markdown(d: Diagnosis) -> str:
    m = d.model
    out = [
        f"# Quant Doctor report: {_md(friendly_name(m))}",
        "",
        f"- File: {_code(m.path)} ({human_bytes(m.file_size)}); name in the file: {_md(m.display_name)}",
        f"- Quantization: {_md(m.nominal_type or 'unknown')} nominal, {bpw_words(m)} measured",
        f"- Parameters: {human_count(m.parameters)}; architecture {_md(m.architecture or 'unknown')}",
        f"- Setup: context {effective_ctx(d.setup, m.context_length):,}, cache K {_md(d.setup.run.cache_type_k)} / "
        f"V {_md(d.setup.run.cache_type_v)}, engine {_md(d.setup.engine)}, workload {_md(d.setup.workload)}"
        + (f", expected {_md(d.setup.expected)}" if d.setup.expected else ""),
        *([f"- What went wrong: {_md(_symptom_words(d))}"] if d.symptoms else []),
        # what the app or log said is about another file: said here, before any finding (issue 24)
        *(f"- **{_md(flag)}**" for flag in (getattr(d.engine, "other_model", None), getattr(d.engine, "other_file", None)) if flag),
        "",
        "## What is wrong" if d.problems else "## Nothing found wrong",
        "",
    ]
    if d.headline:
        out[-2:-2] = [f"**{_md(d.headline)}**", ""]
    for f in d.problems:
        out += _markdown_finding(f)
    if d.fine:
        out += ["## Checked — fine", ""]
        for f in d.fine:
            out += _markdown_finding(f)
    if d.unchecked:
        out += ["## Not checked", ""]
        for f in d.unchecked:
            out += _markdown_finding(f)
    c = d.compared
    if c is not None:
        out += ["## Measured side by side", "", *[f"- {_md_text(line)}" for line in _comparison_lines(c)], "",
                "| domain | PPL ref | PPL quant | ratio | mean KLD | same top token |",
                "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for domain, x in c.metrics.items():
            out.append(
                f"| {_md(domain)} | {x.ppl_reference:.3f} | {x.ppl_candidate:.3f} | {x.ppl_ratio:.3f} | "
                f"{x.kld_mean:.4f} | {x.top1_agreement:.1%} |"
            )
        out.append("")
        for smp in c.samples:
            out += [
                f"**{_md(smp.domain)}: {_md(smp.prompt)}**",
                "",
                "Reference:",
                _sample_block(smp.reference),
                "",
                "Quant:",
                _sample_block(smp.candidate),
                "",
            ]
    out += [f"_Made by Quant Doctor {__version__}._", ""]
    return "\n".join(out)


def _copy_kind(step: Any) -> str:
    """What the pasteable block is, in words: "Command", "Modelfile lines", "Settings" (LM Studio)..."""
    kind = step.copy_kind
    if kind is None:
        return ""
    engine = engines.ENGINES.get(step.engine or "")
    return COPY_KIND_WORDS[kind] + (f" ({engine.name})" if engine else "")


def _title(f: Finding) -> str:
    """The title under its label: a not-checked finding's own "Not checked: " is not said twice."""
    return f.title.removeprefix(f"{NOT_CHECKED}: ") if not f.checked else f.title


def _markdown_finding(f: Finding) -> list[str]:
    sure = f" · {_md(CONFIDENCE_WORDS[f.confidence])}" if f.is_problem else ""
    label = NOT_CHECKED if not f.checked else LABELS[f.severity]
    lines = [f"### {f.rank}. {label}: {_md(_title(f))}{sure}", ""]
    lines += [f"- {_md(e)}" for e in f.evidence]
    if f.why:
        lines += ["", f"**Why it matters:** {_md(f.why)}"]
    if f.fix:
        lines += ["", "**Fix:**", ""]
        for step in f.fix:
            block = f"\n   {_md(_copy_kind(step))}:" + _code_block(step.command, "   ") if step.command else ""
            lines.append(f"1. {_md(step.text)}" + block)
    # a plain sub-list, not <details>: the Markdown is also read where HTML blocks are not (the window's preview)
    lines += ["", "_Details (technical):_", ""]
    lines += [f"- {_md(x)}" for x in [*f.details, f"check: {f.id} · confidence: {f.confidence}"]]
    lines += [""]
    return lines


def _svg_stacked_bar(parts: list[tuple[str, float, str]], width: int = 640, height: int = 26) -> str:
    total = sum(v for _, v, _ in parts) or 1.0
    x = 0.0
    rects, legend = [], []
    for i, (label, value, colour) in enumerate(parts):
        w = width * value / total
        rects.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour}"><title>{escape(label)}</title></rect>'
        )
        legend.append(
            f'<rect x="{(i % 4) * 160}" y="{height + 10 + (i // 4) * 18}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{(i % 4) * 160 + 14}" y="{height + 19 + (i // 4) * 18}" font-size="11">{escape(label)}</text>'
        )
        x += w
    full_h = height + 16 + ((len(parts) + 3) // 4) * 18
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{full_h}" role="img" '
        f'viewBox="0 0 {width} {full_h}">{"".join(rects)}{"".join(legend)}</svg>'
    )


def _svg_bars(rows: list[tuple[str, float]], unit: str, width: int = 640, ref: float | None = None) -> str:
    top = max([v for _, v in rows] + [ref or 0.0]) or 1.0
    bar_w = width - 200
    out = []
    for i, (label, value) in enumerate(rows):
        y = i * 24
        out.append(f'<text x="0" y="{y + 15}" font-size="12">{escape(label)}</text>')
        out.append(f'<rect x="120" y="{y + 4}" width="{bar_w * value / top:.1f}" height="14" fill="{series(0)}"/>')
        out.append(f'<text x="{124 + bar_w * value / top:.1f}" y="{y + 15}" font-size="11">{plain(value)}{unit}</text>')
    if ref is not None:
        x = 120 + bar_w * ref / top
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{len(rows) * 24}" stroke="{LIMIT}" stroke-dasharray="3,3"/>'
        )
    h = len(rows) * 24 + 4
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}">{"".join(out)}</svg>'


def _memory_svg(memory: Any) -> str | None:
    data = memory.to_dict() if hasattr(memory, "to_dict") else memory
    if not isinstance(data, dict):
        return None
    devices = data.get("devices") or []
    parts_html = []
    for dev in devices:
        parts = [
            (
                f"weights {human_bytes(dev.get('weights_bytes', 0))}",
                float(dev.get("weights_bytes", 0)),
                MEMORY_PARTS["weights"],
            ),
            (f"KV cache {human_bytes(dev.get('kv_bytes', 0))}", float(dev.get("kv_bytes", 0)), MEMORY_PARTS["kv"]),
            (
                f"compute {human_bytes(dev.get('compute_bytes', 0))}",
                float(dev.get("compute_bytes", 0)),
                MEMORY_PARTS["compute"],
            ),
            (
                f"overhead {human_bytes(dev.get('overhead_bytes', 0))}",
                float(dev.get("overhead_bytes", 0)),
                MEMORY_PARTS["overhead"],
            ),
        ]
        cap = dev.get("available_bytes") or dev.get("capacity_bytes")
        used = sum(p[1] for p in parts)
        if cap and cap > used:
            parts.append((f"free {human_bytes(cap - used)}", float(cap - used), MEMORY_PARTS["unused"]))
        parts_html.append(f"<h3>{escape(str(dev.get('device', 'device')))}</h3>" + _svg_stacked_bar(parts))
    return "".join(parts_html) or None


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:900px;margin:2em auto;padding:0 1em;
color:#212121;background:#fff;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} .sub{color:#616161;margin-top:0}
.finding{border:1px solid #e0e0e0;border-left:6px solid var(--c);border-radius:6px;padding:.6em 1em;margin:.8em 0}
.badge{display:inline-block;background:var(--c);color:#fff;border-radius:4px;padding:0 .5em;font-size:.85em;
font-weight:600;margin-right:.5em} .meta{color:#757575;font-size:.85em}
code,pre{background:#f5f5f5;border-radius:4px;padding:.1em .3em;font-family:ui-monospace,monospace}
pre{padding:.5em .8em;overflow-x:auto} table{border-collapse:collapse} td,th{border:1px solid #e0e0e0;padding:.2em .6em}
details summary{cursor:pointer;font-weight:600}
pre.sample{white-space:pre-wrap;margin:0;padding:.3em .5em;font-size:.9em}
.sure{border:1px solid var(--c);border-radius:9px;padding:0 .6em;font-size:.85em;margin-left:.5em}
"""


def _html_finding(f: Finding) -> str:
    colour = NOT_CHECKED_COLOUR if not f.checked else severity_colour(f.severity)
    label = NOT_CHECKED if not f.checked else LABELS[f.severity]
    steps = "".join(
        f"<li>{escape(s.text)}"
        + (f'<div class="meta">{escape(_copy_kind(s))}</div><pre>{escape(s.command)}</pre>' if s.command else "")
        + "</li>"
        for s in f.fix
    )
    technical = [*f.details, f"check: {f.id} · confidence: {f.confidence}"]
    return (
        f'<div class="finding" style="--c:{colour}"><div><span class="badge">{label}</span>'
        f"<strong>{f.rank}. {escape(_title(f))}</strong>"
        + (f' <span class="sure">{escape(CONFIDENCE_WORDS[f.confidence])}</span>' if f.is_problem else "") + "</div>"
        "<ul>" + "".join(f"<li>{escape(e)}</li>" for e in f.evidence) + "</ul>"
        + (f"<p><em>Why it matters:</em> {escape(f.why)}</p>" if f.why else "")
        + (f"<p><em>Fix:</em></p><ol>{steps}</ol>" if steps else "")
        + '<details><summary>Details</summary><ul class="meta">'
        + "".join(f"<li>{escape(x)}</li>" for x in technical) + "</ul></details>"
        + "</div>"
    )  # fmt: skip


def to_html(d: Diagnosis) -> str:
    m = d.model
    census = _svg_stacked_bar(
        [(f"{t.type} {t.bpw:.2f} bpw", float(t.bytes), series(i)) for i, t in enumerate(m.tensor_types)]
    )
    sections = [
        f"<h1>{escape(friendly_name(m))}</h1>",
        f'<p class="meta">{escape(m.path)} · name in the file: {escape(m.display_name)}</p>',
        f'<p class="sub">{escape(m.nominal_type or "unknown")} · {bpw_words(m)} measured · '
        f"{human_count(m.parameters)} parameters · {escape(m.architecture or 'unknown')} · {human_bytes(m.file_size)}</p>",
        f"<p>Setup: context {effective_ctx(d.setup, m.context_length):,} · KV cache K {escape(d.setup.run.cache_type_k)} / "
        f"V {escape(d.setup.run.cache_type_v)} · {escape(d.setup.engine)} · workload {escape(d.setup.workload)}"
        + (f" · expected {escape(d.setup.expected)}" if d.setup.expected else "")
        + "</p>",
        f"<p>What went wrong: {escape(_symptom_words(d))}</p>" if d.symptoms else "",
        f'<p class="headline"><strong>{escape(d.headline)}</strong></p>' if d.headline else "",
        "<h2>What is wrong</h2>" if d.problems else "<h2>Nothing found wrong</h2>",
        *[_html_finding(f) for f in d.problems],
    ]
    if d.fine:
        sections.append("<details open><summary>Checked — fine</summary>")
        sections += [_html_finding(f) for f in d.fine]
        sections.append("</details>")
    if d.unchecked:
        sections.append("<details open><summary>Not checked</summary>")
        sections += [_html_finding(f) for f in d.unchecked]
        sections.append("</details>")
    sections += ["<h2>Where the bits are</h2>", "<p>Share of the file's bytes by storage type:</p>", census]
    mem = _memory_svg(d.memory) if d.memory is not None else None
    if mem:
        sections += ["<h2>Memory</h2>", mem]
    c = d.compared
    if c is not None and c.metrics:
        sections += [
            "<h2>Measured side by side</h2>",
            "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in _comparison_lines(c)) + "</ul>",
            "<p>Perplexity ratio, quant ÷ reference (the red line is 1.01: above it the loss is meaningful):</p>",
            _svg_bars([(dom, float(x.ppl_ratio)) for dom, x in c.metrics.items()], "×", ref=1.01),
            "<p>Mean KL divergence from the reference:</p>",
            _svg_bars([(dom, float(x.kld_mean)) for dom, x in c.metrics.items()], ""),
        ]
    samples = c.samples if c is not None else []
    if samples:
        sections.append(
            "<h2>The two outputs, side by side</h2><table><tr><th>prompt</th><th>reference</th><th>quant</th></tr>"
        )
        for smp in samples:
            cut = smp.first_divergence_char
            cand = str(smp.candidate)
            marked = escape(cand) if cut is None else escape(cand[:cut]) + f"<mark>{escape(cand[cut:])}</mark>"
            sections.append(  # <pre class="sample">: the outputs' line breaks and indentation are kept
                f"<tr><td>{escape(str(smp.domain))}: {escape(str(smp.prompt)[:200])}</td>"
                f"<td><pre class='sample'>{escape(str(smp.reference))}</pre></td>"
                f"<td><pre class='sample'>{marked}</pre></td></tr>"
            )
        sections.append("</table><p class='meta'>Highlighted: where the quant's text parts from the reference's.</p>")
    if d.notes:
        sections.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in d.notes) + "</ul>")
    sections.append(f'<p class="meta">Made by Quant Doctor {__version__}.</p>')
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Quant Doctor: {escape(friendly_name(m))}</title><style>{_CSS}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )


FORMATS = {".html": to_html, ".htm": to_html, ".md": to_markdown, ".json": to_json}


def write_diagnosis_report(d: Diagnosis, path: str | Path) -> Path:
    """Write the report in the format its name asks for (.html, .md, .json; no suffix: .html added)."""
    p = Path(path)
    if not p.suffix:
        p = p.with_suffix(".html")
    render = FORMATS.get(p.suffix.lower())
    if render is None:
        raise ReportError(
            f"Quant Doctor writes reports as .html, .md or .json, not {p.suffix}.",
            f"Name the report {p.with_suffix('.html').name}, {p.with_suffix('.md').name} or {p.with_suffix('.json').name}.",
        )
    return write_text_file(p, render(d), "the report", ReportError)


def _comparison_lines(c: Comparison) -> list[str]:
    """Each domain's verdict in words and human numbers ("general: noticeable loss — perplexity 10.2 → 12.1")."""
    from core.evaluation.compare import domain_line
    from core.evaluation.comparison_text import cut_short_lines, typical_findings, verdict_lines

    return [
        *verdict_lines(c),
        *(domain_line(dom, m, c.verdict(dom)) for dom, m in c.metrics.items()),
        *typical_findings(c),
        *cut_short_lines(c),
    ]


def _symptom_words(d: Diagnosis) -> str:
    """What the person said went wrong, in their words (the start page's choices)."""
    from core.settings.symptoms import symptoms

    known = symptoms()
    return "; ".join(known[s].words for s in d.symptoms if s in known)


def _md_text(text: str) -> str:
    """Plain text in Markdown: characters that would become markup are escaped."""
    return display_text.markdown(text)
