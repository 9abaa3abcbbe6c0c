"""7B-, 32B- and 70B-shaped GGUF files: real architectures' shapes and vocabularies, sparse data.

Each file has the tensor directory of a real model at Q4_K_M (llama-quantize's rule: Q4_K matrices,
Q6_K output, and Q6_K `attn_v`/`ffn_down` in the layers `use_more_bits` picks; the token embeddings
Q4_K), its real vocabulary (the tokenizer of llama.cpp's own vocabulary-test files,
models/ggml-vocab-qwen2.gguf and ggml-vocab-llama-bpe.gguf, which the llama-cpp-python sdist ships and
tests/bench/build_llama_tools.sh unpacks), padded to the embedding's rows the way convert_hf_to_gguf
pads (`[PADn]`, type UNUSED), and a sparse hole for data: every weight reads as zero, so only time and
memory mean anything. Written with the gguf package (tests/ggufmaker.write_gguf).

Shapes, from each model's config.json on the Hub:
- Qwen2-7B: 28 layers, 3584 wide, FFN 18944, 28 heads / 4 KV heads, vocabulary 152064 rows, 32K context.
- Qwen2.5-32B: 64 layers, 5120 wide, FFN 27648, 40 heads / 8 KV heads, vocabulary 152064 rows, 32K.
- Llama-3-70B: 80 layers, 8192 wide, FFN 28672, 64 heads / 8 KV heads, vocabulary 128256, 8K.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ggufmaker import write_gguf

Q = gguf.GGMLQuantizationType


@dataclass(frozen=True)
class Shape:
    name: str
    arch: str  # "qwen2" (biases on q/k/v) or "llama"
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int  # embedding rows
    n_ctx_train: int
    rope_base: float
    vocab_file: str  # in llama.cpp's models/ folder


SHAPES = {
    "7B": Shape("Qwen2-7B", "qwen2", 28, 3584, 18944, 28, 4, 152064, 32768, 1e6, "ggml-vocab-qwen2.gguf"),
    "32B": Shape("Qwen2.5-32B", "qwen2", 64, 5120, 27648, 40, 8, 152064, 32768, 1e6, "ggml-vocab-qwen2.gguf"),
    "70B": Shape("Llama-3-70B", "llama", 80, 8192, 28672, 64, 8, 128256, 8192, 5e5, "ggml-vocab-llama-bpe.gguf"),
}


def use_more_bits(i: int, n: int) -> bool:
    """llama-quantize (src/llama-quant.cpp): the layers Q4_K_M gives Q6_K attn_v / ffn_down."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensors(s: Shape) -> list[tuple[str, Sequence[int], Q]]:
    """The directory in the order llama.cpp's converter writes it: embeddings, the blocks, the output."""
    head = s.n_embd // s.n_head
    kv = head * s.n_head_kv
    out: list[tuple[str, Sequence[int], Q]] = [("token_embd.weight", (s.n_embd, s.n_vocab), Q.Q4_K)]
    for i in range(s.n_layer):
        b = f"blk.{i}."
        more = Q.Q6_K if use_more_bits(i, s.n_layer) else Q.Q4_K
        out += [(b + "attn_norm.weight", (s.n_embd,), Q.F32)]
        for name, rows, qtype in (("attn_q", s.n_embd, Q.Q4_K), ("attn_k", kv, Q.Q4_K), ("attn_v", kv, more)):
            out.append((f"{b}{name}.weight", (s.n_embd, rows), qtype))
            if s.arch == "qwen2":
                out.append((f"{b}{name}.bias", (rows,), Q.F32))
        out += [
            (b + "attn_output.weight", (s.n_embd, s.n_embd), Q.Q4_K),
            (b + "ffn_norm.weight", (s.n_embd,), Q.F32),
            (b + "ffn_gate.weight", (s.n_embd, s.n_ff), Q.Q4_K),
            (b + "ffn_up.weight", (s.n_embd, s.n_ff), Q.Q4_K),
            (b + "ffn_down.weight", (s.n_ff, s.n_embd), more),
        ]
    out += [("output_norm.weight", (s.n_embd,), Q.F32), ("output.weight", (s.n_embd, s.n_vocab), Q.Q6_K)]
    return out


def _vocab(path: Path, n_rows: int) -> dict[str, Any]:
    r = gguf.GGUFReader(path)
    tokens = list(r.fields["tokenizer.ggml.tokens"].contents())
    types = list(r.fields["tokenizer.ggml.token_type"].contents())
    pad = range(len(tokens), n_rows)
    return {
        "model": r.fields["tokenizer.ggml.model"].contents(),
        "pre": r.fields["tokenizer.ggml.pre"].contents(),
        "tokens": tokens[:n_rows] + [f"[PAD{i}]" for i in pad],
        "types": types[:n_rows] + [int(gguf.TokenType.UNUSED)] * len(pad),
        "merges": list(r.fields["tokenizer.ggml.merges"].contents()),
        "bos": int(r.fields["tokenizer.ggml.bos_token_id"].contents()),
        "eos": int(r.fields["tokenizer.ggml.eos_token_id"].contents()),
    }


def write_shape(s: Shape, path: Path, models_dir: Path | None) -> Path:
    """The sparse Q4_K_M file of shape `s`. Without `models_dir` it has no tokenizer (llama.cpp cannot run
    it, but the memory estimate and the log-vs-estimate table only read its tensor directory)."""
    v = _vocab(models_dir / s.vocab_file, s.n_vocab) if models_dir is not None else None

    def tokenizer(w: gguf.GGUFWriter) -> None:
        if v is None:
            return
        w.add_tokenizer_model(v["model"])
        w.add_tokenizer_pre(v["pre"])
        w.add_token_list(v["tokens"])
        w.add_token_types(v["types"])
        w.add_token_merges(v["merges"])
        w.add_bos_token_id(v["bos"])
        w.add_eos_token_id(v["eos"])
        w.add_add_bos_token(s.arch == "llama")

    a = s.arch
    md: dict[str, Any] = {
        "general.name": f"{s.name} (sparse, Q4_K_M shape)",
        "general.file_type": int(gguf.LlamaFileType.MOSTLY_Q4_K_M),
        f"{a}.block_count": s.n_layer,
        f"{a}.context_length": s.n_ctx_train,
        f"{a}.embedding_length": s.n_embd,
        f"{a}.feed_forward_length": s.n_ff,
        f"{a}.attention.head_count": s.n_head,
        f"{a}.attention.head_count_kv": s.n_head_kv,
        f"{a}.attention.layer_norm_rms_epsilon": 1e-6 if a == "qwen2" else 1e-5,
        f"{a}.rope.freq_base": s.rope_base,
    }
    if a == "llama":
        md[f"{a}.vocab_size"] = s.n_vocab
        md[f"{a}.rope.dimension_count"] = s.n_embd // s.n_head
    tmp = path.with_suffix(".tmp")
    write_gguf(tmp, arch=a, metadata=md, tensors=tensors(s), extra=tokenizer)
    tmp.replace(path)
    return path
