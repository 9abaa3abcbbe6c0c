"""The model as the memory estimate sees it: its shape, read once from the profile, and what-ifs on it.

A `ModelShape` holds what llama.cpp's memory depends on: the graph's dimensions (with the
sliding-window layers, from the file's own pattern when it has one), and the weight bytes of each
placement unit (input layer, output layer, each repeating layer). It is built once per model
(`model_shape`); every estimate, search and upgrade scan reads it and never goes back to the file.

What-ifs at another quantization (`requantized`) are derived from the shape, not from the file:
each unit keeps the parameter counts of its weight matrices, which are re-sized to that type's
average bits per weight, from the sizes llama.cpp's quantize tool lists for Llama-3-8B
(tools/quantize/quantize.cpp: Q4_K_M 4.58 GiB, Q5_K_M 5.33 GiB, Q6_K 6.14 GiB, Q8_0 7.96 GiB for
8.03 B parameters); norms, biases and small tensors keep their size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from core.errors import MemoryEstimateError
from core.hardware.machine import GIB
from core.memory.compute_graph import GraphShape
from core.model.profile import ModelProfile, TensorEntry

# Sliding-window layer patterns llama.cpp sets per architecture (load_swa_pattern defaults): in each
# group of N layers the last is full attention, the others see only the window.
SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4, "gpt-oss": 2, "llama4": 4, "exaone4": 4}
SWA_DEFAULT_WINDOW = {"gemma2": 4096, "exaone4": 4096, "llama4": 8192}

_LLAMA3_8B_PARAMS = 8.03e9
QUANT_BPW = {  # average bits per weight, from quantize.cpp's Llama-3-8B sizes
    "Q4_K_M": 4.58 * GIB * 8 / _LLAMA3_8B_PARAMS,
    "Q5_K_M": 5.33 * GIB * 8 / _LLAMA3_8B_PARAMS,
    "Q6_K": 6.14 * GIB * 8 / _LLAMA3_8B_PARAMS,
    "Q8_0": 7.96 * GIB * 8 / _LLAMA3_8B_PARAMS,
}
_KEEP_BELOW_PARAMS = 65536  # small tensors (and norms, biases) keep their type when a model is requantized


@dataclass(frozen=True)
class Weights:
    """The tensors of one placement unit, as a requantization needs them."""

    bytes: int  # as stored
    kept_bytes: int = 0  # norms, biases, small tensors: the same size at any quantization
    matrices: tuple[int, ...] = ()  # parameter counts of the weight matrices a requantization re-sizes

    def at(self, bpw: float) -> Weights:
        resized = self.kept_bytes + sum(int(p * bpw / 8) for p in self.matrices)
        return replace(self, bytes=resized)


def _weights(tensors: list[TensorEntry]) -> Weights:
    kept = [t for t in tensors if _kept(t)]
    return Weights(
        bytes=sum(t.bytes for t in tensors),
        kept_bytes=sum(t.bytes for t in kept),
        matrices=tuple(t.parameters for t in tensors if not _kept(t)),
    )


def _kept(t: TensorEntry) -> bool:
    return t.role == "norms" or t.name.endswith(".bias") or t.parameters < _KEEP_BELOW_PARAMS


@dataclass(frozen=True)
class ShapeWeights:
    """Every placement unit's tensors, kept on the shape so that what-ifs never re-read the file."""

    input: Weights
    output: Weights
    tied_copy: Weights
    other: Weights
    layers: tuple[Weights, ...]
    experts: Weights

    def at(self, bpw: float) -> ShapeWeights:
        return ShapeWeights(
            self.input.at(bpw),
            self.output.at(bpw),
            self.tied_copy.at(bpw),
            self.other.at(bpw),
            tuple(w.at(bpw) for w in self.layers),
            self.experts.at(bpw),
        )


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs from a model: dimensions, and weight bytes per placement unit."""

    name: str
    architecture: str
    graph: GraphShape
    n_ctx_train: int | None
    n_swa: int
    input_bytes: int  # token embeddings and other input-layer tensors: always on the host
    output_bytes: int  # output norm and head
    tied_copy_bytes: int  # tied embeddings: the copy of the embedding matrix a GPU output layer needs
    other_bytes: int  # tensors outside any layer that are neither (rope factors...): host
    layer_bytes: tuple[int, ...]
    expert_bytes: int  # all routed-expert weights (for MoE decode speed)
    parameters: int
    nominal_type: str | None = None  # the file's type ("Q4_K_M"), or the one a what-if requantized to
    bpw: float = 0.0  # bits per weight over the whole file (the requantized type's nominal figure)
    weights: ShapeWeights | None = None  # per-tensor detail for `requantized`

    @property
    def n_layer(self) -> int:
        return self.graph.n_layer

    @property
    def tied_output(self) -> bool:
        return self.tied_copy_bytes > 0

    @cached_property
    def weights_bytes(self) -> int:
        """The file's weights once each (what the host maps when nothing is offloaded)."""
        return self.input_bytes + self.output_bytes + self.other_bytes + sum(self.layer_bytes)

    @property
    def active_bytes_per_token(self) -> int:
        """Bytes read per generated token: all weights but the unused experts."""
        g = self.graph
        unused = self.expert_bytes * (g.n_expert - g.n_expert_used) / g.n_expert if g.n_expert else 0
        # the input layer is a row lookup, not a read of the whole matrix
        return int(self.weights_bytes - self.input_bytes - unused)

    @cached_property
    def layer_prefix(self) -> tuple[int, ...]:
        """layer_prefix[i]: the weight bytes of layers 0..i-1 (sums over runs of layers in O(1))."""
        out = [0]
        for b in self.layer_bytes:
            out.append(out[-1] + b)
        return tuple(out)

    @cached_property
    def layer_prefix_max(self) -> tuple[int, ...]:
        """layer_prefix_max[i]: the largest layer among layers 0..i-1 (0 for none)."""
        out = [0]
        for b in self.layer_bytes:
            out.append(max(out[-1], b))
        return tuple(out)

    @cached_property
    def swa_prefix(self) -> tuple[int, ...]:
        """swa_prefix[i]: how many of layers 0..i-1 are sliding-window layers."""
        out = [0]
        swa = self.graph.swa_layers
        for il in range(self.n_layer):
            out.append(out[-1] + (1 if il < len(swa) and swa[il] else 0))
        return tuple(out)

    def requantized(self, quant: str) -> ModelShape:
        """The same model with its weight matrices at `quant`'s average size (a what-if, from the shape)."""
        if self.weights is None:
            raise MemoryEstimateError(f"{self.name} has no per-tensor sizes to requantize.")
        bpw = QUANT_BPW[quant]
        w = self.weights.at(bpw)
        return replace(
            self,
            **_byte_fields(w),
            nominal_type=quant,
            bpw=bpw,
            weights=w,
        )


