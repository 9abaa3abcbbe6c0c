"""Make EXL2 / GPTQ / AWQ / plain safetensors model folders of real layouts for tests."""

from __future__ import annotations

import json
import struct
from pathlib import Path

N_LAYER, D, FF, VOCAB = 2, 256, 512, 1000

# Bytes per element of each safetensors dtype (the format's own list); the reader needs none of it,
# since every header gives its tensors' byte offsets.
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}  # fmt: skip


def write_safetensors(path: Path, tensors: dict[str, tuple[str, tuple[int, ...]]]) -> Path:
    """A real safetensors header; the data is a sparse hole of the right size."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = DTYPE_BYTES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    return path


def linear(prefix: str, fmt: str, n_in: int, n_out: int, bits: int = 4, group: int = 128):
    if fmt == "gptq":
        return {
            f"{prefix}.qweight": ("I32", (n_in * bits // 32, n_out)),
            f"{prefix}.qzeros": ("I32", (n_in // group, n_out * bits // 32)),
            f"{prefix}.scales": ("F16", (n_in // group, n_out)),
            f"{prefix}.g_idx": ("I32", (n_in,)),
        }
    if fmt == "awq":
        return {
            f"{prefix}.qweight": ("I32", (n_in, n_out * bits // 32)),
            f"{prefix}.qzeros": ("I32", (n_in // group, n_out * bits // 32)),
            f"{prefix}.scales": ("F16", (n_in // group, n_out)),
        }
    if fmt == "exl2":
        return {
            f"{prefix}.q_weight": ("I32", (n_in * bits // 32, n_out)),
            f"{prefix}.q_invperm": ("I16", (n_in,)),
            f"{prefix}.q_scale": ("I32", (n_in // 32, n_out // 8)),
            f"{prefix}.q_scale_max": ("F16", (n_in // 32,)),
            f"{prefix}.q_groups": ("I16", (2 * n_in // 32,)),
        }
    return {f"{prefix}.weight": ("F16", (n_out, n_in))}


def model_tensors(fmt: str, bits: int = 4) -> dict[str, tuple[str, tuple[int, ...]]]:
    t: dict[str, tuple[str, tuple[int, ...]]] = {"model.embed_tokens.weight": ("F16", (VOCAB, D))}
    for i in range(N_LAYER):
        p = f"model.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            t.update(linear(p + "self_attn." + proj, fmt, D, D, bits))
        t.update(linear(p + "mlp.gate_proj", fmt, D, FF, bits))
        t.update(linear(p + "mlp.up_proj", fmt, D, FF, bits))
        t.update(linear(p + "mlp.down_proj", fmt, FF, D, bits))
        t[p + "input_layernorm.weight"] = ("F16", (D,))
        t[p + "post_attention_layernorm.weight"] = ("F16", (D,))
    t["model.norm.weight"] = ("F16", (D,))
    t["lm_head.weight"] = ("F16", (VOCAB, D))
    return t


EXPECTED_PARAMS = 2 * VOCAB * D + N_LAYER * (4 * D * D + 3 * D * FF + 2 * D) + D


def make_folder(root: Path, fmt: str, qc: dict | None, card: str | None = None, chat: bool = True) -> Path:
    folder = root / f"Model-{fmt}"
    folder.mkdir()
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": D,
        "intermediate_size": FF, "num_hidden_layers": N_LAYER, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 4096, "vocab_size": VOCAB,
        "torch_dtype": "float16",
    }  # fmt: skip
    if qc is not None:
        config["quantization_config"] = qc
    (folder / "config.json").write_text(json.dumps(config))
    if chat:
        (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    if card:
        (folder / "README.md").write_text(card)
    write_safetensors(folder / "model.safetensors", model_tensors(fmt, int(qc["bits"]) if qc else 16))
    return folder


CARD = """---
base_model: Qwen/Qwen3-8B
base_model_relation: quantized
datasets:
- wikitext
language:
- en
- fr
license: apache-2.0
---
# A quant
"""
