"""Broken, hostile and wrong files: each gets a typed error with a plain message, never a traceback,
and the file is left exactly as it was."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from ggufmaker import Q, llama_metadata, llama_tensors, patch, u32, u64, write_gguf

from core import errors
from core.cli.main import main
from core.model.inspection import inspect_model

TENSORS = llama_tensors(2, 256, 512, 4, 2, 1024, Q.Q4_0, Q.Q8_0, Q.Q8_0)


def base_gguf(path: Path) -> Path:
    md = llama_metadata(2, 256, 512, 4, 2)
    md["test.aaaa"] = "first"
    md["test.bbbb"] = "second"
    return write_gguf(path, metadata=md, tensors=TENSORS, arrays={"test.numbers": [1, 2, 3]})


def find(path: Path, needle: bytes) -> int:
    data = path.read_bytes()
    pos = data.find(needle)
    assert pos >= 0, needle
    return pos


def tensor_info_pos(path: Path, name: str) -> tuple[int, int]:
    """(position of n_dims, position of the offset) in the tensor directory entry of `name`."""
    pos = find(path, name.encode()) + len(name)
    n_dims = struct.unpack_from("<I", path.read_bytes(), pos)[0]
    return pos, pos + 4 + 8 * n_dims + 4


def truncate_at(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def data_offset(path: Path) -> int:
    from core.model.gguf_reader import read_gguf_header

    return read_gguf_header(path).data_offset


# Each case: (how to make it, expected error class, words the message must contain)
Case = tuple[Callable[[Path], None], type[errors.QuantDoctorError], str]


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _safetensors(p: Path) -> None:
    header = json.dumps({"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    p.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)


def _html(p: Path) -> None:
    p.write_bytes(b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>login</body></html>")


def _ggml(p: Path) -> None:
    p.write_bytes(b"tjgg" + u32(3) + b"\0" * 200)


def _lfs(p: Path) -> None:
    p.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")


def _version(v: int) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        base_gguf(p)
        patch(p, 4, u32(v))

    return make


def _cut(where: Callable[[Path], int]) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        base_gguf(p)
        truncate_at(p, where(p))

    return make


def _count(field_at: int, value: int) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        base_gguf(p)
        patch(p, field_at, u64(value))

    return make


def _string_len(value: int) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        base_gguf(p)
        # the length prefix of the value of test.aaaa ("first")
        patch(p, find(p, b"first") - 8, u64(value))

    return make


def _array_count(value: int) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        base_gguf(p)
        key = find(p, b"test.numbers") + len(b"test.numbers")
        patch(p, key + 8, u64(value))  # after the ARRAY type and the item type

    return make


def _nested(p: Path) -> None:
    base_gguf(p)
    key = find(p, b"test.numbers") + len(b"test.numbers")
    patch(p, key + 4, u32(9))


def _unknown_type(p: Path) -> None:
    base_gguf(p)
    patch(p, find(p, b"test.aaaa") + len(b"test.aaaa"), u32(13))


def _n_dims(p: Path) -> None:
    base_gguf(p)
    patch(p, tensor_info_pos(p, "blk.0.attn_q.weight")[0], u32(5))


def _offsets(which: str) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        base_gguf(p)
        _, off_q = tensor_info_pos(p, "blk.0.attn_q.weight")
        _, off_k = tensor_info_pos(p, "blk.0.attn_k.weight")
        data = p.read_bytes()
        q = struct.unpack_from("<Q", data, off_q)[0]
        k = struct.unpack_from("<Q", data, off_k)[0]
        if which == "swapped":
            patch(p, off_q, u64(k))
            patch(p, off_k, u64(q))
        elif which == "overlap":
            patch(p, off_k, u64(q + 32))
        elif which == "past_end":
            patch(p, off_k, u64(1 << 40))
        elif which == "unaligned":
            patch(p, off_k, u64(k + 1))

    return make


def _alignment(value: int) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        md = llama_metadata(2, 256, 512, 4, 2)
        md["general.alignment"] = 64
        write_gguf(p, metadata=md, tensors=TENSORS)
        patch(p, find(p, b"general.alignment") + len(b"general.alignment") + 4, u32(value))

    return make


def _duplicate_key(p: Path) -> None:
    base_gguf(p)
    patch(p, find(p, b"test.bbbb"), b"test.aaaa")


def _duplicate_tensor(p: Path) -> None:
    base_gguf(p)
    patch(p, find(p, b"blk.1.ffn_up.weight"), b"blk.0.ffn_up.weight")


CASES: dict[str, Case] = {
    "empty file": (_empty, errors.IncompleteFileError, "empty"),
    "safetensors file": (_safetensors, errors.NotAModelFileError, "safetensors"),
    "html page": (_html, errors.NotAModelFileError, "web page"),
    "old ggml": (_ggml, errors.NotAModelFileError, "GGML"),
    "git lfs pointer": (_lfs, errors.NotAModelFileError, "LFS"),
    "version 4": (_version(4), errors.UnsupportedVersionError, "version 4"),
    "version 1": (_version(1), errors.UnsupportedVersionError, "version 1"),
    "big endian": (_version(0x03000000), errors.UnsupportedVersionError, "big-endian"),
    "cut in header": (_cut(lambda p: 13), errors.IncompleteFileError, "needs at least"),
    "cut in metadata": (_cut(lambda p: find(p, b"test.bbbb") + 3), errors.IncompleteFileError, "metadata"),
    "cut in tensor info": (
        _cut(lambda p: find(p, b"blk.1.attn_q.weight") + 4),
        errors.IncompleteFileError,
        "tensor directory",
    ),
    "cut in data": (_cut(lambda p: data_offset(p) + 1000), errors.IncompleteFileError, "incomplete download"),
    "tensor count 2^63": (_count(8, 1 << 63), errors.CorruptModelFileError, "9,223,372,036,854,775,808 tensors"),
    "kv count 2^63": (_count(16, 1 << 63), errors.CorruptModelFileError, "metadata entries"),
    "kv count 2^64-1": (_count(16, (1 << 64) - 1), errors.CorruptModelFileError, "metadata entries"),
    "string past the end": (_string_len(10_000_000), errors.IncompleteFileError, "needs at least"),
    "string over 1 GiB": (_string_len(1 << 31), errors.CorruptModelFileError, "1 GiB"),
    "huge array, truncated": (_array_count(1 << 29), errors.IncompleteFileError, "needs at least"),
    "array over 2^30": (_array_count(1 << 40), errors.CorruptModelFileError, "2^30"),
    "nested arrays": (_nested, errors.CorruptModelFileError, "array of arrays"),
    "unknown value type": (_unknown_type, errors.CorruptModelFileError, "unknown value type 13"),
    "n_dims 5": (_n_dims, errors.CorruptModelFileError, "5 dimensions"),
    "offsets out of order": (_offsets("swapped"), errors.CorruptModelFileError, "out of order"),
    "offsets overlapping": (_offsets("overlap"), errors.CorruptModelFileError, "overlaps"),
    "offset past the end": (_offsets("past_end"), errors.CorruptModelFileError, "blk.0.attn_k.weight"),
    "offset unaligned": (_offsets("unaligned"), errors.CorruptModelFileError, "alignment"),
    "alignment 0": (_alignment(0), errors.CorruptModelFileError, "not a power of two"),
    "alignment 48": (_alignment(48), errors.CorruptModelFileError, "not a power of two"),
    "duplicate key": (_duplicate_key, errors.CorruptModelFileError, "test.aaaa' twice"),
    "duplicate tensor": (_duplicate_tensor, errors.CorruptModelFileError, "twice"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_gguf(case, tmp_path, capsys, unchanged):
    make, error_class, words = CASES[case]
    path = tmp_path / "model.gguf"
    make(path)
    unchanged(path)
    with pytest.raises(error_class) as info:
        inspect_model(path)
    assert words in info.value.message
    assert info.value.fix
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "\nFix: " in err
    assert "Traceback" not in err


def test_cut_in_data_says_exactly_how_much(tmp_path):
    path = base_gguf(tmp_path / "model.gguf")
    full = path.stat().st_size
    truncate_at(path, full - 4096)
    with pytest.raises(errors.IncompleteFileError) as info:
        inspect_model(path)
    assert (info.value.needed, info.value.has) == (full, full - 4096)
    assert f"needs {full:,} bytes, has {full - 4096:,}" in info.value.message


def test_json_error_output(tmp_path, capsys):
    path = tmp_path / "page.gguf"
    _html(path)
    assert main(["inspect", str(path), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["error"] == "NotAModelFileError" and "web page" in out["message"] and out["fix"]


def test_missing_path_and_folder_without_model(tmp_path):
    with pytest.raises(errors.NotAModelFileError):
        inspect_model(tmp_path / "nope.gguf")
    with pytest.raises(errors.ModelFolderError, match=r"no config\.json"):
        inspect_model(tmp_path)


def test_cli_process_has_no_traceback(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "x.gguf"
    _count(8, 1 << 63)(path)
    run = subprocess.run([sys.executable, "-m", "core", "inspect", str(path)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "Error:" in run.stderr