def _is_output(t: TensorEntry) -> bool:
    return t.layer is None and (t.name.startswith("output") or t.role == "output")


def _is_input(t: TensorEntry) -> bool:
    return t.layer is None and (t.role == "embeddings" or t.name.startswith(("token_embd", "position_embd")))


def _dim(params: int, *others: int) -> int:
    div = 1
    for o in others:
        div *= o
    return params // div if div else 0


def model_shape(profile: ModelProfile) -> ModelShape:
    """Read the dimensions the estimate needs; MemoryEstimateError if the file lacks them.

    The profile's values were bounded and checked against its tensors when it was read
    (core.model.shape_check), so every loop and product here is small."""
    if profile.format != "gguf":
        raise MemoryEstimateError(
            f"The memory estimate follows llama.cpp, which runs GGUF files; this is a {profile.format} model.",
            "Pick the GGUF version of the model, or size it with the engine that runs this format.",
        )
    needed = {
        "block_count": profile.block_count,
        "embedding_length": profile.embedding_length,
        "head_count": profile.head_count,
    }
    missing = [k for k, v in needed.items() if not v]
    layered = [t for t in profile.tensors if t.layer is not None]
    if missing or not layered:
        raise MemoryEstimateError(
            f"{profile.display_name} does not say its {', '.join(missing) or 'layers’ tensors'}, so its memory "
            "cannot be estimated.",
            "The file may be incomplete or of an architecture Quant Doctor does not know; try another file.",
        )
    n_layer, n_embd = int(profile.block_count or 0), int(profile.embedding_length or 0)
    n_head = int(profile.head_count or 0)
    n_head_kv = int(profile.head_count_kv or n_head)
    head_k = int(profile.key_length or n_embd // n_head)
    head_v = int(profile.value_length or head_k)
    by_name = {t.name: t for t in profile.tensors}
    per_layer: list[list[TensorEntry]] = [[] for _ in range(n_layer)]
    inputs: list[TensorEntry] = []
    outputs: list[TensorEntry] = []
    others: list[TensorEntry] = []
    experts: list[TensorEntry] = []
    for t in profile.tensors:
        if t.layer is not None and 0 <= t.layer < n_layer:
            per_layer[t.layer].append(t)
            if t.role == "experts":
                experts.append(t)
        elif _is_input(t):
            inputs.append(t)
        elif _is_output(t):
            outputs.append(t)
        else:
            others.append(t)
    embd = by_name.get("token_embd.weight")
    tied = [embd] if embd is not None and "output.weight" not in by_name else []
    weights = ShapeWeights(
        input=_weights(inputs),
        output=_weights(outputs),
        tied_copy=_weights(tied),
        other=_weights(others),
        layers=tuple(_weights(ts) for ts in per_layer),
        experts=_weights(experts),
    )
    n_vocab = profile.vocab_size or (_dim(embd.parameters, n_embd) if embd else 0)
    n_ff = profile.feed_forward_length or _dim(_params(by_name, "blk.0.ffn_up.weight"), n_embd)
    n_expert, n_used = profile.expert_count, profile.expert_used_count or (1 if profile.expert_count else 0)
    n_ff_exp = _dim(_params(by_name, "blk.0.ffn_up_exps.weight"), n_embd, n_expert) if n_expert else 0
    if n_expert and not n_ff_exp:
        n_ff_exp = n_ff
    n_ff_shexp = _dim(_params(by_name, "blk.0.ffn_up_shexp.weight"), n_embd)
    arch = profile.architecture or "unknown"
    n_swa = profile.sliding_window or SWA_DEFAULT_WINDOW.get(arch, 0)
    swa = swa_layers(arch, n_layer, n_swa, profile.sliding_window_pattern)
    graph = GraphShape(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=head_k,
        head_dim_v=head_v,
        n_ff=n_ff or 4 * n_embd,
        n_vocab=n_vocab,
        n_expert=n_expert,
        n_expert_used=n_used,
        n_ff_exp=n_ff_exp,
        n_ff_shexp=n_ff_shexp,
        swa_layers=swa,
    )
    params = profile.parameters
    return ModelShape(
        name=profile.display_name,
        architecture=arch,
        graph=graph,
        n_ctx_train=profile.context_length,
        n_swa=n_swa if any(swa) else 0,
        **_byte_fields(weights),
        parameters=params,
        nominal_type=profile.nominal_type,
        bpw=profile.effective_bpw,
        weights=weights,
    )


def _byte_fields(w: ShapeWeights) -> dict[str, Any]:
    """A shape's weight sizes, as its estimate reads them, from the per-tensor census."""
    return {
        "input_bytes": w.input.bytes,
        "output_bytes": w.output.bytes,
        "tied_copy_bytes": w.tied_copy.bytes,
        "other_bytes": w.other.bytes,
        "layer_bytes": tuple(x.bytes for x in w.layers),
        "expert_bytes": w.experts.bytes,
    }


def _params(by_name: dict[str, TensorEntry], name: str) -> int:
    t = by_name.get(name)
    return t.parameters if t else 0


def swa_layers(arch: str, n_layer: int, n_swa: int, pattern: int | list[bool] | None) -> tuple[bool, ...]:
    """Which layers see only the window: the file's own pattern, else llama.cpp's default for the architecture."""
    if not n_swa:
        return ()
    if isinstance(pattern, list):
        return tuple(bool(x) for x in pattern[:n_layer])
    n = pattern if isinstance(pattern, int) else SWA_PATTERN.get(arch)
    if n is None:
        return ()  # llama.cpp ignores the window for this architecture: every layer holds the full context
    return tuple(n == 0 or (il % n) < (n - 1) for il in range(n_layer))
