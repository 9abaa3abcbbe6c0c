"""A few words out of a GGUF's vocabulary, without reading all of it.

The tokenizer checks need the text of a handful of tokens (BOS, EOS, end-of-turn) and whether the
vocabulary holds a chat format's markers (`<|im_start|>`, `<start_of_turn>`...). The header reader
skips the vocabulary (it can hold 256K strings); it keeps where the list starts, so this module
walks only as far as the highest id it needs, and finds markers with a byte search (each GGUF string
is its length, 8 bytes, then its UTF-8 bytes), so a 256K vocabulary costs a few milliseconds.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterable, Sequence

from core.model.gguf_reader import ArrayInfo

_U64 = struct.Struct("<Q")
MAX_TOKEN_BYTES = 1024  # a token longer than this is not a marker; its text is not kept


def _as_list(value: object) -> list[str] | None:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else None


def read_vocab_facts(
    path: str | os.PathLike[str],
    tokens: ArrayInfo | Sequence[str] | None,
    ids: Iterable[int],
    markers: Iterable[str],
) -> tuple[dict[int, str], list[str]]:
    """(text of each wanted id, the markers present as whole tokens), from the token list.

    `tokens` is either the small list the header reader kept or the `ArrayInfo` of a skipped one.
    Anything out of bounds is simply not found: a broken vocabulary is another check's business.
    """
    wanted = sorted({i for i in ids if i >= 0})
    marker_list = list(dict.fromkeys(markers))
    if tokens is None:
        return {}, []
    if not isinstance(tokens, ArrayInfo):
        small = _as_list(tokens)  # None when a broken header holds something else than a list there
        if small is None:
            return {}, []
        texts = {i: small[i] for i in wanted if i < len(small)}
        present = set(small)
        return texts, [m for m in marker_list if m in present]
    if tokens.start <= 0 or tokens.count <= 0:
        return {}, []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return _walk(mm, tokens, wanted), _find_markers(mm, tokens, marker_list)


def _walk(mm: mmap.mmap, info: ArrayInfo, wanted: list[int]) -> dict[int, str]:
    texts: dict[int, str] = {}
    if not wanted:
        return texts
    size = len(mm)
    pos = info.start
    want = set(wanted)
    last = min(wanted[-1], info.count - 1)
    unpack = _U64.unpack_from
    for i in range(last + 1):
        if pos + 8 > size:
            break
        (n,) = unpack(mm, pos)
        if pos + 8 + n > size:
            break
        if i in want and n <= MAX_TOKEN_BYTES:
            texts[i] = mm[pos + 8 : pos + 8 + n].decode("utf-8", errors="replace")
        pos += 8 + n
    return texts


def _array_end(mm: mmap.mmap, info: ArrayInfo) -> int:
    return min(len(mm), info.end) if info.end > info.start else min(len(mm), info.start + info.count * 64)


def _find_markers(mm: mmap.mmap, info: ArrayInfo, markers: list[str]) -> list[str]:
    end = _array_end(mm, info)
    found = []
    for m in markers:
        raw = m.encode("utf-8")
        if mm.find(_U64.pack(len(raw)) + raw, info.start, end) >= 0:
            found.append(m)
    return found
