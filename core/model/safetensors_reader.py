"""Bounded reading of safetensors headers: names, dtypes and shapes, never the weights.

The format is an 8-byte little-endian header length, a JSON header, then the data. The header
length is checked against a 100 MB cap and against the file before anything is read, and every
tensor's byte range must lie inside the file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from core import jsonfile
from core.errors import IncompleteFileError, ModelFolderError
from core.files import open_regular, pread_exact

# The format allows 100 MB; a parsed header costs ~15x its size in Python objects, and the largest
# real ones (tens of thousands of MoE expert tensors) are a few MB. 24 MB keeps parsing under 500 MB.
MAX_HEADER_BYTES = 24 * 1024 * 1024

# Bytes per element of each whole-byte safetensors dtype (the format's own list).
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "C64": 8,
}  # fmt: skip
# Bits per element of every dtype, sub-byte ones included (safetensors' Dtype::bitsize).
DTYPE_BITS = {**{k: 8 * v for k, v in DTYPE_BYTES.items()}, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
MAX_DIMS = 8


@dataclass(frozen=True)
class SafeTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    n_bytes: int
    file: str

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def read_safetensors_header(path: Path) -> tuple[list[SafeTensor], dict[str, str]]:
    """The tensors listed in one .safetensors file and its `__metadata__`.

    Checked as the safetensors library checks a file before it maps it: every entry well-formed,
    every dtype known, shape x dtype equal to the byte range, the ranges back to back from 0 with
    no overlap and no gap, and the last one ending exactly at the end of the file.
    """
    with open_regular(path, "a safetensors file", ModelFolderError) as fd:
        size = os.fstat(fd).st_size
        if size < 8:
            raise IncompleteFileError(
                f"{path.name} is too short to be a safetensors file: needs at least 8 bytes, has {size}.",
                needed=8,
                has=size,
            )
        (hlen,) = struct.unpack("<Q", pread_exact(fd, 8, 0, path, ModelFolderError))
        if 8 + hlen > size:
            raise IncompleteFileError(
                f"{path.name}'s header is cut off: incomplete download: needs {8 + hlen:,} bytes, has {size:,}.",
                needed=8 + hlen,
                has=size,
            )
        if hlen > MAX_HEADER_BYTES:
            raise ModelFolderError(
                f"{path.name} claims a {hlen:,}-byte header; real safetensors headers are a few MB "
                f"(Quant Doctor reads up to {MAX_HEADER_BYTES // (1024 * 1024)} MB).",
                "The file is damaged or not a safetensors file: download it again.",
            )
        raw = pread_exact(fd, hlen, 8, path, ModelFolderError)
    header = jsonfile.loads(
        raw.rstrip(b" "),
        f"{path.name}'s header",
        ModelFolderError,
        expect=dict,
        max_bytes=MAX_HEADER_BYTES,
        fix="The file is damaged or not a safetensors file: download it again.",
    )
    meta = header.pop("__metadata__", None) or {}
    data_size = size - 8 - hlen
    tensors: list[tuple[int, int, SafeTensor]] = []
    for name, info in header.items():
        tensors.append(_entry(path, name, info))
    tensors.sort(key=lambda t: (t[0], t[1]))
    expected = 0
    for begin, end, t in tensors:
        if begin != expected:
            problem = "overlaps the tensor before it" if begin < expected else f"leaves a gap before byte {expected:,}"
            raise ModelFolderError(f"{path.name}: tensor '{_short(t.name)}' (bytes {begin:,}-{end:,}) {problem}.")
        expected = end
    if expected > data_size:
        raise IncompleteFileError(
            f"{path.name} is shorter than its tensors need: incomplete download: "
            f"needs {8 + hlen + expected:,} bytes, has {size:,}.",
            needed=8 + hlen + expected,
            has=size,
        )
    if expected < data_size:
        raise ModelFolderError(
            f"{path.name} has {data_size - expected:,} bytes after its last tensor that no tensor claims.",
            "The file is damaged or was altered: download it again.",
        )
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFolderError(f"{path.name}: __metadata__ must map names to text.", "Download the file again.")
    return [t for _, _, t in tensors], dict(meta)


def _short(name: str) -> str:
    return name if len(name) <= 80 else name[:77] + "..."


def _entry(path: Path, name: str, info: object) -> tuple[int, int, SafeTensor]:
    """One header entry, checked: (begin, end, tensor)."""
    bad = ModelFolderError(f"{path.name}: the entry for '{_short(name)}' is malformed.", "Download the file again.")
    if not isinstance(info, dict):
        raise bad
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or not isinstance(shape, list) or not isinstance(offsets, list) or len(offsets) != 2:
        raise bad
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in [*shape, *offsets]):
        raise bad
    if dtype not in DTYPE_BITS:
        raise ModelFolderError(
            f"{path.name}: tensor '{_short(name)}' has the unknown dtype '{dtype[:20]}'.",
            "The file is damaged or was written by a tool newer than the safetensors format Quant Doctor knows.",
        )
    if len(shape) > MAX_DIMS or any(d < 0 for d in shape):
        raise ModelFolderError(f"{path.name}: tensor '{_short(name)}' has an impossible shape {shape[:9]}.")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise ModelFolderError(f"{path.name}: tensor '{_short(name)}' has an impossible byte range {begin}-{end}.")
    n = 1
    for d in shape:
        n *= d
    bits = n * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - begin:
        raise ModelFolderError(
            f"{path.name}: tensor '{_short(name)}' is {dtype} of shape {tuple(shape)}, which takes "
            f"{bits / 8:,.0f} bytes, but its byte range holds {end - begin:,}.",
            "The file is damaged: download it again.",
        )
    return begin, end, SafeTensor(name, dtype, tuple(shape), end - begin, path.name)
