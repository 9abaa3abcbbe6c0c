"""The long-context domain is scored at the person's context (-c), capped by this machine's memory and said so."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from core.cli.main import main
from core.evaluation.long_context import long_chunk, scoring_context
from core.paths import CACHE_ENV

SMALL = ["--domains", "long", "--samples", "0", "--threads", "2", "--quiet", "--json"]


@pytest.fixture
def cache(demo, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "eval-cache"))
    return demo


def test_compare_long_context_scores_at_your_context_not_4096(cache, capsys):
    rc = main(["compare", "--reference", str(cache.reference), "--candidate-cache-type", "q4_0", "-fa", "on",
               "--ctx", "384", "--max-chunks", "1", *SMALL])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert data["eval_settings"]["long_chunk"] == 384  # was 4096 whatever -c said
    assert data["metrics"]["long"]["tokens"] == 384 - 1 - 192  # one chunk of 384: its second half scored
    assert not any("Long context" in n for n in data["notes"])


def test_a_context_too_long_for_this_machine_is_capped_and_said(demo, monkeypatch):
    from core.evaluation.compare import EvalSettings, RunSettings, _at_their_context, _Plan, make_engine

    free = 360 * 2**20
    monkeypatch.setattr("psutil.virtual_memory", lambda: SimpleNamespace(available=free))
    want, _why = scoring_context(str(demo.reference), 1 << 20, available=free)
    assert 256 <= want <= 768  # what fits in half of 360 MiB beside the model
    theirs = RunSettings(n_ctx=16384)
    ref, cand = (make_engine(str(demo.reference), theirs, r) for r in ("reference", "candidate"))
    plan = _Plan([], {"long": "a long document"}, [])
    ev = _at_their_context(EvalSettings(), ref, cand, theirs.n_ctx, plan)
    assert ev.long_chunk == want
    (note,) = plan.notes
    assert (
        note.startswith(f"Long context: Scored at {want:,} tokens of context, not your 16,384")
        and "free memory" in note
    )
    plan = _Plan([], {"long": "a long document"}, [])
    assert _at_their_context(EvalSettings(), ref, cand, 300, plan).long_chunk == 300 and not plan.notes  # it fits


def test_the_cap_is_the_larger_models_and_even(demo):
    big, small = str(demo.reference), str(demo.candidates["Q2_0"])
    assert long_chunk([big, small], 16384, available=64 * 2**30) == (16384, None)
    assert long_chunk([big], 1001, available=64 * 2**30) == (1000, None)
    alone, _ = long_chunk([small], 16384, available=480 * 2**20)
    both, why = long_chunk([small, big], 16384, available=480 * 2**20)
    assert both <= alone and both % 2 == 0 and why is not None and "16,384" in why


def test_the_windows_comparison_asks_for_the_long_document_at_your_context(qtbot, demo, monkeypatch):
    """The window's quick comparison runs at most 4,096 tokens of context; the long document still gets theirs."""
    from core.model.inspection import inspect_model
    from core.settings.setup import Setup
    from gui.pages import compare_page
    from gui.state import AppState

    asked = {}
    monkeypatch.setattr(compare_page, "compare", lambda *a, **kw: asked.update(kw, args=a) or iter(()))
    state = AppState()
    state.session.set_profile(inspect_model(demo.candidates["Q4_0"]))
    state.session.set_setup(Setup.of(ctx=16384, cache_type_k="q4_0", cache_type_v="q4_0", flash_attn=True))
    page = compare_page.ComparePage(state)
    qtbot.addWidget(page)
    page.mode_file.setChecked(True)
    page.reference_path.setText(str(demo.reference))
    page.long_context.setChecked(True)
    assert page.job() is not None
    assert asked["long_context"] and asked["long_context_ctx"] == 16384
    assert asked["args"][3].n_ctx == 4096  # the quick comparison's own context stays short
