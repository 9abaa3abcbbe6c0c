"""A bounded, read-only GGUF header reader.

`gguf.GGUFReader` materialises every metadata array (tokenizer tokens, merges, scores) as numpy
views: seconds to tens of seconds on a model with a large vocabulary. Quant Doctor needs the
scalars, the sizes of the big arrays and the tensor directory, so this reader walks the header
once, skips what it does not need without building it, and never looks at the tensor data:
inspecting a 40 GB file costs the same as a 100 MB one.

It enforces the rules llama.cpp's `ggml/src/gguf.cpp` enforces (every count and length checked
against the bytes left, strings <= 1 GiB, arrays <= 2^30 items, n_dims <= 4, tensors in order,
aligned and inside the file, no duplicate keys), and turns each violation into a typed error with
a plain message instead of a crash. The file is opened read-only, and only if it is a regular file
(core.files). It is read with bounded `pread`s, never memory-mapped: a file that shrinks while it
is read (a download restarted, a copy overwritten) is a plain "the file changed" error, not a
SIGBUS that kills the process. Each string's length is checked before a byte of it is read, and
strings kept only for display are kept truncated.
"""

from __future__ import annotations

import itertools
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf

from core.errors import (
    CorruptModelFileError,
    IncompleteFileError,
    ModelFileError,
    NotAModelFileError,
    UnsupportedVersionError,
)
from core.files import open_regular, pread_exact

# Limits from llama.cpp's gguf.cpp (GGUF_MAX_STRING_LENGTH, GGUF_MAX_ARRAY_ELEMENTS, GGML_MAX_DIMS,
# GGML_MAX_NAME).
MAX_STRING_LENGTH = 1 << 30
MAX_ARRAY_ELEMENTS = 1 << 30
MAX_DIMS = 4
MAX_TENSOR_NAME = 64
INT64_MAX = (1 << 63) - 1
MAX_HEADER_COUNT = 1 << 32
# Counts a real file never comes near, refused before a single entry is read: each entry read costs
# Python objects (~160 bytes a metadata entry, ~450 a tensor), so 12 million declared entries cost
# 2 GB and a minute even when the file really holds them. Writers emit one key per fact (real files
# hold 20-100, none over a few hundred) and llama.cpp stores experts merged (the largest models have
# 1-3 thousand tensors; old per-expert Mixtral files under 2,000).
MAX_METADATA_ENTRIES = 1 << 16
MAX_TENSORS = 1 << 17

# Keys longer than this are corruption (real ones are under 100 bytes); llama.cpp has no limit, but
# a key is copied whole into memory and into every message that names it.
MAX_KEY_LENGTH = 1024
# String values are kept for display only: longer ones are kept truncated, the rest skipped unread.
MAX_KEPT_STRING = 64 * 1024
MAX_KEPT_ARRAY_STRING = 1024
# A string array longer than this is refused rather than walked: the largest real tokenizers have
# a few hundred thousand tokens or merges, and walking costs a Python step per item.
MAX_STRING_ARRAY = 4 * 1024 * 1024
_WINDOW = 1 << 20

# Arrays at most this long are read into Python values (per-layer head counts, languages, tags);
# longer ones (the vocabulary, merges, scores) are skipped and only their length is kept.
SMALL_ARRAY_LIMIT = 4096

# ggml types that llama.cpp has and the installed `gguf` package may not know yet. Only names:
# the byte size of such a tensor is taken from the tensor offsets, never from a copied table.
NEWER_TYPE_NAMES: dict[int, str] = {41: "Q1_0", 42: "Q2_0"}
NEWER_FILE_TYPE_NAMES: dict[int, str] = {40: "Q1_0", 41: "Q2_0"}

_VT = gguf.GGUFValueType
_SCALAR_FORMATS: dict[int, str] = {
    _VT.UINT8: "<B",
    _VT.INT8: "<b",
    _VT.UINT16: "<H",
    _VT.INT16: "<h",
    _VT.UINT32: "<I",
    _VT.INT32: "<i",
    _VT.FLOAT32: "<f",
    _VT.BOOL: "<?",
    _VT.UINT64: "<Q",
    _VT.INT64: "<q",
    _VT.FLOAT64: "<d",
}
_SCALAR_STRUCTS = {k: struct.Struct(v) for k, v in _SCALAR_FORMATS.items()}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


def type_name(type_id: int) -> str:
    """Name of a ggml tensor type, from the gguf package where it knows it."""
    try:
        return gguf.GGMLQuantizationType(type_id).name
    except ValueError:
        return NEWER_TYPE_NAMES.get(type_id, f"type {type_id}")


