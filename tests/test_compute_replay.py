"""The fast compute-buffer replay (a few layers, until the allocator repeats itself) equals the whole replay.

compute_graph.compute_buffer_bytes builds only the first layers and the last one and stops when the
allocator's state repeats from one period of layers to the next; full_replay_bytes builds and
replays every layer. They must agree to the byte on every kind of shape the estimate meets.
"""

from __future__ import annotations

import itertools

import pytest

from core.memory.compute_graph import (
    GraphSetup,
    GraphShape,
    build_llama_graph,
    compute_buffer_bytes,
    full_replay_bytes,
    input_bytes,
    layer_period,
)

PRIMES = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37}
SHAPES = {
    "llama-70b": GraphShape(80, 8192, 64, 8, 128, 128, 28672, 128256),
    "mixtral": GraphShape(32, 4096, 32, 8, 128, 128, 14336, 32000, 8, 2, 14336),
    "qwen3-moe": GraphShape(48, 2048, 32, 4, 128, 128, 6144, 151936, 128, 8, 768),
    "shared-experts": GraphShape(27, 2048, 16, 16, 128, 128, 10944, 102400, 64, 6, 1408, 2816),
    "gemma3-pattern": GraphShape(
        34, 2560, 8, 4, 256, 256, 10240, 262144, swa_layers=tuple(i % 6 < 5 for i in range(34))
    ),
    "gemma2-pattern": GraphShape(
        26, 2304, 8, 4, 256, 256, 9216, 256000, swa_layers=tuple(i % 2 < 1 for i in range(26))
    ),
    "irregular-pattern": GraphShape(
        40, 512, 8, 8, 64, 64, 1024, 1000, swa_layers=tuple(i in PRIMES for i in range(40))
    ),
    "three-layers": GraphShape(3, 256, 4, 4, 64, 64, 512, 1000),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_fast_replay_equals_the_whole_graph(name: str) -> None:
    shape = SHAPES[name]
    for n_tok, n_kv, (fa, rot) in itertools.product((512, 1), (256, 8192), ((True, True), (False, False))):
        setup = GraphSetup(n_tok, n_tok, n_kv, min(n_kv, 1536) if shape.swa_layers else n_kv, fa, rot, rot)
        assert compute_buffer_bytes(shape, setup) == full_replay_bytes(shape, setup), (name, setup)
    whole = build_llama_graph(shape, setup)
    assert input_bytes(shape, setup) == sum(t.nbytes for t in whole.leafs if t.input)


def test_layer_period() -> None:
    assert layer_period(SHAPES["llama-70b"]) == 1
    assert layer_period(SHAPES["gemma3-pattern"]) == 6 and layer_period(SHAPES["gemma2-pattern"]) == 2
    assert layer_period(SHAPES["irregular-pattern"]) == 0  # replayed whole
