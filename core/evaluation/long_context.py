"""The context the long-context domain is scored at: the person's own, capped by this machine's memory.

A q4 KV cache that is fine at 512 tokens can fail at 16K, so scoring the long document at a fixed
4,096 tokens would miss exactly the failure a person with `-c 16384` has. The document is scored in
one chunk of the person's context (repeated to fill it when shorter: the runner's `fill`), unless
scoring a chunk that long would not fit in part of the free memory here; then it is scored at the
longest chunk that fits, and the comparison says so.
"""

from __future__ import annotations

from core.numbers import plain

MEMORY_SHARE = 0.5  # a scoring chunk may use at most this share of the available memory
MIN_LONG_CHUNK = 256


def scoring_context(model: str, ctx: int, available: int | None = None) -> tuple[int, str | None]:
    """The largest chunk up to `ctx` whose scoring fits in part of this machine's free memory, and why it is
    shorter than `ctx` when it is (None when it is not)."""
    from core.model.inspection import inspect_model

    if available is None:
        import psutil

        available = int(psutil.virtual_memory().available)
    p = inspect_model(model)
    layers, kv_heads = p.block_count or 32, p.head_count_kv or 8
    dims = (p.key_length or 128) + (p.value_length or 128)
    vocab = p.vocab_size or 32000
    per_token = layers * kv_heads * dims * 2 + vocab * 4 // 2 + (p.embedding_length or 4096) * 4 * 8
    budget = int(available * MEMORY_SHARE) - p.file_size
    fits = max(MIN_LONG_CHUNK, budget // max(1, per_token) // MIN_LONG_CHUNK * MIN_LONG_CHUNK)
    if fits >= ctx:
        return ctx, None
    return fits, (
        f"Scored at {fits:,} tokens of context, not your {ctx:,}: a longer chunk would not fit in this machine's "
        f"free memory ({plain(available / 2**30)} GiB)."
    )


def long_chunk(models: list[str], ctx: int, available: int | None = None) -> tuple[int, str | None]:
    """The long-context chunk for a comparison of `models` (run one after the other) at the person's `ctx`: even,
    and capped by the largest model's needs."""
    chunk, why = ctx, None
    for model in models:
        fits, capped = scoring_context(model, ctx, available)
        if fits < chunk:
            chunk, why = fits, capped
    return chunk - chunk % 2, why
