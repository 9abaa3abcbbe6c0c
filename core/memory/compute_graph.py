"""How big llama.cpp's compute buffer is: replay its graph through its own allocator.

llama.cpp does not compute activations into fresh memory: before the first token it builds the
worst-case graph (one micro-batch of `n_ubatch` tokens against a full KV cache) and lets
`ggml-alloc` lay every intermediate tensor out in one buffer, reusing memory as soon as a tensor's
last reader has run and computing element-wise ops in place. The buffer it reserves is the high
water mark of that layout, holes included. A sum of "the big tensors" misses the holes (they are
worth tens of MiB on an 8B model) and a per-architecture fudge factor misses the shape changes, so
this module does what llama.cpp does:

1. build the same graph, node for node, in the same order (`ggml_build_forward_expand` is a
   depth-first walk of each node's sources, left to right), from `src/llama-graph.cpp` and
   `src/models/llama.cpp` of the llama.cpp that llama-cpp-python 0.3.36 vendors;
2. run `ggml_gallocr`'s reservation over it (`ggml/src/ggml-alloc.c`): inputs first, then every
   node with best-fit reuse of freed blocks, in-place reuse of a parent whose only reader is this
   node, and frees when a tensor's reader count drops to zero.

The graph is llama's (llama 1-3, Mistral, Mixtral, SmolLM, Granite and everything converted as
`llama`), generalised with separate key/value head sizes, sliding-window layers and optional
shared experts so that other decoder-only transformers are approximated by their closest llama
shape. The result matches llama.cpp's `CPU compute buffer size` to the byte for llama-shaped
models (see tests/test_memory_agreement.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# Element sizes of the types that appear in compute graphs (ggml's type_traits).
_TYPE_SIZE = {"f32": 4, "f16": 2, "bf16": 2, "i32": 4, "i64": 8}

# ggml_op_can_inplace(): ops whose result may overwrite their first eligible parent.
_INPLACE_OPS = frozenset({"scale", "add", "sub", "mul", "div", "unary", "rope", "rms_norm", "clamp", "soft_max"})

CPU_ALIGNMENT = 32  # TENSOR_ALIGNMENT: ggml_backend_cpu_buffer_type_get_alignment

_END = 1 << 62  # the last free block stands for "the rest of the buffer"


class Tensor:
    """The part of a `ggml_tensor` the allocator looks at: shape, strides, sources, view base."""

    __slots__ = ("external", "input", "nb", "ne", "op", "output", "src", "type", "view_offs", "view_src")

    def __init__(
        self,
        op: str,
        ne: Sequence[int],
        type_: str = "f32",
        src: Iterable[Tensor] = (),
        view_src: Tensor | None = None,
        view_offs: int = 0,
        nb: Sequence[int] | None = None,
    ) -> None:
        self.op = op
        self.ne = tuple(ne) + (1,) * (4 - len(ne))
        self.type = type_
        self.src = list(src)
        self.view_src = view_src
        self.view_offs = view_offs
        self.nb = tuple(nb) if nb is not None else _contiguous_strides(self.ne, type_)
        self.input = False
        self.output = False
        self.external = False  # weights and KV cache: allocated elsewhere, never by the graph

    @property
    def nbytes(self) -> int:
        n = 1
        for d in self.ne:
            n *= d
        return n * _TYPE_SIZE.get(self.type, 1)


def _contiguous_strides(ne: Sequence[int], type_: str) -> tuple[int, ...]:
    nb = [_TYPE_SIZE.get(type_, 1)]
    for i in range(1, 4):
        nb.append(nb[-1] * ne[i - 1])
    return tuple(nb)


# --- the ggml operations the llama graph uses ------------------------------------------------------


def leaf(ne: Sequence[int], type_: str = "f32", *, external: bool = False, is_input: bool = False) -> Tensor:
    t = Tensor("none", ne, type_)
    t.external = external
    t.input = is_input
    return t


def _view(a: Tensor, ne: Sequence[int], nb: Sequence[int] | None = None, offs: int = 0, op: str = "view") -> Tensor:
    base = a.view_src if a.view_src is not None else a
    offset = offs + (a.view_offs if a.view_src is not None else 0)
    return Tensor(op, ne, a.type, [a], view_src=base, view_offs=offset, nb=nb)


def reshape(a: Tensor, *ne: int) -> Tensor:
    return _view(a, ne, op="reshape")


def permute(a: Tensor, axes: tuple[int, int, int, int]) -> Tensor:
    ne = [0, 0, 0, 0]
    nb = [0, 0, 0, 0]
    for i in range(4):
        ne[axes[i]] = a.ne[i]
        nb[axes[i]] = a.nb[i]
    return _view(a, ne, nb, op="permute")


def _op(op: str, ne: Sequence[int], src: Iterable[Tensor], type_: str = "f32") -> Tensor:
    return Tensor(op, ne, type_, src)


def mul_mat(a: Tensor, b: Tensor) -> Tensor:
    return _op("mul_mat", (a.ne[1], b.ne[1], b.ne[2], b.ne[3]), [a, b])


def mul_mat_id(a: Tensor, b: Tensor, ids: Tensor) -> Tensor:
    return _op("mul_mat_id", (a.ne[1], ids.ne[0], b.ne[2], 1), [a, b, ids])


def same_shape(op: str, a: Tensor, *others: Tensor) -> Tensor:
    return _op(op, a.ne, [a, *others], a.type)


# --- the graph: ggml_build_forward_expand ---------------------------------------------------------


class Graph:
    """Nodes and leafs in the order ggml records them: a depth-first walk, sources left to right."""

    def __init__(self) -> None:
        self.nodes: list[Tensor] = []
        self.leafs: list[Tensor] = []
        self.marks: list[int] = []  # len(nodes) when each built layer began (see reserve's steady state)
        self._seen: set[int] = set()

    def expand(self, root: Tensor) -> None:
        # iterative post-order walk (deep graphs would overflow Python's recursion limit)
        stack: list[tuple[Tensor, int]] = [(root, 0)]
        while stack:
            t, i = stack.pop()
            if i == 0:
                if id(t) in self._seen:
                    continue
                self._seen.add(id(t))
            if i < len(t.src):
                stack.append((t, i + 1))
                s = t.src[i]
                if id(s) not in self._seen:
                    stack.append((s, 0))
                continue
            (self.leafs if t.op == "none" else self.nodes).append(t)


# --- the allocator: ggml_gallocr_reserve ------------------------------------------------------------


class _DynAllocator:
    """ggml_dyn_tallocr: best fit among free blocks, else the end of the buffer; merges on free."""

    def __init__(self, alignment: int) -> None:
        self.alignment = alignment
        self.free: list[list[int]] = [[0, _END]]  # [offset, size], sorted; the last block is the end
        self.max_size = 0

    def _aligned(self, n: int) -> int:
        return (n + self.alignment - 1) // self.alignment * self.alignment

    def alloc(self, size: int) -> int:
        size = self._aligned(size)
        best, best_size = -1, 0
        for i in range(len(self.free) - 1):
            block_size = self.free[i][1]
            if block_size >= size and (best == -1 or block_size <= best_size):
                best, best_size = i, block_size
        if best == -1:
            best = len(self.free) - 1
        block = self.free[best]
        offset = block[0]
        block[0] += size
        block[1] -= size
        if block[1] == 0:
            del self.free[best]
        self.max_size = max(self.max_size, offset + size)
        return offset

    def release(self, offset: int, size: int) -> None:
        size = self._aligned(size)
        blocks = self.free
        for i, block in enumerate(blocks):
            if block[0] + block[1] == offset:
                block[1] += size
                if i < len(blocks) - 1 and block[0] + block[1] == blocks[i + 1][0]:
                    block[1] += blocks[i + 1][1]
                    del blocks[i + 1]
                return
            if offset + size == block[0]:
                block[0] = offset
                block[1] += size
                if i > 0 and blocks[i - 1][0] + blocks[i - 1][1] == block[0]:
                    blocks[i - 1][1] += block[1]
                    del blocks[i]
                return
        pos = 0
        while pos < len(blocks) and blocks[pos][0] < offset:
            pos += 1
        blocks.insert(pos, [offset, size])


class _Slot:
    __slots__ = ("addr", "allocated", "n_children", "n_views", "tensor", "visited")

    def __init__(self, tensor: Tensor) -> None:
        self.n_children = 0
        self.n_views = 0
        self.allocated = False
        self.addr = 0
        self.tensor = tensor
        self.visited = False


def reserve(graph: Graph, alignment: int = CPU_ALIGNMENT) -> int:
    """Bytes `ggml_gallocr_reserve` asks for to run `graph` (ggml_gallocr_alloc_graph_impl)."""
    return _replay(graph, alignment)[0]


def _replay(graph: Graph, alignment: int, period: int = 0, last_check: int = -1) -> tuple[int, bool]:
    """(bytes reserved, whether the allocator's state repeated after `period` layers).

    With `period` > 0 the state is compared at the layer marks up to mark `last_check`: steady when
    the state at mark i + period equals the one at mark i.
    """
    allocator = _DynAllocator(alignment)
    slots: dict[int, _Slot] = {}

    def slot(t: Tensor) -> _Slot:
        s = slots.get(id(t))
        if s is None:
            s = slots[id(t)] = _Slot(t)
        return s

    def allocate(node: Tensor) -> None:
        s = slot(node)
        s.visited = True
        if node.external or s.allocated or node.view_src is not None:
            return
        s.allocated = True
        if node.op in _INPLACE_OPS:
            for parent in node.src:
                ps = slot(parent)
                if not ps.allocated or parent.output or (parent.view_src is not None and parent.view_src.output):
                    continue
                if parent.type != node.type or parent.ne != node.ne or parent.nb != node.nb:
                    continue
                if ps.n_children != 1 or ps.n_views != 0:
                    continue
                if parent.view_src is None:
                    s.addr, ps.allocated = ps.addr, False
                    return
                vs = slot(parent.view_src)
                if vs.n_views == 1 and vs.n_children == 0 and parent.view_offs == 0:
                    s.addr, ps.allocated, vs.allocated = ps.addr, False, False
                    return
        s.addr = allocator.alloc(node.nbytes)

    def release(node: Tensor) -> None:
        if node.output:
            return
        s = slot(node)
        allocator.release(s.addr, node.nbytes)
        s.allocated = False

    for t in graph.leafs:
        allocate(t)
    for node in graph.nodes:
        if node.view_src is not None:
            slot(node.view_src).n_views += 1
        if node.input:
            allocate(node)
        for parent in node.src:
            slot(parent).n_children += 1
            if parent.input:
                allocate(parent)
    marks = {m: i for i, m in enumerate(graph.marks) if i <= last_check} if period else {}
    seen_states: dict[int, tuple[object, ...]] = {}
    steady = False
    for index, node in enumerate(graph.nodes):
        mark = marks.get(index)
        if mark is not None and not steady:
            state = _state(allocator, slots)
            steady = seen_states.get(mark - period) == state
            seen_states[mark] = state
        for parent in node.src:
            allocate(parent)
        allocate(node)
        for parent in node.src:
            ps = slot(parent)
            ps.n_children -= 1
            if ps.n_children or ps.n_views:
                continue
            if parent.view_src is not None:
                vs = slot(parent.view_src)
                vs.n_views -= 1
                if vs.n_views == 0 and vs.n_children == 0 and vs.allocated:
                    release(parent.view_src)
            elif ps.allocated:
                release(parent)
    return allocator.max_size, steady


def _state(allocator: _DynAllocator, slots: dict[int, _Slot]) -> tuple[object, ...]:
    """What decides the rest of the replay: free blocks, the high-water mark and every live tensor.

    The graph inputs are left out: they stay allocated until their last reader, which is in the
    last layers, and only their reader counts (irrelevant until zero) change from layer to layer.
    """
    live = sorted(
        (s.addr if s.allocated else -1, s.tensor.nbytes, s.n_children, s.n_views, s.allocated)
        for s in slots.values()
        if s.visited and not s.tensor.input and not s.tensor.external and (s.allocated or s.n_children or s.n_views)
    )
    return (tuple(tuple(b) for b in allocator.free), allocator.max_size, tuple(live))


# --- llama's graph (src/models/llama.cpp + src/llama-graph.cpp) -------------------------------------


@dataclass(frozen=True)
class GraphShape:
    """The dimensions that shape the compute graph."""

    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_ff: int
    n_vocab: int
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    n_ff_shexp: int = 0
    swa_layers: tuple[bool, ...] = ()


@dataclass(frozen=True)
class GraphSetup:
    """One reservation: how many tokens, outputs and KV cells, and the attention path."""

    n_tokens: int
    n_outputs: int
    n_kv: int
    n_kv_swa: int
    flash_attn: bool
    rotate_k: bool = False  # quantized K cache: llama.cpp multiplies Q and K by a Hadamard matrix
    rotate_v: bool = False


def _hadamard_size_k(head_dim: int) -> int:
    """build_input_k_rot: the largest power of two >= 64 that divides the head size."""
    n = 64
    while head_dim % (n * 2) == 0:
        n *= 2
    return n


def build_llama_graph(shape: GraphShape, setup: GraphSetup, layers: Sequence[int] | None = None) -> Graph:
    """llama_model_llama::graph, with the helpers it calls, as ggml would record it.

    `layers` builds only those layers (ascending, ending with the last): the steady-state replay."""
    s, g, n_tok, n_out = shape, Graph(), setup.n_tokens, setup.n_outputs
    fa = setup.flash_attn
    v_trans = not fa
    kv_k, kv_v = s.head_dim_k * s.n_head_kv, s.head_dim_v * s.n_head_kv

    def weight(*ne: int) -> Tensor:
        return leaf(ne, "f16", external=True)

    # build_inp_embd: both branches of ggml_build_forward_select enter the graph
    inp_tokens = leaf((n_tok,), "i32", is_input=True)
    inp_embd = leaf((s.n_embd, n_tok), "f32", is_input=True)
    embd = _op("get_rows", (s.n_embd, n_tok), [weight(s.n_embd, s.n_vocab), inp_tokens])
    g.expand(embd)
    g.expand(inp_embd)
    inp_pos = leaf((n_tok,), "i32", is_input=True)
    k_idxs = leaf((n_tok,), "i64", is_input=True)
    v_idxs = leaf((n_tok * kv_v,) if v_trans else (n_tok,), "i64", is_input=True)
    mask_type = "f16" if fa else "f32"
    mask = leaf((setup.n_kv, n_tok), mask_type, is_input=True)
    mask_swa = leaf((setup.n_kv_swa, n_tok), mask_type, is_input=True) if any(s.swa_layers) else None
    nrot = _hadamard_size_k(s.head_dim_k)
    k_rot = leaf((nrot, nrot), "f32", is_input=True) if setup.rotate_k else None
    v_rot = leaf((64, 64), "f32", is_input=True) if setup.rotate_v else None
    out_ids = leaf((n_out,), "i32", is_input=True)

    def norm(x: Tensor) -> Tensor:
        return same_shape("mul", same_shape("rms_norm", x), weight(x.ne[0]))

    def hadamard(x: Tensor, rot: Tensor) -> Tensor:
        n = rot.ne[0]
        flat = reshape(x, n, x.ne[0] * x.ne[1] * x.ne[2] * x.ne[3] // n)
        return reshape(mul_mat(rot, flat), *x.ne)

    inp_l = embd
    for il in range(s.n_layer) if layers is None else layers:
        g.marks.append(len(g.nodes))
        is_swa = il < len(s.swa_layers) and s.swa_layers[il]
        n_kv = setup.n_kv_swa if is_swa else setup.n_kv
        layer_mask = mask_swa if is_swa and mask_swa is not None else mask
        inp_sa = inp_l
        cur = norm(inp_l)
        q = reshape(mul_mat(weight(s.n_embd, s.head_dim_k * s.n_head), cur), s.head_dim_k, s.n_head, n_tok)
        k = reshape(mul_mat(weight(s.n_embd, kv_k), cur), s.head_dim_k, s.n_head_kv, n_tok)
        v = reshape(mul_mat(weight(s.n_embd, kv_v), cur), s.head_dim_v, s.n_head_kv, n_tok)
        q = same_shape("rope", q, inp_pos)
        k = same_shape("rope", k, inp_pos)
        if k_rot is not None:
            q, k = hadamard(q, k_rot), hadamard(k, k_rot)
        if v_rot is not None:
            v = hadamard(v, v_rot)
        g.expand(q)
        g.expand(v)
        g.expand(k)
        cache_k = leaf((kv_k, n_kv), "f16", external=True)
        cache_v = leaf((kv_v, n_kv), "f16", external=True)
        k2 = _view(k, (kv_k, n_tok), nb=(k.nb[0], k.nb[2], k.nb[2] * n_tok, k.nb[2] * n_tok))
        g.expand(Tensor("set_rows", cache_k.ne, cache_k.type, [k2, k_idxs, cache_k], view_src=cache_k))
        if v_trans:
            v_flat = reshape(reshape(v, kv_v, n_tok), 1, kv_v * n_tok)
            cache_flat = reshape(cache_v, 1, kv_v * n_kv)
            store_v = Tensor("set_rows", cache_flat.ne, cache_v.type, [v_flat, v_idxs, cache_flat], view_src=cache_v)
        else:
            v2 = _view(v, (kv_v, n_tok), nb=(v.nb[0], v.nb[2], v.nb[2] * n_tok, v.nb[2] * n_tok))
            store_v = Tensor("set_rows", cache_v.ne, cache_v.type, [v2, v_idxs, cache_v], view_src=cache_v)
        g.expand(store_v)
        k_all = _view(cache_k, (s.head_dim_k, s.n_head_kv, n_kv, 1))
        v_all = _view(
            cache_v, (n_kv, s.n_head_kv, s.head_dim_v, 1) if v_trans else (s.head_dim_v, s.n_head_kv, n_kv, 1)
        )
        qp = permute(_view(q, q.ne, q.nb), (0, 2, 1, 3))
        kp = permute(k_all, (0, 2, 1, 3))
        vp = permute(v_all, (0, 2, 1, 3))
        if fa:
            out = _op("flash_attn_ext", (s.head_dim_v, qp.ne[2], qp.ne[1], qp.ne[3]), [qp, kp, vp, layer_mask])
            cur = reshape(out, out.ne[0] * out.ne[1], out.ne[2] * out.ne[3])
        else:
            kq = _op("mul_mat", (kp.ne[1], qp.ne[1], qp.ne[2], qp.ne[3]), [kp, qp])
            kq = _op("soft_max", kq.ne, [kq, layer_mask])
            kqv = _op("mul_mat", (vp.ne[1], kq.ne[1], kq.ne[2], kq.ne[3]), [vp, kq])
            merged = permute(kqv, (0, 2, 1, 3))
            cur = _op("cont", (merged.ne[0] * merged.ne[1], merged.ne[2] * merged.ne[3]), [merged])
        g.expand(cur)
        if v_rot is not None:
            cur = hadamard(cur, v_rot)
        cur = mul_mat(weight(s.head_dim_v * s.n_head, s.n_embd), cur)
        if il == s.n_layer - 1:
            cur = _op("get_rows", (s.n_embd, n_out), [cur, out_ids])
            inp_sa = _op("get_rows", (s.n_embd, n_out), [inp_sa, out_ids])
        ffn_inp = same_shape("add", cur, inp_sa)
        cur = norm(ffn_inp)
        cur = _moe_ffn(g, s, cur) if s.n_expert else _ffn(cur, s.n_embd, s.n_ff, weight)
        inp_l = same_shape("add", cur, ffn_inp)
    result_norm = norm(inp_l)
    result_norm.output = True
    logits = mul_mat(weight(s.n_embd, s.n_vocab), result_norm)
    logits.output = True
    g.expand(logits)
    return g


def _ffn(cur: Tensor, n_embd: int, n_ff: int, weight: Callable[..., Tensor]) -> Tensor:
    """build_ffn with SILU and a parallel gate: up, gate, swiglu, down."""
    up = mul_mat(weight(n_embd, n_ff), cur)
    gate = mul_mat(weight(n_embd, n_ff), cur)
    return mul_mat(weight(n_ff, n_embd), _op("glu", gate.ne, [gate, up]))


def _moe_ffn(g: Graph, s: GraphShape, cur: Tensor) -> Tensor:
    """build_moe_ffn: softmax gating, top-k experts, normalized weights, summed expert outputs."""
    n_tok = cur.ne[1]

    def weight(*ne: int) -> Tensor:
        return leaf(ne, "f16", external=True)

    shared = _ffn(cur, s.n_embd, s.n_ff_shexp, weight) if s.n_ff_shexp else None
    logits = mul_mat(weight(s.n_embd, s.n_expert), cur)
    probs = _op("soft_max", logits.ne, [logits])
    order = _op("argsort", probs.ne, [probs], "i32")
    selected = _view(order, (s.n_expert_used, n_tok), nb=order.nb)
    weights = _op("get_rows", (1, s.n_expert_used, n_tok), [reshape(probs, 1, s.n_expert, n_tok), selected])
    weights = reshape(weights, s.n_expert_used, n_tok)
    total = same_shape("clamp", _op("sum_rows", (1, n_tok), [weights]))
    weights = reshape(_op("div", weights.ne, [weights, total]), 1, s.n_expert_used, n_tok)
    g.expand(weights)
    x = reshape(cur, s.n_embd, 1, n_tok)
    up = mul_mat_id(weight(s.n_embd, s.n_ff_exp, s.n_expert), x, selected)
    gate = mul_mat_id(weight(s.n_embd, s.n_ff_exp, s.n_expert), x, selected)
    experts = mul_mat_id(weight(s.n_ff_exp, s.n_embd, s.n_expert), _op("glu", gate.ne, [gate, up]), selected)
    experts = _op("mul", experts.ne, [experts, weights])
    g.expand(experts)
    row = experts.nb[2]
    views = []
    for i in range(s.n_expert_used):
        view = _view(experts, (s.n_embd, n_tok), nb=(4, row, row * n_tok, row * n_tok), offs=i * experts.nb[1])
        g.expand(view)
        views.append(view)
    out = views[0]
    for view in views[1:]:
        out = _op("add", (s.n_embd, n_tok), [out, view])
        g.expand(out)
    if s.n_expert_used == 1:
        out = _op("cont", (s.n_embd, n_tok), [out])
    if shared is not None:
        out = same_shape("add", out, shared)
    return out


def full_replay_bytes(shape: GraphShape, setup: GraphSetup, alignment: int = CPU_ALIGNMENT) -> int:
    """The compute buffer from the whole graph, every layer built and replayed (the reference)."""
    return reserve(build_llama_graph(shape, setup), alignment)


def layer_period(shape: GraphShape) -> int:
    """The smallest p with the layer kinds (sliding-window or not) repeating every p layers; 0 if none."""
    kinds = [il < len(shape.swa_layers) and shape.swa_layers[il] for il in range(shape.n_layer - 1)]
    for p in range(1, 17):
        if all(kinds[i] == kinds[i + p] for i in range(len(kinds) - p)):
            return p
    return 0


def compute_buffer_bytes(shape: GraphShape, setup: GraphSetup, alignment: int = CPU_ALIGNMENT) -> int:
    """The compute buffer for one reservation (llama_context::graph_reserve), byte for byte.

    Why this is fast: every layer of the graph is the same (up to the sliding-window pattern), so
    the allocator soon lays out each period of layers exactly as the one before. Once its whole
    state (free blocks, high-water mark, live tensors with their readers) repeats, every later
    period repeats it too, and only the last layers (the last one picks the output rows, the last
    readers free the inputs) can raise the mark. So a graph of the first m layers plus the last one,
    with m congruent to the layer count modulo the period, reserves the same bytes as the whole
    graph; when no repetition shows up in time the whole graph is replayed.
    (tests/test_memory_estimate.py compares the two on dense, MoE and sliding-window shapes.)
    """
    n, p = shape.n_layer, layer_period(shape)
    m = 4 * p + 2
    while p and m < n - 1:
        m += (n - 1 - m) % p  # the built layers line up with the real ones modulo the period
        if m >= n - 1:
            break
        # the state is compared only at marks before the last period, whose readers free inputs
        size, steady = _replay(build_llama_graph(shape, setup, [*range(m), n - 1]), alignment, p, m - p)
        if steady:
            return size
        m *= 2
    return full_replay_bytes(shape, setup, alignment)


def input_bytes(shape: GraphShape, setup: GraphSetup) -> int:
    """The graph inputs (tokens, embeddings, positions, masks, indices): what stays on the host.

    Their sizes do not depend on the number of layers: two layers (the first and the last) have
    every input the whole graph has."""
    kinds = [il < len(shape.swa_layers) and shape.swa_layers[il] for il in range(shape.n_layer)]
    first = {kinds.index(kind) for kind in (True, False) if kind in kinds}
    g = build_llama_graph(shape, setup, sorted(first | {shape.n_layer - 1}))
    return sum(t.nbytes for t in g.leafs if t.input)
