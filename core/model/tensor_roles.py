"""What each tensor does in the network, from its name.

Quantization damage depends on where the bits were taken from: an aggressively quantized router
or attention block hurts more than the same bits taken from feed-forward weights. Names follow
llama.cpp's GGUF convention (`blk.N.attn_q.weight`, `ffn_gate_exps`, `ffn_gate_inp`) and the
Hugging Face one (`model.layers.N.self_attn.q_proj`, `mlp.experts`, `mlp.gate`).
"""

from __future__ import annotations

import re

from core.textnum import LAYERS, whole_or_none

ROLES = (
    "embeddings",
    "output",
    "attention",
    "feed_forward",
    "experts",
    "shared_experts",
    "router",
    "norms",
    "other",
)

_LAYER = re.compile(r"(?:^|\.)(?:blk|layers|h|block|blocks)\.(\d+)\.")


def layer_of(name: str) -> int | None:
    m = _LAYER.search(name)
    return whole_or_none(m.group(1), LAYERS) if m else None


def role_of(name: str) -> str:
    n = name.lower()
    leaf = n.rsplit(".", 2)
    stem = ".".join(leaf[-2:]) if len(leaf) >= 2 else n
    if "norm" in stem or n.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
        return "norms"
    if n.startswith(("token_embd", "per_layer_token_embd", "model.embed_tokens", "embed_tokens", "transformer.wte")):
        return "embeddings"
    if n.startswith(("output.", "lm_head")) or n == "output.weight":
        return "output"
    if "ffn_gate_inp" in n or re.search(r"\.(mlp|block_sparse_moe)\.gate\.", n) or ".router." in n:
        return "router"
    if "shexp" in n or "shared_expert" in n:
        return "shared_experts"
    if "_exps" in n or ".experts." in n:
        return "experts"
    if ".attn" in n or "self_attn" in n or ".attention." in n:
        return "attention"
    if ".ffn_" in n or ".mlp." in n or ".feed_forward." in n:
        return "feed_forward"
    return "other"