def type_block(type_id: int) -> tuple[int, int] | None:
    """(block size in elements, bytes per block) from gguf.GGML_QUANT_SIZES, or None if unknown."""
    try:
        return gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(type_id)]
    except (ValueError, KeyError):
        return None


def file_type_name(file_type: int) -> str:
    """The 'mostly' type named by general.file_type, e.g. 'Q4_K_M'."""
    try:
        name = gguf.LlamaFileType(file_type).name
    except ValueError:
        return NEWER_FILE_TYPE_NAMES.get(file_type, f"file type {file_type}")
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


@dataclass(frozen=True)
class ArrayInfo:
    """A metadata array that was skipped: its element type and length, not its contents."""

    item_type: int
    count: int
    start: int = 0  # where its items begin in the file
    end: int = 0  # where they end


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int  # relative to the data section
    n_elements: int
    n_bytes: int  # from the type's block size, or from the offsets for a type newer than gguf knows
    size_from_offsets: bool = False

    @property
    def type_name(self) -> str:
        return type_name(self.type_id)


@dataclass
class GGUFHeader:
    path: Path
    version: int
    file_size: int
    alignment: int
    data_offset: int
    metadata: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, ArrayInfo] = field(default_factory=dict)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # every array's items: (start, end) in the file
    value_types: dict[str, int] = field(default_factory=dict)  # each key's GGUF value type
    truncated: set[str] = field(default_factory=set)  # string values kept only in part
    tensors: list[TensorInfo] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def array_len(self, key: str) -> int | None:
        if key in self.arrays:
            return self.arrays[key].count
        value = self.metadata.get(key)
        return len(value) if isinstance(value, list) else None

    @property
    def data_size(self) -> int:
        if not self.tensors:
            return 0
        last = self.tensors[-1]
        return last.offset + last.n_bytes


class _Cursor:
    """Sequential reads through a bounded window of the file, each one checked against the bytes left.

    `size` is the file's size when it was opened; a read that finds less (the file shrank) is a
    plain error from core.files.pread_exact, never a fault.
    """

    def __init__(self, fd: int, size: int, path: Path) -> None:
        self.fd = fd
        self.size = size
        self.pos = 0
        self.path = path
        self.where = "header"
        self._buf = b""
        self._buf_at = 0

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise IncompleteFileError(
                f"{self.path.name} ends in the middle of its {self.where}: "
                f"incomplete download: needs at least {self.pos + n:,} bytes, has {self.size:,}.",
                needed=self.pos + n,
                has=self.size,
            )

    def window(self, at: int, n: int) -> tuple[bytes, int]:
        """(buffer, index of `at` in it) holding at least `n` bytes from `at` (n <= the bytes left)."""
        if self._buf_at <= at and at + n <= self._buf_at + len(self._buf):
            return self._buf, at - self._buf_at
        want = min(max(n, _WINDOW), self.size - at)
        self._buf = pread_exact(self.fd, want, at, self.path, ModelFileError)
        self._buf_at = at
        return self._buf, 0

    def take(self, n: int) -> bytes:
        self.need(n)
        if n > _WINDOW:
            data = pread_exact(self.fd, n, self.pos, self.path, ModelFileError)
        else:
            buf, i = self.window(self.pos, n)
            data = buf[i : i + n]
        self.pos += n
        return data

    def _unpack(self, st: struct.Struct) -> Any:
        self.need(st.size)
        buf, i = self.window(self.pos, st.size)
        (v,) = st.unpack_from(buf, i)
        self.pos += st.size
        return v

    def u32(self) -> int:
        return int(self._unpack(_U32))

    def u64(self) -> int:
        return int(self._unpack(_U64))

    def i64(self) -> int:
        return int(self._unpack(_I64))

    def length(self, what: str, limit: int = MAX_STRING_LENGTH) -> int:
        n = self.u64()
        if n > limit:
            raise CorruptModelFileError(
                f"{self.path.name}: {what} claims a length of {n:,} bytes, over the "
                + ("1 GiB limit." if limit == MAX_STRING_LENGTH else f"{limit:,}-byte limit.")
            )
        self.need(n)
        return n

    def name(self, what: str, limit: int) -> str:
        """A key or a tensor name: length checked before reading, and it must be valid UTF-8."""
        raw = self.take(self.length(what, limit))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptModelFileError(
                f"{self.path.name}: {what} {raw[:60]!r} is not valid UTF-8 text, which GGUF requires."
            ) from exc

    def string(self, what: str, keep: int = MAX_KEPT_STRING) -> tuple[str, bool]:
        """A string value, of which at most `keep` bytes are read; (text, whether it was cut)."""
        n = self.length(what)
        raw = self.take(min(n, keep))
        self.pos += n - len(raw)
        return raw.decode("utf-8", errors="replace"), n > keep

    def scalar(self, vtype: int) -> Any:
        return self._unpack(_SCALAR_STRUCTS[vtype])


