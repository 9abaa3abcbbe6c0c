"""The person's own texts and prompts: read with plain errors, scored and answered like the shipped ones."""

from __future__ import annotations

import json

import pytest

from core.cli.main import main
from core.errors import EvaluationSetupError
from core.evaluation import own_inputs, verdicts
from core.evaluation.own_inputs import parse_text_spec, prompts_from, read_own_texts
from core.paths import CACHE_ENV

SMALL = ["--chunk", "64", "--max-chunks", "2", "--sample-tokens", "4", "--threads", "2", "-c", "256", "--quiet"]


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "is empty"), (b"  \n\n", "is empty"), (b"abc\x00def", "binary"), (b"caf\xe9 au lait", "not UTF-8")],
)
def test_bad_text_files_are_refused_in_plain_words(tmp_path, content, words):
    f = tmp_path / "notes.txt"
    f.write_bytes(content)
    with pytest.raises(EvaluationSetupError, match=words):
        read_own_texts([f"mine={f}"])


def test_an_enormous_file_is_refused_before_a_byte_is_read(tmp_path, monkeypatch):
    """The size is checked first (core.files), so a 40 GB file picked by mistake costs nothing."""
    import core.files

    monkeypatch.setattr(own_inputs, "MAX_TEXT_BYTES", 1024 * 1024)
    f = tmp_path / "huge.txt"
    f.write_bytes(b"a" * (1024 * 1024 + 1))
    read = []
    real_read_at = core.files.read_at

    def spy(fd, n, offset):
        read.append(n)
        return real_read_at(fd, n, offset)

    monkeypatch.setattr(core.files, "read_at", spy)
    with pytest.raises(EvaluationSetupError, match="larger than 1 MB"):
        read_own_texts([str(f)])
    assert read == []  # never a byte of it
    f.write_bytes(b"a" * 1000)
    assert read_own_texts([f"mine={f}"]) == {"mine": "a" * 1000}
    assert read == [1024 * 1024 + 1, 1024 * 1024 + 1 - 1000]  # a bounded read, then EOF


def test_text_names(tmp_path):
    assert parse_text_spec("mydocs=notes.md")[0] == "mydocs"
    assert parse_text_spec(str(tmp_path / "notes.md"))[0] == "notes"
    with pytest.raises(EvaluationSetupError, match="built-in domain"):
        parse_text_spec("code=x.py")
    with pytest.raises(EvaluationSetupError, match="cannot name"):
        parse_text_spec("my docs=x.md")
    with pytest.raises(EvaluationSetupError, match="does not exist"):
        read_own_texts([f"mine={tmp_path / 'missing.txt'}"])


def test_prompts_from_lines_and_json(tmp_path):
    lines = tmp_path / "p.txt"
    lines.write_text("first\n\n second \n", encoding="utf-8")
    got = prompts_from(["typed"], str(lines))
    assert [(p.id, p.text, p.domain) for p in got] == [("mine-1", "typed", "mine"), ("mine-2", "first", "mine"),
                                                        ("mine-3", "second", "mine")]  # fmt: skip
    js = tmp_path / "p.json"
    js.write_text(json.dumps({"system": "Be terse.", "prompts": ["a", {"prompt": "b", "system": "Be kind."}]}))
    assert [(p.text, p.system) for p in prompts_from([], str(js))] == [("a", "Be terse."), ("b", "Be kind.")]
    js.write_text('[{"question": "x"}]')
    with pytest.raises(EvaluationSetupError, match="neither a text"):
        prompts_from([], str(js))
    js.write_text("[1, 2")
    with pytest.raises(EvaluationSetupError, match="is not valid JSON"):
        prompts_from([], str(js))


@pytest.fixture(scope="module")
def cache(demo, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("eval-cache")))
        yield demo


def test_own_text_and_prompt_are_scored_and_answered(cache, capsys, tmp_path):
    from core.paths import resources_dir

    mine = tmp_path / "notes.md"
    mine.write_text((resources_dir() / "eval" / "prose.txt").read_text(encoding="utf-8")[:2500], encoding="utf-8")
    rc = main(["compare", "--reference", str(cache.reference), "--candidate", str(cache.candidates["Q4_0"]),
               "--text", f"mine={mine}", "--prompt", "Name three colours.", *SMALL, "--json"])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert list(data["metrics"]) == ["mine"] and data["own_texts"] == ["mine"]
    m = data["metrics"]["mine"]
    assert m["tokens"] == 2 * (64 - 1 - 32) and 1.0 < m["ppl_ratio"] < 2 and 0 < m["kld_mean"] < 1
    assert data["verdicts"]["mine"]["words"] == verdicts.judge(m["kld_mean"], m["top1_agreement"]).words
    assert data["verdicts"]["mine"]["words"] == "heavy loss"  # 2 chunks of 64: one run, one outcome
    (sample,) = data["samples"]
    assert sample["prompt_id"] == "mine-1" and sample["prompt"] == "Name three colours."
    assert sample["reference"] and sample["candidate"]


def test_a_text_shorter_than_two_chunks_is_a_plain_error(cache, capsys, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("A few words only, far from two chunks of text. " * 3, encoding="utf-8")
    rc = main(["compare", "--reference", str(cache.reference), "--candidate", str(cache.candidates["Q4_0"]),
               "--text", f"tiny={short}", *SMALL])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert "needs at least 2 × the chunk size in tokens (2 × 64 = 128); this has" in err and "Traceback" not in err
