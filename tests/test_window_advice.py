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
