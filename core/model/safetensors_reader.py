"""Bounded reading of safetensors headers: names, dtypes and shapes, never the weights.

The format is an 8-byte little-endian header length, a JSON header, then the data. The header
length is checked against a 100 MB cap and against the file before anything is read, and every
tensor's byte range must lie inside the file.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from core.errors import IncompleteFileError, ModelFolderError

MAX_HEADER_BYTES = 100 * 1024 * 1024


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
    """The tensors listed in one .safetensors file and its `__metadata__`."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            prefix = f.read(8)
            if len(prefix) < 8:
                raise IncompleteFileError(
                    f"{path.name} is too short to be a safetensors file: needs at least 8 bytes, has {size}.",
                    needed=8,
                    has=size,
                )
            (hlen,) = struct.unpack("<Q", prefix)
            if hlen > MAX_HEADER_BYTES:
                raise ModelFolderError(
                    f"{path.name} claims a {hlen:,}-byte header; safetensors headers are limited to 100 MB.",
                    "The file is damaged or not a safetensors file: download it again.",
                )
            if 8 + hlen > size:
                raise IncompleteFileError(
                    f"{path.name}'s header is cut off: incomplete download: needs {8 + hlen:,} bytes, has {size:,}.",
                    needed=8 + hlen,
                    has=size,
                )
            raw = f.read(hlen)
    except FileNotFoundError as exc:
        raise ModelFolderError(f"{path.name} is listed by the model but is not in the folder.") from exc
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(
            f"{path.name}'s header is not valid JSON, so it is not a readable safetensors file.",
            "Download the file again.",
        ) from exc
    if not isinstance(header, dict):
        raise ModelFolderError(f"{path.name}'s header is not a JSON object.", "Download the file again.")
    meta = header.pop("__metadata__", None) or {}
    data_size = size - 8 - hlen
    tensors: list[SafeTensor] = []
    for name, info in header.items():
        try:
            dtype = str(info["dtype"])
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFolderError(
                f"{path.name}: the entry for '{name}' is malformed.", "Download the file again."
            ) from exc
        if any(d < 0 for d in shape) or not 0 <= begin <= end:
            raise ModelFolderError(f"{path.name}: tensor '{name}' has an impossible shape or byte range.")
        if end > data_size:
            raise IncompleteFileError(
                f"{path.name} is shorter than its tensors need: incomplete download: "
                f"needs {8 + hlen + end:,} bytes, has {size:,}.",
                needed=8 + hlen + end,
                has=size,
            )
        tensors.append(SafeTensor(name, dtype, shape, end - begin, path.name))
    return tensors, {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}
