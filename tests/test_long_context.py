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
               "--ctx", "640", *SMALL])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert data["eval_settings"]["long_chunk"] == 640
    (chunks,) = {data["metrics"]["long"]["tokens"] // (640 - 1 - 320)}  # whole chunks of 640, second halves scored
    assert chunks >= 1 and data["metrics"]["long"]["tokens"] == chunks * 319
    assert not any("Long context" in n for n in data["notes"])


def test_a_context_too_long_for_this_machine_is_capped_and_said(cache, capsys, monkeypatch):
    monkeypatch.setattr("psutil.virtual_memory", lambda: SimpleNamespace(available=480 * 2**20))
    want, _why = scoring_context(str(cache.reference), 1 << 20, available=480 * 2**20)
    assert 256 <= want < 4096  # what fits in half of 480 MiB beside the model
    rc = main(["compare", "--reference", str(cache.reference), "--candidate-cache-type", "q8_0", "--ctx", "16384",
               "--max-chunks", "1", *SMALL])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["eval_settings"]["long_chunk"] == want
    assert data["metrics"]["long"]["tokens"] == want - 1 - want // 2
    (note,) = [n for n in data["notes"] if n.startswith("Long context: ")]
    assert f"Scored at {want:,} tokens of context, not your 16,384" in note and "free memory" in note


def test_the_cap_is_the_larger_models_and_even(demo):
    big, small = str(demo.reference), str(demo.candidates["Q2_0"])
    assert long_chunk([big, small], 16384, available=64 * 2**30) == (16384, None)
    assert long_chunk([big], 1001, available=64 * 2**30) == (1000, None)
    alone, _ = long_chunk([small], 16384, available=480 * 2**20)
    both, why = long_chunk([small, big], 16384, available=480 * 2**20)
    assert both <= alone and both % 2 == 0 and why is not None and "16,384" in why