def _sniff_not_gguf(head: bytes, path: Path) -> NotAModelFileError:
    """Name what the file is when it is not GGUF, so the fix can be specific."""
    name = path.name
    low = head[:512].lstrip().lower()
    if head[:4] in (b"lmgg", b"fmgg", b"tjgg"):
        return NotAModelFileError(
            f"{name} is an old GGML model file (from before August 2023), not GGUF.",
            "Current llama.cpp cannot load GGML files. Download a GGUF version of this model.",
        )
    if low.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        return NotAModelFileError(
            f"{name} is a web page saved under a model's name, not a model file.",
            "The download link led to a page (often a login or license page). Open the model page, "
            "accept its license if asked, and download the file itself.",
        )
    if low.startswith(b"version https://git-lfs"):
        return NotAModelFileError(
            f"{name} is a Git LFS pointer (a few lines of text), not the model itself.",
            "Fetch the real file: run `git lfs pull` in the clone, or download the file directly.",
        )
    if head[:4] == b"PK\x03\x04":
        return NotAModelFileError(
            f"{name} is a zip archive (a PyTorch checkpoint or a compressed download), not GGUF.",
            "Unpack it if it is an archive, or pick the .gguf file of the model.",
        )
    if len(head) >= 9:
        (hlen,) = _U64.unpack_from(head, 0)
        if 0 < hlen < (1 << 32) and head[8:9] == b"{":
            return NotAModelFileError(
                f"{name} is a safetensors file (unquantized or GPTQ/AWQ/EXL2 weights), not GGUF.",
                "Open the folder that holds it (with its config.json) instead, or pick a .gguf file.",
            )
    return NotAModelFileError(
        f"{name} is not a GGUF model file (it does not start with 'GGUF').",
        "Pick a .gguf file, or the folder of an EXL2 / GPTQ / AWQ model.",
    )


def read_gguf_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """Read a GGUF file's metadata and tensor directory, checking every bound as it goes."""
    p = Path(path)
    with open_regular(p, "a GGUF model file", NotAModelFileError) as fd:
        size = os.fstat(fd).st_size
        if size == 0:
            raise IncompleteFileError(
                f"{p.name} is empty (0 bytes): incomplete download: needs at least 24 bytes, has 0.",
                needed=24,
                has=0,
            )
        return _parse(_Cursor(fd, size, p), size, p)


