"""The model's shape, checked once where it is read: every later computation may trust it.

A GGUF header is data from the file, and its counts drive work: the memory estimate loops over
layers, replays a graph with a node per used expert, and sizes buffers from products of
dimensions. A header claiming three billion layers, a million experts, or a block count of -1
once made `fit` allocate 24 GB, hang, or crash. So the profile is checked here, against the file
itself and against llama.cpp's own limits, and an impossible file is refused with a plain message:

- the layer count must match the layers the tensors name (blk.0 ... blk.N-1, each present once);
- counts and dimensions must be positive and within llama.cpp's limits (LLAMA_MAX_LAYERS and
  LLAMA_MAX_EXPERTS are 512 in src/llama-hparams.h) or far above any released model;
- the experts used per token cannot exceed the experts there are, the KV heads must divide the
  heads (grouped-query attention), and without an explicit head size the heads must divide the
  embedding;
- the graph work (layers x experts used) stays within a bound that the estimate replays quickly.
"""

from __future__ import annotations

from core.errors import ImpossibleModelShapeError
from core.model.profile import ModelProfile

MAX_LAYERS = 512  # LLAMA_MAX_LAYERS
MAX_EXPERTS = 512  # LLAMA_MAX_EXPERTS
MAX_EMBEDDING = 1 << 16  # the largest released models use 16-26K
MAX_FEED_FORWARD = 1 << 19
MAX_HEADS = 4096
MAX_HEAD_SIZE = 4096
MAX_VOCAB = 1 << 24
MAX_CONTEXT = 1 << 30
MAX_LAYER_EXPERT_WORK = 1 << 14  # layers x experts used per token: 94 x 8 for the largest MoE models


def check_shape(profile: ModelProfile, head_size_given: bool = True) -> None:
    """Raise ImpossibleModelShapeError if the profile's shape cannot be a real model (see module docstring)."""
    name = profile.display_name
    limits = {
        "block count (layers)": (profile.block_count, MAX_LAYERS),
        "embedding length": (profile.embedding_length, MAX_EMBEDDING),
        "feed-forward length": (profile.feed_forward_length, MAX_FEED_FORWARD),
        "attention head count": (profile.head_count, MAX_HEADS),
        "KV head count": (profile.head_count_kv, MAX_HEADS),
        "key head size": (profile.key_length, MAX_HEAD_SIZE),
        "value head size": (profile.value_length, MAX_HEAD_SIZE),
        "expert count": (profile.expert_count, MAX_EXPERTS),
        "experts used per token": (profile.expert_used_count, MAX_EXPERTS),
        "shared expert count": (profile.expert_shared_count, MAX_EXPERTS),
        "vocabulary size": (profile.vocab_size, MAX_VOCAB),
        "context length": (profile.context_length, MAX_CONTEXT),
        "sliding window": (profile.sliding_window, MAX_CONTEXT),
    }
    for what, (value, limit) in limits.items():
        if value is None:
            continue
        if value < 0:
            raise ImpossibleModelShapeError(f"{name} says its {what} is {value:,}, which is impossible.")
        if value > limit:
            raise ImpossibleModelShapeError(
                f"{name} says its {what} is {value:,}, more than llama.cpp or any released model uses "
                f"(at most {limit:,})."
            )
    _check_layers(profile)
    _check_heads(profile, head_size_given)
    _check_experts(profile)
    pattern = profile.sliding_window_pattern
    if isinstance(pattern, int) and not 0 <= pattern <= MAX_LAYERS:
        raise ImpossibleModelShapeError(f"{name} says its sliding-window pattern repeats every {pattern:,} layers.")


def _check_layers(profile: ModelProfile) -> None:
    name, n_layer = profile.display_name, profile.block_count
    layers = {t.layer for t in profile.tensors if t.layer is not None}
    if n_layer is None or not profile.tensors:
        return  # no layer count to hold the tensors to (a vocabulary-only file, a projector): nothing to estimate
    if n_layer == 0 and layers:
        raise ImpossibleModelShapeError(f"{name} says it has no layers, but its tensors belong to {len(layers):,}.")
    if n_layer and not layers:
        raise ImpossibleModelShapeError(
            f"{name} says it has {n_layer:,} layers, but none of its {len(profile.tensors):,} tensors belongs to a layer."
        )
    beyond = sorted(x for x in layers if x >= n_layer)
    if beyond:
        raise ImpossibleModelShapeError(
            f"{name} says it has {n_layer:,} layers, but it has tensors for layer {beyond[-1]:,}."
        )
    missing = n_layer - len(layers)
    if missing:
        first = min(x for x in range(n_layer) if x not in layers)
        raise ImpossibleModelShapeError(
            f"{name} says it has {n_layer:,} layers, but {missing:,} of them have no tensors (the first is layer "
            f"{first:,})."
        )


def _check_heads(profile: ModelProfile, head_size_given: bool) -> None:
    name = profile.display_name
    n_head, n_head_kv, n_embd = profile.head_count or 0, profile.head_count_kv or 0, profile.embedding_length or 0
    if n_head and n_head_kv and n_head % n_head_kv:
        raise ImpossibleModelShapeError(
            f"{name} says it has {n_head:,} attention heads and {n_head_kv:,} KV heads; each KV head must serve "
            "a whole number of attention heads."
        )
    if n_head and n_embd and not head_size_given and n_embd % n_head:
        raise ImpossibleModelShapeError(
            f"{name} says its embedding of {n_embd:,} splits into {n_head:,} heads, which does not divide evenly, "
            "and it gives no head size."
        )


def _check_experts(profile: ModelProfile) -> None:
    name = profile.display_name
    n_expert, n_used = profile.expert_count, profile.expert_used_count
    if n_used > n_expert:
        raise ImpossibleModelShapeError(f"{name} says it uses {n_used:,} experts per token but has only {n_expert:,}.")
    work = (profile.block_count or 0) * max(n_used, 1)
    if work > MAX_LAYER_EXPERT_WORK:
        raise ImpossibleModelShapeError(
            f"{name} says it has {profile.block_count:,} layers using {n_used:,} experts each, far beyond any "
            "released model."
        )
