"""Reports: self-contained HTML that a browser shows as a readable page, Markdown and JSON."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from core.cli.main import main
from core.diagnosis import diagnose
from core.evaluation.compare import Comparison
from core.evaluation.metrics import DomainMetrics
from core.evaluation.samples import Sample
from core.model.inspection import inspect_model
from core.report.diagnosis_report import to_html, to_markdown
from core.settings.setup import Setup

# What a comparison of the Q2_0 file against its f16 reference hands the diagnosis: one Comparison,
# the same object the checks read their measurements from and the report shows.
COMPARISON = Comparison(
    "demo-f16.gguf", "demo-Q2_0.gguf", "quant",
    {"prose": DomainMetrics(12.0, 19.5, 1.625, 0.61, 4.0, 0.55, 0.3, 512),
     "code": DomainMetrics(3.0, 4.1, 1.367, 0.44, 3.0, 0.62, 0.25, 512)},
    [Sample("general", "rain", "Explain rain.", "Rain falls from clouds.", "Rain falls sideways forever <b>", 3, 11)],
)  # fmt: skip


@pytest.fixture
def demo_diagnosis(demo):
    p = inspect_model(demo.candidates["Q2_0"])
    return diagnose(
        p, Setup.of(ctx=8192, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True), comparison=COMPARISON
    )


def test_html_is_self_contained(demo_diagnosis):
    html = to_html(demo_diagnosis)
    assert html.startswith("<!DOCTYPE html>")
    assert "<svg" in html and "Q2_0 2.25 bpw" in html
    assert "The quantization is too aggressive" in html
    assert "-ctk q8_0 -ctv q8_0 -fa on</pre>" in html and "Command (llama.cpp)" in html  # the whole command, as data
    # nothing fetched from anywhere: no external scripts, stylesheets, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html and "@import" not in html and "url(" not in html
    # the two outputs side by side, the divergence marked, the text escaped
    assert "Rain falls <mark>sideways forever &lt;b&gt;</mark>" in html


def test_markdown_and_json(demo_diagnosis, tmp_path, demo, capsys):
    md = to_markdown(demo_diagnosis)
    assert md.startswith("# Quant Doctor report") and "### 1. Critical:" in md and "| prose | 12.000 |" in md
    assert "Quant:\n~~~text\nRain falls sideways forever <b>\n~~~" in md  # literal in a fenced block
    out = tmp_path / "r.json"
    assert main(["diagnose", str(demo.candidates["Q2_0"]), "--report", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["findings"][0]["id"] == "quant-tier"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is installed by `make test`'s set-up")
def test_html_report_renders_in_headless_chromium(demo, tmp_path, qapp):
    from PySide6.QtGui import QImage

    report = tmp_path / "report.html"
    assert main(["diagnose", str(demo.candidates["Q2_0"]), "-c", "8192", "-ctk", "q4_0", "-ctv", "q4_0", "-fa",
                 "--report", str(report)]) == 0  # fmt: skip
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1000,1400",
         report.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    img = QImage(str(shot))
    assert not img.isNull() and img.width() == 1000
    colours = {img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
    assert len(colours) > 20, "the screenshot is blank"
    # the red 'Critical' badge colour appears: the findings really rendered
    reds = sum(1 for c in colours if (c >> 16 & 0xFF) > 180 and (c >> 8 & 0xFF) < 80 and (c & 0xFF) < 80)
    assert reds > 0


def test_the_measurements_read_in_words(demo):
    p = inspect_model(demo.candidates["Q2_0"])
    d = diagnose(p, Setup(), comparison=COMPARISON)
    md, page = to_markdown(d), to_html(d)
    assert "prose: heavy loss — perplexity 12 → 19.5 \\(62% higher\\)" in md
    assert "code: heavy loss — perplexity 3 → 4.1 (37% higher)" in page
    assert "Against the reference: heavy loss on every domain (the weakest, prose: perplexity 12" in page


def test_a_saved_comparison_is_read_back_as_the_one_comparison(demo, tmp_path):
    """`compare --json` saved to a file comes back as the Comparison (core.checks.measurements.load_comparison):
    the checks, the report and the JSON read it as they read the one the window holds."""
    from core.checks.measurements import load_comparison
    from core.errors import SetupError

    saved = tmp_path / "compare.json"
    saved.write_text(json.dumps(COMPARISON.to_dict()))
    loaded = load_comparison(str(saved))
    assert isinstance(loaded, Comparison) and loaded.metrics == COMPARISON.metrics
    assert loaded.samples == COMPARISON.samples
    p = inspect_model(demo.candidates["Q2_0"])
    held, read = diagnose(p, Setup(), comparison=COMPARISON), diagnose(p, Setup(), comparison=loaded)
    assert to_markdown(read) == to_markdown(held)
    assert read.to_dict()["comparison"] == COMPARISON.to_dict()  # the JSON keeps the comparison's own keys
    quant = next(f for f in read.findings if f.id == "quant-tier")
    assert quant.confidence == "confirmed-by-measurement"  # the checks read the same comparison the report shows
    bad = tmp_path / "not-a-comparison.json"
    bad.write_text('{"metrics": {}}')
    with pytest.raises(SetupError, match="is not a comparison saved by") as err:
        load_comparison(str(bad))
    assert "--json" in err.value.fix