def _parse(cur: _Cursor, size: int, path: Path) -> GGUFHeader:
    head = pread_exact(cur.fd, min(size, 512), 0, path, ModelFileError)
    if head[:4] != b"GGUF":
        if len(head) < 4 and b"GGUF".startswith(head):
            cur.need(24)
        raise _sniff_not_gguf(head, path)
    cur.pos = 4
    version = cur.u32()
    if version & 0xFFFF == 0 and version != 0:
        raise UnsupportedVersionError(
            f"{path.name} is a big-endian GGUF (version field {version:#x}); this machine reads little-endian.",
            "Download the little-endian GGUF of this model (the usual kind).",
        )
    if version == 1:
        raise UnsupportedVersionError(
            f"{path.name} is GGUF version 1, which llama.cpp no longer loads.",
            "Download a current GGUF of this model, or convert it again with a recent llama.cpp.",
        )
    if version not in (2, 3):
        raise UnsupportedVersionError(f"{path.name} is GGUF version {version}; Quant Doctor reads versions 2 and 3.")

    n_tensors = cur.i64()
    n_kv = cur.i64()
    # A KV pair takes at least 8 (key length) + 1 (key) + 4 (type) + 1 bytes; a tensor info at least
    # 8 + 1 + 4 + 4 + 8. No model has billions of either, so such a count is corruption; a plausible
    # count that the file is too short for is an interrupted download.
    for what, count in (("tensors", n_tensors), ("metadata entries", n_kv)):
        if count < 0 or count > MAX_HEADER_COUNT:
            raise CorruptModelFileError(
                f"{path.name}'s header says it holds {count if count >= 0 else count + (1 << 64):,} {what}, "
                "an impossible number."
            )
    for what, count, cap in (("tensors", n_tensors, MAX_TENSORS), ("metadata entries", n_kv, MAX_METADATA_ENTRIES)):
        if count > cap:
            raise CorruptModelFileError(
                f"{path.name}'s header says it holds {count:,} {what}; real model files hold far fewer "
                f"(Quant Doctor reads up to {cap:,}), so the header is damaged or was crafted."
            )

    header = GGUFHeader(
        path=path, version=version, file_size=size, alignment=gguf.GGUF_DEFAULT_ALIGNMENT, data_offset=0
    )
    cur.where = "metadata"
    cur.need(n_kv * 14)
    for _ in range(n_kv):
        key = cur.name("a metadata key", MAX_KEY_LENGTH)
        if not key:
            raise CorruptModelFileError(f"{path.name} has a metadata entry with an empty key.")
        if key in header.metadata or key in header.arrays:
            raise CorruptModelFileError(f"{path.name} has the metadata key '{key}' twice.")
        vtype = cur.u32()
        header.value_types[key] = vtype
        if vtype == _VT.ARRAY:
            _read_array(cur, header, key)
        elif vtype == _VT.STRING:
            header.metadata[key], cut = cur.string(f"the value of '{key}'")
            if cut:
                header.truncated.add(key)
        elif vtype in _SCALAR_STRUCTS:
            header.metadata[key] = cur.scalar(vtype)
        else:
            raise CorruptModelFileError(f"{path.name}: metadata key '{key}' has an unknown value type {vtype}.")

    align_key = gguf.Keys.General.ALIGNMENT
    if align_key in header.value_types:
        alignment = int(header.metadata[align_key]) if align_key in header.metadata else 0
        if header.value_types[align_key] != _VT.UINT32:  # llama.cpp's gguf.cpp requires exactly this type
            raise CorruptModelFileError(f"{path.name}: '{align_key}' must be a single unsigned 32-bit integer.")
        if alignment <= 0 or alignment & (alignment - 1):
            raise CorruptModelFileError(f"{path.name}: alignment {alignment} is not a power of two.")
        header.alignment = alignment

    cur.where = "tensor directory"
    cur.need(n_tensors * 25)
    _read_tensor_infos(cur, header, n_tensors)
    return header


def _read_array(cur: _Cursor, header: GGUFHeader, key: str) -> None:
    path = cur.path
    item_type = cur.u32()
    count = cur.u64()
    if item_type == _VT.ARRAY:
        raise CorruptModelFileError(f"{path.name}: metadata key '{key}' is an array of arrays, which GGUF forbids.")
    if item_type != _VT.STRING and item_type not in _SCALAR_STRUCTS:
        raise CorruptModelFileError(f"{path.name}: metadata array '{key}' has an unknown item type {item_type}.")
    if count > MAX_ARRAY_ELEMENTS:
        raise CorruptModelFileError(f"{path.name}: metadata array '{key}' claims {count:,} items, over the 2^30 limit.")
    least = 8 if item_type == _VT.STRING else _SCALAR_STRUCTS[item_type].size
    cur.need(count * least)
    start = cur.pos
    if item_type == _VT.STRING:
        if count > MAX_STRING_ARRAY:
            raise CorruptModelFileError(
                f"{path.name}: metadata array '{key}' claims {count:,} strings; the largest real tokenizers "
                f"have well under {MAX_STRING_ARRAY:,}."
            )
        if count <= SMALL_ARRAY_LIMIT:
            items = []
            for _ in range(count):
                text, cut = cur.string(f"an item of '{key}'", MAX_KEPT_ARRAY_STRING)
                items.append(text)
                if cut:
                    header.truncated.add(key)
            header.metadata[key] = items
        else:
            _skip_strings(cur, key, count)
            header.arrays[key] = ArrayInfo(item_type, count, start, cur.pos)
        header.spans[key] = (start, cur.pos)
        return
    st = _SCALAR_STRUCTS[item_type]
    if count <= SMALL_ARRAY_LIMIT:
        raw = cur.take(count * st.size)
        header.metadata[key] = list(struct.unpack_from(f"<{count}{st.format[-1]}", raw, 0))
    else:
        cur.pos += count * st.size
        header.arrays[key] = ArrayInfo(item_type, count, start, cur.pos)
    header.spans[key] = (start, cur.pos)


