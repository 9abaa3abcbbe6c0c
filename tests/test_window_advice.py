"""The Advice page and the Model page for a new user (issue 16 items 2 and 7, and the found models' badges)."""

from __future__ import annotations

import pytest
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf
from windowkit import make_window, visible_text, wait_diagnosis, what_if


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def shaped(path, n_layer, n_embd, n_ff, n_head, n_kv, trained):
    md = llama_metadata(n_layer, n_embd, n_ff, n_head, n_kv, n_ctx=trained)
    return write_gguf(path, metadata=md, tensors=llama_tensors(n_layer, n_embd, n_ff, n_head, n_kv, 128256, Q.Q4_K))


def test_advice_names_the_change_within_the_trained_context(qtbot, window, tmp_path):
    # an 8B model trained for 8,192 tokens, asked for 65,536 on an 8 GB card: a smaller context fits, and the
    # largest that fits is the trained one; the options agree with it, and no upgrade is offered
    path = shaped(tmp_path / "8b-8k.gguf", 32, 4096, 14336, 32, 8, 8192)
    window.state.hardware = what_if("GeForce RTX 4060")
    window.state.setup = window.state.setup.of(n_ctx=65536)
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(path)))
    window.show_page("advice")
    page = window.advice_page
    assert "The one change that makes it fit: smaller context: 8192 tokens." in page.answer_text.text()
    assert page.upgrade_box is None and "hardware" not in visible_text(page).lower()
    assert "18944" not in visible_text(page) and "35328" not in visible_text(page)


def test_advice_offers_the_owners_own_kind_of_card_first(qtbot, window, tmp_path):
    path = shaped(tmp_path / "14b.gguf", 40, 5120, 13824, 40, 8, 32768)
    window.state.hardware = what_if("GeForce RTX 4060", ram_gib=1)
    window.state.setup = window.state.setup.of(n_ctx=8192)
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(path)))
    window.show_page("advice")
    page = window.advice_page
    assert page.upgrade_box is not None
    shown = [line for line in visible_text(page.upgrade_box).splitlines() if line]
    first = next(line for line in shown if line.startswith("Smallest GPU"))
    assert "among desktop NVIDIA cards" in first and "Apple" not in first and "Tesla" not in first
    assert shown.index(first) < min(i for i, line in enumerate(shown) if "Apple" in line or "Tesla" in line)


def test_advice_says_still_looking_only_while_the_machine_is_looked_at(qtbot, window, tmp_path):
    # this window detects nothing: once the model is read, nothing is looking at the machine
    path = shaped(tmp_path / "8b.gguf", 32, 4096, 14336, 32, 8, 131072)
    window.show_page("advice")
    wait_diagnosis(qtbot, window, lambda: window.state.open_model(str(path)))
    page = window.advice_page
    assert "still looking" not in page.answer_text.text()
    assert page.answer_text.text() == "Not checked: there is no machine to compare with."
    assert page.answer_icon.toolTip() == "Not checked"
    # the machine becomes known: the old diagnosis is being redone, and then the answer comes
    with qtbot.waitSignal(window.state.diagnosis_changed, timeout=30_000):
        window.state.set_hardware(what_if("GeForce RTX 4090"))
        assert page.answer_text.text() == "Estimating the memory for this machine…"
    qtbot.waitUntil(lambda: not window.state.busy)
    assert page.answer_text.text().startswith("It fits")


def test_not_estimated_memory_is_not_checked_in_the_reports_too(qtbot, tmp_path, capsys):
    from foldermaker import make_folder

    from core.cli.diagnose import _print_text
    from core.diagnosis import diagnose
    from core.model.inspection import inspect_model
    from core.report.diagnosis_report import to_html, to_markdown
    from core.settings.setup import Setup

    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    d = diagnose(inspect_model(folder), Setup.of(), what_if("GeForce RTX 4060"))
    vram = next(f for f in d.findings if f.id == "vram")
    assert vram.title.startswith("Memory not estimated") and d.unchecked and vram in d.unchecked
    assert vram not in d.fine
    md = to_markdown(d)
    fine = md.split("## Checked — fine", 1)[1].split("## Not checked", 1)[0]
    assert "Memory not estimated" not in fine
    assert f"### {vram.rank}. Not checked: Memory not estimated" in md.split("## Not checked", 1)[1]
    html = to_html(d)
    assert '<span class="badge">Not checked</span><strong>' in html
    assert "Fine</span><strong>" + f"{vram.rank}. Memory not estimated" not in html
    _print_text(d)
    out = capsys.readouterr().out
    assert f"[--] {vram.rank}. Memory not estimated" in out and f"[ok] {vram.rank}. Memory" not in out


def test_found_models_show_their_tier_and_whether_they_fit(qtbot, window, tmp_path):
    from pathlib import Path

    from core.model.discovery import FoundModel

    small = shaped(tmp_path / "Llama-8B.gguf", 32, 4096, 14336, 32, 8, 131072)
    big = shaped(tmp_path / "Llama-70B.gguf", 80, 8192, 28672, 64, 8, 131072)
    stub = tmp_path / "broken-Q2_K.gguf"
    stub.write_bytes(b"GGUF" + b"\0" * 20)  # found, but not readable: keeps what its name says
    window.state.hardware = what_if("GeForce RTX 4060")
    window.state.setup = window.state.setup.of(n_ctx=4096)
    window.show_page("model")
    page = window.model_page
    found = [FoundModel(p.name, Path(p), "LM Studio", p.stat().st_size) for p in (small, big, stub)]
    with qtbot.waitSignal(page.badges_ready, timeout=30_000):
        page.set_found(found)
        # the headers are read off the UI thread: the list shows at once, with what the names say
        assert page.found_badges == {} and len(page.found_model.entries) == 3
        assert not any("fit" in e.title for e in page.found_model.entries)
    lines = [e.title.split("\n")[1] for e in page.found_model.entries]
    assert lines[0] == "4.46 GiB · LM Studio · Q4_K_M: medium precision · fits the GeForce RTX 4060", lines[0]
    assert lines[1].endswith("· Q4_K_M: medium precision · does not fit the GeForce RTX 4060"), lines[1]
    assert lines[2].endswith("LM Studio · Q2_K: very low precision"), lines[2]
    assert (
        "needs " in page.found_model.entries[0].detail
        and "4,096 tokens of context" in page.found_model.entries[0].detail
    )
    # another machine: sized again, from the headers already read
    with qtbot.waitSignal(page.badges_ready, timeout=30_000):
        window.machine_page.what_if.setCurrentText("H200")
    lines = [e.title.split("\n")[1] for e in page.found_model.entries]
    assert lines[0].endswith("· fits the H200") and lines[1].endswith("· fits the H200"), lines


def test_memory_legend_labels_are_never_cut(qtbot):
    from gui.widgets import StackedBar

    bar = StackedBar()
    qtbot.addWidget(bar)
    bar.show()
    labels = [
        "the model 4.06 GiB",
        "conversation memory (KV cache) 8.00 GiB",
        "working space 0.25 GiB",
        "runtime 0.75 GiB",
    ]
    bar.set_parts([(label, 1.0, "#888888") for label in labels])
    for width, columns in ((1200, 3), (640, 2), (300, 1)):
        bar.resize(width, bar.minimumHeight())
        assert bar.columns() == columns, width
        widest = max(bar.fontMetrics().horizontalAdvance(label) for label in labels)
        assert widest + 16 <= width // columns  # each label fits its column (swatch and gap included)
        assert bar.minimumHeight() == 34 + 18 * -(-len(labels) // columns)  # room for every row
