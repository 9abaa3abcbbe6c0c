"""What a comparison must know about a model file before running it: who it is and what tokens it has.

- `file_fingerprint`: the reference-logit cache is keyed by the model file. A full sha256 of a 40 GB
  file takes minutes, so the fingerprint hashes the size, the header and 64 spread 1 MiB samples:
  two different quants (or a re-download with other bytes) differ there, and it costs ~0.1 s.
- `vocab_of`: the vocabulary size and a sha256 of the token list, read straight from the GGUF
  header. core.model.gguf_reader skips large arrays on purpose, so this walks the metadata once more and
  hashes the bytes of `tokenizer.ggml.tokens` without decoding them (milliseconds for 150K tokens).
  Comparing this before any model is loaded is how mismatched models are refused early.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import gguf

from core.errors import IncompatibleModelsError, ModelFileError, NotAModelFileError
from core.files import open_regular, pread_exact
from core.model.gguf_reader import GGUFHeader, read_gguf_header

SAMPLES = 64
SAMPLE_SIZE = 1 << 20
_VT = gguf.GGUFValueType
_SIZES = {
    _VT.UINT8: 1, _VT.INT8: 1, _VT.BOOL: 1, _VT.UINT16: 2, _VT.INT16: 2, _VT.UINT32: 4, _VT.INT32: 4,
    _VT.FLOAT32: 4, _VT.UINT64: 8, _VT.INT64: 8, _VT.FLOAT64: 8,
}  # fmt: skip
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
TOKENS_KEY = "tokenizer.ggml.tokens"


def file_fingerprint(path: Path) -> str:
    """A sha256 over the file's size, its first 4 MiB and 64 spread samples (see module docstring)."""
    with open_regular(path, "a GGUF model file", NotAModelFileError) as fd:
        size = os.fstat(fd).st_size
        h = hashlib.sha256(str(size).encode())
        h.update(pread_exact(fd, min(size, 4 * SAMPLE_SIZE), 0, path, ModelFileError))
        if size > 4 * SAMPLE_SIZE:
            step = max(1, (size - SAMPLE_SIZE) // SAMPLES)
            for i in range(SAMPLES + 1):
                h.update(pread_exact(fd, SAMPLE_SIZE, min(i * step, max(0, size - SAMPLE_SIZE)), path, ModelFileError))
    return h.hexdigest()


@dataclass(frozen=True)
class Vocab:
    n_tokens: int
    tokens_sha256: str
    model: str
    pre: str
    bos_text: str = ""  # the BOS token as text ("<s>", "<|im_start|>"), for prompts sent to a server
    add_bos: bool = True  # whether the tokenizer puts BOS in front of a text by itself

    def same_as(self, other: Vocab) -> bool:
        return self.n_tokens == other.n_tokens and self.tokens_sha256 == other.tokens_sha256


def vocab_of(path: Path) -> Vocab:
    """Vocabulary size and token-list hash of a GGUF (typed errors for files that are not GGUF)."""
    header = read_gguf_header(path)  # validates every bound, raises plain-worded errors
    model = str(header.get("tokenizer.ggml.model", ""))
    pre = str(header.get("tokenizer.ggml.pre", ""))
    bos_id = header.get("tokenizer.ggml.bos_token_id")
    add_bos = header.get("tokenizer.ggml.add_bos_token")
    if not isinstance(add_bos, bool):
        add_bos = model == "llama"  # llama.cpp's default: SentencePiece vocabularies add BOS, BPE ones do not
    count, digest, bos_text = _hash_tokens(header, bos_id if isinstance(bos_id, int) else -1)
    return Vocab(count, digest, model, pre, bos_text, add_bos)


def _hash_tokens(header: GGUFHeader, want: int = -1) -> tuple[int, str, str]:
    """(token count, sha256 of the token list's bytes, the text of token `want`).

    Reads the span the header reader recorded with bounded preads (never a memory map, so a file
    that shrinks meanwhile is a plain error, not a SIGBUS).
    """
    span = header.spans.get(TOKENS_KEY)
    if span is None:
        return 0, "", ""
    start, end = span
    count = header.array_len(TOKENS_KEY) or 0
    sha = hashlib.sha256()
    picked = ""
    pos, index = start, 0
    with open_regular(header.path, "a GGUF model file", NotAModelFileError) as fd:
        at = start
        while at < end:
            chunk = pread_exact(fd, min(end - at, 1 << 22), at, header.path, ModelFileError)
            sha.update(chunk)
            # find token `want` by walking the length prefixes that fall in this chunk
            while want >= 0 and index <= want and pos + 8 <= at + len(chunk):
                if pos >= at:
                    (n,) = _U64.unpack_from(chunk, pos - at)
                else:  # a length prefix that straddles two chunks
                    (n,) = _U64.unpack(pread_exact(fd, 8, pos, header.path, ModelFileError))
                if index == want:
                    text = pread_exact(fd, min(n, 256), pos + 8, header.path, ModelFileError)
                    picked = text.decode("utf-8", errors="replace")
                pos += 8 + n
                index += 1
            at += len(chunk)
    return count, sha.hexdigest(), picked


def check_same_vocab(reference: Path, candidate: Path) -> Vocab:
    """Refuse, in plain words, two GGUFs whose token lists differ; return the shared vocabulary."""
    a = vocab_of(reference)
    b = vocab_of(candidate)
    if a.n_tokens == 0 or b.n_tokens == 0:
        missing = reference if a.n_tokens == 0 else candidate
        raise IncompatibleModelsError(
            f"{missing.name} has no token list in its header, so it cannot be compared token by token."
        )
    if not a.same_as(b):
        detail = (
            f"{a.n_tokens:,} tokens against {b.n_tokens:,}"
            if a.n_tokens != b.n_tokens
            else f"the same number of tokens ({a.n_tokens:,}) but different ones"
        )
        raise IncompatibleModelsError(
            f"{reference.name} and {candidate.name} do not share a vocabulary ({detail}), so they are not "
            "two versions of the same model and their outputs cannot be compared token by token."
        )
    return a
