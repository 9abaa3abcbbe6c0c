"""What a model folder's config.json says the weights hold, to tell a complete download from a stub.

A GPTQ / AWQ / EXL2 / safetensors folder whose weight file stopped downloading early (or was replaced
by a Git LFS pointer or an 89-byte placeholder) still has a valid safetensors header, so every number
read from it looks sane: "4 parameters", "32 bits per weight". The config declares the shape, and the
shape fixes the parameter count; a folder holding far fewer is incomplete.

The count here is a *lower bound*, so a real model never falls under it: embeddings counted once (as
if tied), attention with the config's key/value heads, a two-matrix MLP (gated MLPs have three), and
one expert's worth of MLP per layer for a mixture of experts (`intermediate_size` of the dense layers).
"""

from __future__ import annotations

from typing import Any

# A folder holding less than this share of the lower bound is incomplete: quantized weights are counted
# by their unpacked parameters (core.model.folder_profile._group), so a complete quant counts in full.
INCOMPLETE_SHARE = 0.5


def _int(cfg: dict[str, Any], *keys: str) -> int | None:
    for k in keys:
        v = cfg.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def declared_parameters(cfg: dict[str, Any]) -> int | None:
    """A lower bound on the parameters the config's shape declares; None when the config lacks the shape."""
    hidden = _int(cfg, "hidden_size", "n_embd", "d_model")
    layers = _int(cfg, "num_hidden_layers", "n_layer", "num_layers")
    vocab = _int(cfg, "vocab_size")
    if hidden is None or layers is None or vocab is None:
        return None
    ff = _int(cfg, "intermediate_size", "n_inner", "ffn_dim") or 4 * hidden
    heads = _int(cfg, "num_attention_heads", "n_head") or 1
    kv_heads = _int(cfg, "num_key_value_heads") or heads
    head_dim = _int(cfg, "head_dim") or hidden // heads
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim  # q, o + k, v
    mlp = 2 * hidden * ff
    return vocab * hidden + layers * (attention + mlp)


def count_words(n: int) -> str:
    """'7.24 billion', '135 million', '4'."""
    if n >= 10**9:
        return f"{n / 1e9:.2f} billion"
    if n >= 10**6:
        return f"{n / 1e6:.0f} million"
    return f"{n:,}"
