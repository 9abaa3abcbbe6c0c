"""`quantdoctor-cli compare`: JSON on stdout, an HTML report, plain errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from core.cli.main import main
from core.paths import CACHE_ENV

SMALL = ["--domains", "general", "--chunk", "128", "--max-chunks", "2", "--sample-tokens", "12", "--threads", "2",
         "--ctx", "512", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def cache(demo, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("eval-cache")))
        yield demo


def test_compare_json_shows_the_damage_in_numbers_and_texts(cache, capsys, tmp_path):
    report = tmp_path / "report.html"
    rc = main(["compare", "--reference", str(cache.reference), "--candidate", str(cache.candidates["Q2_0"]),
               *SMALL, "--json", "--report", str(report), "--full"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    data = json.loads(out)
    (sample,) = data["samples"]
    assert {"domain", "prompt", "reference", "candidate", "first_divergence"} <= set(sample)
    assert sample["domain"] == "general" and sample["reference"] != sample["candidate"]
    assert isinstance(sample["first_divergence"], int)
    m = data["metrics"]["general"]
    for key in ("ppl_reference", "ppl_candidate", "ppl_ratio", "kld_mean", "kld_p99", "top1_agreement", "rms_dp"):
        assert isinstance(m[key], float)
    assert m["tokens"] == 126 and m["ppl_ratio"] > 10 and m["top1_agreement"] < 0.3
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<script" not in page and "<link" not in page  # self-contained
    assert "badly damaged" in page and "general-water-cycle" in page


def test_compare_summary_for_a_kv_cache_change(cache, capsys):
    rc = main(["compare", "--reference", str(cache.reference), "--candidate-cache-type", "q8_0", *SMALL])
    out = capsys.readouterr().out
    assert rc == 0
    assert "With these settings, against an f16 cache: practically identical" in out  # a q8_0 cache at 128 tokens
    assert "general" in out and "PPL ref" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--candidate", "/no/such/model.gguf"], "does not exist"),
        ([], "Say what to compare the reference with"),
        (["--candidate-cache-type", "q4_0", "--flash-attn", "off"], "flash attention off"),
        (["--candidate", "http://127.0.0.1:9"], "Could not reach the server"),
    ],
)
def test_bad_input_is_a_message_and_exit_code_2(cache, capsys, args, words):
    rc = main(["compare", "--reference", str(cache.reference), *args, *SMALL, "--json"])
    captured = capsys.readouterr()
    assert rc == 2
    assert words in captured.err and "Fix:" in captured.err
    assert json.loads(captured.out)["message"]
    assert "Traceback" not in captured.err
