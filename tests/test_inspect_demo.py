"""The demo model inspected end to end, and our reader against the gguf package's own."""

from __future__ import annotations

import json
import subprocess
import sys

import gguf
import pytest

from core.cli.main import main
from core.model.gguf_reader import read_gguf_header
from core.model.inspection import inspect_model

REQUIRED_KEYS = {
    "format", "architecture", "name", "basename", "finetune", "base_models", "parameters", "file_size",
    "nominal_type", "effective_bpw", "tensor_types", "context_length", "block_count", "embedding_length",
    "head_count", "head_count_kv", "expert_count", "vocab_size", "embedding_fraction", "has_chat_template",
    "imatrix",
}  # fmt: skip


def test_demo_reference_profile(demo, capsys, unchanged):
    unchanged(demo.reference)
    assert main(["inspect", str(demo.reference), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data.keys() >= REQUIRED_KEYS
    assert data["architecture"] == "llama"
    assert data["nominal_type"] == "Q4_1"
    assert data["parameters"] == 134_515_008
    assert round(data["effective_bpw"], 2) == 5.74
    assert data["finetune"]
    assert data["has_chat_template"] is True
    assert data["vocab_size"] == 49152
    assert (data["block_count"], data["embedding_length"], data["head_count"], data["head_count_kv"]) == (30, 576, 9, 3)
    types = {t["type"]: t for t in data["tensor_types"]}
    assert types["Q4_1"]["tensors"] == 210 and types["Q8_0"]["tensors"] == 1 and types["F32"]["tensors"] == 61
    assert sum(t["bytes"] for t in data["tensor_types"]) + 1_785_664 == data["file_size"]
    # The tied embedding matrix is 28.3M of 134.5M parameters.
    assert data["embedding_fraction"] == pytest.approx(28_311_552 / 134_515_008, rel=1e-5)


def test_demo_q2_0_reports_type_42_with_real_bpw(demo, unchanged):
    path = demo.candidates["Q2_0"]
    unchanged(path)
    p = inspect_model(path)
    q2 = next(t for t in p.tensor_types if t.type_id == 42)
    assert q2.type == "Q2_0"
    assert q2.bpw == pytest.approx(2.25)  # a 2-byte scale per 64 two-bit values
    assert p.nominal_type == "Q2_0"
    assert p.effective_bpw == pytest.approx(3.57, abs=0.01)  # llama.cpp's quantizer prints 3.57 BPW
    assert p.bpw_by_role["attention"] == pytest.approx(2.25)
    assert any("Q2_0" in n for n in p.notes)


def test_demo_q4_0_profile(demo):
    p = inspect_model(demo.candidates["Q4_0"])
    assert p.nominal_type == "Q4_0"
    assert p.bpw_by_role["feed_forward"] == pytest.approx(4.5)


def test_reader_agrees_with_gguf_reader(demo):
    """Every scalar, every array length and every tensor as the gguf package reads them."""
    ours = read_gguf_header(demo.reference)
    theirs = gguf.GGUFReader(demo.reference)
    for key, field in theirs.fields.items():
        if key.startswith("GGUF."):
            continue
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            assert ours.array_len(key) == len(field.data), key
        else:
            value = field.contents()
            expected = pytest.approx(value) if isinstance(value, float) else value
            assert ours.metadata[key] == expected, key
    assert len(ours.tensors) == len(theirs.tensors)
    for a, b in zip(ours.tensors, theirs.tensors, strict=True):
        assert a.name == b.name
        assert a.type_id == int(b.tensor_type)
        assert a.shape == tuple(int(x) for x in b.shape)
        assert a.n_bytes == int(b.n_bytes)
        assert ours.data_offset + a.offset == int(b.data_offset)


def test_text_summary_and_python_dash_m(demo):
    out = subprocess.run(
        [sys.executable, "-m", "core", "inspect", str(demo.candidates["Q2_0"])],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "Q2_0 (type 42)" in out
    assert "134.52M" in out
    assert "3.57 bits per weight" in out
