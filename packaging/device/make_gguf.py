"""Write sparse GGUF files of real model shapes with nothing but the standard library.

The GPU box that measures llama.cpp has Python without the `gguf` package (and without numpy), so
this writes the GGUF v3 header itself: metadata, tensor directory, alignment, then a hole for the
tensor data (the file is extended with truncate, so a 5 GB 8B-shaped model costs no disk). The
weights are zeros; llama.cpp's buffer sizes depend only on the directory.

Two shapes, the ones tests/test_memory_agreement.py checks on the CPU:
- demo: SmolLM2-135M-Instruct's exact tensor list and types (Q4_1 matrices, Q8_0 tied embeddings),
  a stand-in for the real demo file, which is too large to carry to the device (98 MB > 64 MiB);
- llama3-8b: Llama-3-8B's shape, Q4_K matrices with Q6_K for V, down projections and embeddings.

    python3 make_gguf.py demo OUT.gguf
    python3 make_gguf.py llama3-8b OUT.gguf
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

ALIGNMENT = 32
# ggml type id: (block size, bytes per block)
TYPES = {"F32": (0, 1, 4), "Q4_1": (3, 32, 20), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144), "Q6_K": (14, 256, 210)}
U32, I32, F32, BOOL, STR, U64 = 4, 5, 6, 7, 8, 10  # gguf metadata value types

Tensor = tuple[str, Sequence[int], str]  # name, ne (row length first), type


def _s(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _kv(key: str, value: int | float | str | bool) -> bytes:
    if isinstance(value, bool):
        return _s(key) + struct.pack("<IB", BOOL, value)
    if isinstance(value, int):
        return _s(key) + struct.pack("<II", U32, value)
    if isinstance(value, float):
        return _s(key) + struct.pack("<If", F32, value)
    return _s(key) + struct.pack("<I", STR) + _s(value)


def nbytes(ne: Sequence[int], type_name: str) -> int:
    _, block, size = TYPES[type_name]
    n = 1
    for d in ne:
        n *= d
    assert ne[0] % block == 0, f"row of {ne[0]} is not a multiple of {type_name}'s block of {block}"
    return n // block * size


def write(path: Path, metadata: dict[str, int | float | str | bool], tensors: list[Tensor]) -> Path:
    head = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
    for key, value in metadata.items():
        head += _kv(key, value)
    offset = 0
    for name, ne, type_name in tensors:
        head += _s(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        head += struct.pack("<IQ", TYPES[type_name][0], offset)
        size = nbytes(ne, type_name)
        offset += size + (-size) % ALIGNMENT
    head += b"\0" * ((-len(head)) % ALIGNMENT)
    with open(path, "wb") as f:
        f.write(head)
    os.truncate(path, len(head) + offset)
    return path


def llama(
    n_layer: int, n_embd: int, n_ff: int, n_head: int, n_head_kv: int, n_vocab: int,
    matrix: str, v_type: str, down: str, embd: str, output: str | None, name: str,
) -> tuple[dict[str, int | float | str | bool], list[Tensor]]:  # fmt: skip
    kv = n_embd // n_head * n_head_kv
    tensors: list[Tensor] = [("token_embd.weight", (n_embd, n_vocab), embd)]
    for i in range(n_layer):
        b = f"blk.{i}."
        tensors += [
            (b + "attn_norm.weight", (n_embd,), "F32"),
            (b + "attn_q.weight", (n_embd, n_embd), matrix),
            (b + "attn_k.weight", (n_embd, kv), matrix),
            (b + "attn_v.weight", (n_embd, kv), v_type),
            (b + "attn_output.weight", (n_embd, n_embd), matrix),
            (b + "ffn_norm.weight", (n_embd,), "F32"),
            (b + "ffn_gate.weight", (n_embd, n_ff), matrix),
            (b + "ffn_up.weight", (n_embd, n_ff), matrix),
            (b + "ffn_down.weight", (n_ff, n_embd), down),
        ]
    tensors.append(("output_norm.weight", (n_embd,), "F32"))
    if output:
        tensors.append(("output.weight", (n_embd, n_vocab), output))
    metadata: dict[str, int | float | str | bool] = {
        "general.architecture": "llama",
        "general.name": name,
        "llama.block_count": n_layer,
        "llama.context_length": 131072,
        "llama.embedding_length": n_embd,
        "llama.feed_forward_length": n_ff,
        "llama.attention.head_count": n_head,
        "llama.attention.head_count_kv": n_head_kv,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "llama.rope.dimension_count": n_embd // n_head,
        "llama.vocab_size": n_vocab,
        "tokenizer.ggml.model": "none",
    }
    return metadata, tensors


SHAPES = {
    # SmolLM2-135M-Instruct.Q4_1.gguf: 30 layers of 576, 9 heads (3 KV), FFN 1536, vocab 49152, tied
    "demo": lambda: llama(30, 576, 1536, 9, 3, 49152, "Q4_1", "Q4_1", "Q4_1", "Q8_0", None, "demo-shaped"),
    "llama3-8b": lambda: llama(32, 4096, 14336, 32, 8, 128256, "Q4_K", "Q6_K", "Q6_K", "Q6_K", "Q6_K", "llama3-8b"),
}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in SHAPES:
        sys.exit(f"usage: make_gguf.py {{{','.join(SHAPES)}}} OUT.gguf")
    md, ts = SHAPES[sys.argv[1]]()
    out = write(Path(sys.argv[2]), md, ts)
    print(f"{out}: {out.stat().st_size / 2**30:.2f} GiB (sparse)")
