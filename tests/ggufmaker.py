"""Make GGUF files of real shapes for tests and benchmarks, with gguf.GGUFWriter.

Headers are written by the gguf package; the tensor data is a sparse hole (the file is extended
with truncate), so a 40 GB 70B-shaped file costs nothing on disk. The weights need not mean
anything: readers and memory estimates only look at the directory.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import gguf
import numpy as np

Q = gguf.GGMLQuantizationType


def tensor_bytes(ne: Sequence[int], qtype: Q) -> int:
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n = 1
    for d in ne:
        n *= d
    return n // block * size


def write_gguf(
    path: Path,
    arch: str = "llama",
    metadata: dict[str, Any] | None = None,
    tensors: Iterable[tuple[str, Sequence[int], Q]] = (),
    arrays: dict[str, list[Any]] | None = None,
    extra: Callable[[gguf.GGUFWriter], None] | None = None,
) -> Path:
    """A GGUF with the given metadata and tensor directory; `ne` is ggml order (row length first)."""
    w = gguf.GGUFWriter(path, arch)
    for key, value in (metadata or {}).items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value) if 0 <= value < 2**32 else w.add_uint64(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        else:
            w.add_string(key, str(value))
    for key, items in (arrays or {}).items():
        w.add_array(key, items)
    if extra is not None:
        extra(w)
    total = 0
    for name, ne, qtype in tensors:
        nbytes = tensor_bytes(ne, qtype)
        w.add_tensor_info(name, list(reversed(ne)), np.dtype(np.float32), nbytes, raw_dtype=qtype)
        total += nbytes + (-nbytes) % 32
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    size = path.stat().st_size
    os.truncate(path, size + (-size) % 32 + total)
    return path


def llama_tensors(
    n_layer: int, n_embd: int, n_ff: int, n_head: int, n_head_kv: int, n_vocab: int,
    qtype: Q = Q.Q4_K, embd_type: Q = Q.Q6_K, out_type: Q | None = Q.Q6_K,
    n_expert: int = 0,
) -> list[tuple[str, Sequence[int], Q]]:  # fmt: skip
    """The tensor directory of a llama-style model (dense, or MoE when n_expert > 0)."""
    head_dim = n_embd // n_head
    kv = head_dim * n_head_kv
    out: list[tuple[str, Sequence[int], Q]] = [("token_embd.weight", (n_embd, n_vocab), embd_type)]
    for i in range(n_layer):
        b = f"blk.{i}."
        out += [
            (b + "attn_norm.weight", (n_embd,), Q.F32),
            (b + "attn_q.weight", (n_embd, n_embd), qtype),
            (b + "attn_k.weight", (n_embd, kv), qtype),
            (b + "attn_v.weight", (n_embd, kv), qtype),
            (b + "attn_output.weight", (n_embd, n_embd), qtype),
            (b + "ffn_norm.weight", (n_embd,), Q.F32),
        ]
        if n_expert:
            out += [
                (b + "ffn_gate_inp.weight", (n_embd, n_expert), Q.F32),
                (b + "ffn_gate_exps.weight", (n_embd, n_ff, n_expert), qtype),
                (b + "ffn_up_exps.weight", (n_embd, n_ff, n_expert), qtype),
                (b + "ffn_down_exps.weight", (n_ff, n_embd, n_expert), qtype),
            ]
        else:
            out += [
                (b + "ffn_gate.weight", (n_embd, n_ff), qtype),
                (b + "ffn_up.weight", (n_embd, n_ff), qtype),
                (b + "ffn_down.weight", (n_ff, n_embd), qtype),
            ]
    out.append(("output_norm.weight", (n_embd,), Q.F32))
    if out_type is not None:
        out.append(("output.weight", (n_embd, n_vocab), out_type))
    return out


def llama_metadata(
    n_layer: int, n_embd: int, n_ff: int, n_head: int, n_head_kv: int, n_ctx: int = 8192,
    file_type: int = gguf.LlamaFileType.MOSTLY_Q4_K_M, n_expert: int = 0, n_expert_used: int = 0,
) -> dict[str, Any]:  # fmt: skip
    md: dict[str, Any] = {
        "general.name": "Test Model",
        "general.file_type": int(file_type),
        "llama.block_count": n_layer,
        "llama.context_length": n_ctx,
        "llama.embedding_length": n_embd,
        "llama.feed_forward_length": n_ff,
        "llama.attention.head_count": n_head,
        "llama.attention.head_count_kv": n_head_kv,
    }
    if n_expert:
        md["llama.expert_count"] = n_expert
        md["llama.expert_used_count"] = n_expert_used
    return md


def write_vocab_gguf(path: Path, n_vocab: int, n_merges: int) -> Path:
    """A small model with a big tokenizer: the case where GGUFReader is slowest."""

    def tokenizer(w: gguf.GGUFWriter) -> None:
        w.add_tokenizer_model("gpt2")
        w.add_token_list([f"tok{i}" for i in range(n_vocab)])
        w.add_token_types([1] * n_vocab)
        w.add_token_merges([f"t{i} k{i}" for i in range(n_merges)])
        w.add_vocab_size(n_vocab)

    return write_gguf(
        path,
        metadata=llama_metadata(2, 256, 512, 4, 4),
        tensors=llama_tensors(2, 256, 512, 4, 4, n_vocab, Q.Q8_0, Q.Q8_0, Q.Q8_0),
        extra=tokenizer,
    )


def patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def copy_with_metadata(src: Path, dst: Path, drop: Sequence[str] = (), change: dict[str, Any] | None = None) -> Path:
    """A real model file with some metadata removed or changed (tensors copied as they are), to make
    llama.cpp itself print its warnings (no pre-tokenizer, a BOS added twice...)."""
    reader = gguf.GGUFReader(src)
    arch = str(reader.fields["general.architecture"].contents())
    w = gguf.GGUFWriter(dst, arch)
    change = dict(change or {})
    for name, fld in reader.fields.items():
        if name in drop or name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name in change:
            continue
        vtype = fld.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_key_value(name, fld.contents(), vtype, sub_type=fld.types[-1])
        else:
            w.add_key_value(name, fld.contents(), vtype)
    for key, value in change.items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        else:
            w.add_string(key, str(value))
    for t in reader.tensors:
        w.add_tensor(t.name, t.data, raw_shape=list(t.data.shape), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dst
