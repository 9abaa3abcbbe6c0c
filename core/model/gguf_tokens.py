"""A few words out of a GGUF's vocabulary, without reading all of it.

The tokenizer checks need the text of a handful of tokens (BOS, EOS, end-of-turn) and whether the
vocabulary holds a chat format's markers (`<|im_start|>`, `<start_of_turn>`...). The header reader
skips the vocabulary (it can hold 256K strings); it keeps where the list starts, so this module
walks only as far as the highest id it needs, and finds markers with a byte search (each GGUF string
is its length, 8 bytes, then its UTF-8 bytes), so a 256K vocabulary costs a few milliseconds.

It reads with bounded `pread`s through core.files, never a memory map: a file that shrinks while it is
read (a download restarted, a copy overwritten) only ends the walk early (what lies past the end is
simply not found), where a memory map would have killed the process with SIGBUS; a read error (a
failing disk) is a typed ModelFileError.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

from core.errors import ModelFileError
from core.files import open_regular, read_some
from core.model.gguf_reader import ArrayInfo

_U64 = struct.Struct("<Q")
MAX_TOKEN_BYTES = 1024  # a token longer than this is not a marker; its text is not kept
_WINDOW = 1 << 20  # bytes per read: a 256K vocabulary is 2-4 MiB, a few reads


class _Window:
    """Bytes of the file read a window at a time; a short read (the file shrank) is the end of the file."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path
        self.size = os.fstat(fd).st_size
        self._buf, self._at = b"", 0

    def get(self, at: int, n: int) -> bytes | None:
        """The `n` bytes at `at`, or None when the file (now) ends before them."""
        if at < 0 or n < 0 or at + n > self.size:
            return None
        if not (self._at <= at and at + n <= self._at + len(self._buf)):
            self._buf = read_some(self.fd, max(n, _WINDOW), at, self.path, "a GGUF model file", ModelFileError)
            self._at = at
            if len(self._buf) < n:  # shorter than when it was opened: stop here, as at the end of the file
                self.size = at + len(self._buf)
                return None
        i = at - self._at
        return self._buf[i : i + n]


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
    with open_regular(path, "a GGUF model file", ModelFileError) as fd:
        win = _Window(fd, Path(path))
        return _walk(win, tokens, wanted), _find_markers(win, tokens, marker_list)


def _walk(win: _Window, info: ArrayInfo, wanted: list[int]) -> dict[int, str]:
    texts: dict[int, str] = {}
    if not wanted:
        return texts
    pos = info.start
    want = set(wanted)
    last = min(wanted[-1], info.count - 1)
    for i in range(last + 1):
        head = win.get(pos, 8)
        if head is None:
            break
        (n,) = _U64.unpack(head)
        if pos + 8 + n > win.size:
            break
        if i in want and n <= MAX_TOKEN_BYTES:
            raw = win.get(pos + 8, n)
            if raw is None:
                break
            texts[i] = raw.decode("utf-8", errors="replace")
        pos += 8 + n
    return texts


def _array_end(size: int, info: ArrayInfo) -> int:
    return min(size, info.end) if info.end > info.start else min(size, info.start + info.count * 64)


def _find_markers(win: _Window, info: ArrayInfo, markers: list[str]) -> list[str]:
    """The markers present as whole tokens: one pass over the array's bytes, windows overlapping by
    the longest pattern so a token split across two reads is still found."""
    patterns = {m: _U64.pack(len(m.encode("utf-8"))) + m.encode("utf-8") for m in markers}
    if not patterns:
        return []
    overlap = max(len(p) for p in patterns.values()) - 1
    end = _array_end(win.size, info)
    left = dict(patterns)
    at = info.start
    while left and at < end:
        n = min(_WINDOW, end - at)
        chunk = win.get(at, n)
        if chunk is None:  # the file shrank under us: what is gone is not found
            break
        for m, pattern in list(left.items()):
            if pattern in chunk:
                del left[m]
        if at + n >= end:
            break
        at += n - overlap if n > overlap else n
    return [m for m in markers if m not in left]
