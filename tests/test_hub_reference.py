"""The reference a person can get (issue 23 item 2): the best BF16/F16, else Q8_0, of the same model on the Hub,
with its size, the free disk and the time to fetch it said before anything downloads; or the published
table; or the settings question. Against tests/fakehub.py's Hub on 127.0.0.1, through the real
huggingface_hub client."""

from __future__ import annotations

import json

import pytest
from fakehub import GB, FakeFile, build_world, running

from core.app.hub import reference_choices
from core.cli.main import main
from core.hub.reference import ASSUMED_SPEED_BPS, find_reference


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from running(monkeypatch, tmp_path)


def test_q8_0_of_the_same_base_when_no_16_bit_file_exists(hub):
    build_world(hub, b"GGUF")
    got = find_reference("quanter/Llama-8B-Instruct-GGUF")
    assert (got.repo_id, got.quant, got.where) == ("quanter/Llama-8B-Instruct-GGUF", "Q8_0", "your repository")
    assert got.filename in ("Llama-8B-Instruct-Q8_0.gguf", "Llama-8B-Instruct-Q8_0-00001-of-00002.gguf")
    assert got.size == int(8.5 * GB)
    assert got.fetch_seconds == pytest.approx(8.5 * GB / ASSUMED_SPEED_BPS)
    assert got.free_bytes > 0 and got.fits_disk is (got.size < got.free_bytes)
    words = got.words()
    assert "8.5 GB" in words and "free here" in words and "min at 25.0 MB/s, an assumed speed" in words
    assert not [r for r in hub.seen() if r.server == "cdn"]  # nothing was downloaded


def test_a_16_bit_file_in_another_quantization_beats_a_q8_0_in_the_persons_repo(hub):
    build_world(hub, b"GGUF")
    hub.add("bartow/Llama-8B-Instruct-GGUF",
            {"Llama-8B-Instruct-bf16.gguf": FakeFile(size=int(16.1 * GB)), "Llama-8B-Instruct-Q4_K_M.gguf": FakeFile(size=int(4.9 * GB))},
            card={"base_model": "acme/Llama-8B-Instruct", "base_model_relation": "quantized"}, downloads=700)  # fmt: skip
    got = find_reference("quanter/Llama-8B-Instruct-GGUF", speed_bps=100e6)
    assert (got.repo_id, got.filename, got.quant) == (
        "bartow/Llama-8B-Instruct-GGUF",
        "Llama-8B-Instruct-bf16.gguf",
        "BF16",
    )
    assert got.where == "another quantization of acme/Llama-8B-Instruct"
    assert got.size == int(16.1 * GB) and got.fetch_seconds == pytest.approx(161.0)
    assert "about 3 min at 100.0 MB/s)" in got.words()


def test_none_when_the_hub_has_no_reference_for_the_model(hub):
    build_world(hub, b"GGUF")
    assert find_reference("other/Llama-8B-Instruct-i1-GGUF") is not None  # its siblings have a Q8_0
    hub.add("solo/Tiny-GGUF", {"Tiny-Q4_K_M.gguf": FakeFile(size=GB)}, card={"license": "mit"})
    assert find_reference("solo/Tiny-GGUF") is None


def test_the_three_choices_and_the_cli_say_the_size_and_download_nothing(hub, capsys):
    build_world(hub, b"GGUF")
    choices = reference_choices("quanter/Llama-8B-Instruct-GGUF", None, "Q3_K_S")
    lines = choices.lines()
    assert lines[0].startswith("1. Fetch the Q8_0 of quanter/Llama-8B-Instruct-GGUF") and "8.5 GB" in lines[0]
    assert lines[1].startswith("2. Or take the published figure instead: For a Q3_K_S, llama.cpp measured")
    assert "f16 cache" in lines[2] and "--file-or-settings" in lines[2]
    assert main(["hub", "reference", "quanter/Llama-8B-Instruct-GGUF", "--type", "Q3_K_S", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["offer"]["size"] == int(8.5 * GB) and data["offer"]["fetch_seconds"] > 0
    assert data["offer"]["free_bytes"] > 0
    assert not [r for r in hub.seen() if r.server == "cdn"]