def _skip_strings(cur: _Cursor, key: str, count: int) -> None:
    """Walk past `count` length-prefixed strings without decoding them: the hot loop of inspection.

    Reads only the length prefixes, a window at a time; a string longer than the window is jumped
    over without being read.
    """
    size, pos = cur.size, cur.pos
    unpack = _U64.unpack_from
    left = count
    while left:
        if pos + 8 > size:
            cur.pos = min(pos, size)
            cur.need(8)
        buf, i = cur.window(pos, 8)
        end = len(buf)
        base = pos - i
        while left and i + 8 <= end:
            (n,) = unpack(buf, i)
            if n > MAX_STRING_LENGTH:
                raise CorruptModelFileError(
                    f"{cur.path.name}: an item of '{key}' claims a length of {n:,} bytes, over the 1 GiB limit."
                )
            i += 8 + n
            left -= 1
        pos = base + i
        if pos > size:
            cur.pos = base + i - n
            cur.need(n)
    cur.pos = pos


def _read_tensor_infos(cur: _Cursor, header: GGUFHeader, n_tensors: int) -> None:
    path = cur.path
    raw: list[tuple[str, tuple[int, ...], int, int, int]] = []
    names: set[str] = set()
    for _ in range(n_tensors):
        name = cur.name("a tensor name", MAX_TENSOR_NAME - 1)
        if name in names:
            raise CorruptModelFileError(f"{path.name} has the tensor '{name}' twice.")
        names.add(name)
        n_dims = cur.u32()
        if n_dims > MAX_DIMS:
            raise CorruptModelFileError(f"{path.name}: tensor '{name}' has {n_dims} dimensions; at most 4 are allowed.")
        shape = tuple(cur.i64() for _ in range(n_dims))
        n_elements = 1
        for d in shape:
            if d < 0:
                raise CorruptModelFileError(f"{path.name}: tensor '{name}' has a negative dimension ({d}).")
            n_elements *= d
        if n_elements > INT64_MAX:
            raise CorruptModelFileError(f"{path.name}: tensor '{name}' has an impossible shape {shape}.")
        type_id = cur.u32()
        if type_id > 0xFFFF:
            raise CorruptModelFileError(f"{path.name}: tensor '{name}' has an invalid type {type_id}.")
        block = type_block(type_id)
        if block is not None and shape and shape[0] % block[0]:
            raise CorruptModelFileError(
                f"{path.name}: tensor '{name}' has rows of {shape[0]} values, not a multiple of "
                f"{type_name(type_id)}'s block of {block[0]}."
            )
        offset = cur.u64()
        raw.append((name, shape, type_id, offset, n_elements))

    align = header.alignment
    if n_tensors:
        cur.pos += (-cur.pos) % align
    header.data_offset = cur.pos
    data_room = header.file_size - header.data_offset

    for before, after in itertools.pairwise(raw):
        if after[3] < before[3]:
            raise CorruptModelFileError(
                f"{path.name}: tensor '{after[0]}' (offset {after[3]:,}) is out of order: it comes before "
                f"'{before[0]}' (offset {before[3]:,}) in the file."
            )
    expected = 0  # where the next tensor must start, as llama.cpp computes it
    for i, (name, shape, type_id, offset, n_elements) in enumerate(raw):
        if offset % align:
            raise CorruptModelFileError(
                f"{path.name}: tensor '{name}' starts at offset {offset:,}, not a multiple of the alignment {align}."
            )
        if offset != expected:
            problem = (
                "overlaps the tensor before it" if offset < expected else f"leaves a gap: expected offset {expected:,}"
            )
            raise CorruptModelFileError(f"{path.name}: tensor '{name}' (offset {offset:,}) {problem}.")
        block = type_block(type_id)
        from_offsets = block is None
        if block is not None:
            n_bytes = n_elements // block[0] * block[1]
        else:
            # A type newer than the gguf package: its size is the distance to the next tensor.
            nxt = raw[i + 1][3] if i + 1 < len(raw) else max(offset, data_room)
            n_bytes = max(0, nxt - offset)
        header.tensors.append(TensorInfo(name, shape, type_id, offset, n_elements, n_bytes, from_offsets))
        expected = offset + n_bytes + (-(offset + n_bytes)) % align

    needed = header.data_offset + (header.tensors[-1].offset + header.tensors[-1].n_bytes if raw else 0)
    if needed > header.file_size:
        raise IncompleteFileError(
            f"{path.name} is shorter than its tensors need: incomplete download: "
            f"needs {needed:,} bytes, has {header.file_size:,}.",
            needed=needed,
            has=header.file_size,
        )
