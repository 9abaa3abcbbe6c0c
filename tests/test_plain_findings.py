"""Plain words first, the technical line under "Details" (issue 16 item 9).

Every finding's headline, evidence, why and fix text, for the demo model, a base model and a model of
a 70B's shape, is scanned for jargon: raw GGUF keys, backend device names, snake_case ids, "e+0"
numbers, internal labels. The technical lines stay, in `Finding.details`, for experts and bug reports.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel
from windowkit import base_model, shaped_gguf, what_if

from core.checks.finding import CONFIDENCE_WORDS, Finding
from core.diagnosis import diagnose
from core.model.inspection import inspect_model
from core.model.naming import friendly_name
from core.report.diagnosis_report import to_html, to_markdown
from core.settings.setup import Setup

JARGON = {
    "a raw metadata key": re.compile(r"\b[a-z][a-z0-9]*\.[a-z_]+(?:\.[a-z_*]+)*\b"),
    "a backend device name": re.compile(r"\b(?:CUDA|Metal|Vulkan|ROCm|SYCL)\d+\b|\bhost\b"),
    "a snake_case id": re.compile(r"\b[a-z]+_[a-z_]+\b"),
    "a number in e-notation": re.compile(r"\d(?:\.\d+)?e[+-]\d"),
    "an internal label": re.compile(r"confirmed-by-measurement|-class\b|IQ1/IQ2|\b0%"),
}
ALLOWED = ("llama.cpp", "e.g.", "template.jinja", "config.yml")  # names people use themselves
SPECIAL_TOKEN = re.compile(r"<\|[^|]*\|>|</?[a-z_]+>")  # <|im_end|>, <think>: what the model itself writes


def jargon(text: str) -> list[str]:
    for word in ALLOWED:
        text = text.replace(word, "")
    text = SPECIAL_TOKEN.sub("", text)
    return [f"{what}: {m.group(0)!r}" for what, rx in JARGON.items() if (m := rx.search(text))]


@pytest.fixture(scope="module")
def models(demo, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("plain")
    return {
        "demo": demo.reference,
        "demo Q2_0": demo.candidates["Q2_0"],
        "base": base_model(tmp / "Llama-3.1-8B.Q5_K_M.gguf"),
        "70B": shaped_gguf(tmp / "Llama-3.1-70B-Instruct-Q4_K_M.gguf", 80, 8192, 28672, 64, 8,
                           name="Llama 3.1 70B Instruct", basename="Llama-3.1", size_label="70B"),
    }  # fmt: skip


SETUPS = [
    Setup(),
    Setup.of(ctx=32768, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=False),
    Setup.of(engine="ollama", workload="long-documents"),
]


@pytest.mark.parametrize("which", ["demo", "demo Q2_0", "base", "70B"])
def test_every_finding_speaks_plainly(models, which):
    found: list[str] = []
    for setup in SETUPS:
        d = diagnose(inspect_model(models[which]), setup, what_if("NVIDIA GeForce RTX 4060"))
        for f in d.findings:
            texts = [f.title, f.why, *f.evidence, *(s.text for s in f.fix)]
            if f.id == "vram":  # the upgrade's arithmetic lines belong to the memory advice (issue 16 item 2)
                texts = [f.title, f.why, *f.evidence]
            found += [f"{f.id}: {hit} in {t[:90]!r}" for t in texts for hit in jargon(t)]
    assert found == []


def test_the_technical_lines_stay_under_details(models):
    d = diagnose(inspect_model(models["demo Q2_0"]), Setup(), what_if("NVIDIA GeForce RTX 4060"))
    quant = next(f for f in d.findings if f.id == "quant-tier")
    assert "nominal type Q2_0 (general.file_type)" in quant.details
    assert any("IQ1/IQ2/Q2-class" in x for x in quant.details)
    assert any("very low precision" in e and "2.25 bits" in e for e in quant.evidence)
    vram = next(f for f in d.findings if f.id == "vram")
    assert any(x.startswith("CUDA0 (") for x in vram.details) and any(x.startswith("host:") for x in vram.details)
    assert any(e.startswith("graphics card 1 (") for e in vram.evidence)
    assert any(e.startswith("main memory (RAM)") for e in vram.evidence)
    html = to_html(d)
    assert "<summary>Details</summary>" in html and "nominal type Q2_0 (general.file_type)" in html
    md = to_markdown(d)
    assert "_Details (technical):_\n\n- nominal type Q2\\_0 \\(general.file\\_type\\)" in md and "<details>" not in md


def test_the_architecture_text_is_about_this_model(models):
    small = next(f for f in diagnose(inspect_model(models["demo"]), Setup()).findings if f.id == "architecture")
    assert "135M-parameter" in small.why and "70B" not in small.why and "235B" not in small.why
    big = next(f for f in diagnose(inspect_model(models["70B"]), Setup()).findings if f.id == "architecture")
    assert "71B-parameter model is dense" in big.why and "235B" not in big.why


def test_the_demo_has_a_readable_title(models):
    p = inspect_model(models["demo"])
    assert p.name == "Smollm2 135M 8k Lc100K Mix1 Ep2"  # the raw name in the file
    assert friendly_name(p) == "SmolLM2-135M-Instruct"
    d = diagnose(p, Setup())
    html = to_html(d)
    assert "<h1>SmolLM2-135M-Instruct</h1>" in html and "name in the file: Smollm2 135M 8k Lc100K Mix1 Ep2" in html


def test_confirmed_by_measurement_is_a_visible_badge(qtbot):
    from gui.widgets import FindingCard

    f = Finding(id="quant-tier", severity="critical", title="t", confidence="confirmed-by-measurement",
                details=["nominal type Q2_0 (general.file_type)"])  # fmt: skip
    card = FindingCard(f, expanded=True)
    qtbot.addWidget(card)
    card.show()
    assert card.badge.text() == CONFIDENCE_WORDS[f.confidence] == "Confirmed by measurement"
    assert card.badge.isVisible() and card.badge.isEnabled() and "border" in card.badge.styleSheet()
    shown = [lab.text() for lab in card.findChildren(QLabel) if lab.isVisible()]
    assert not any("confirmed-by-measurement" in t or "general.file_type" in t for t in shown)
    card.details_toggle.setChecked(True)
    assert card.details.isVisible() and "general.file_type" in card.details.text()
    assert "confirmed-by-measurement" in card.details.text()  # for bug reports
