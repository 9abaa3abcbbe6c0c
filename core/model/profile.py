"""`ModelProfile`: the one description of a model file that every check reads.

Readers (GGUF, EXL2 / GPTQ / AWQ folders) fill it; checks, the memory estimate, the report and
the GUI only ever read it. It is plain data so it can be saved as JSON and compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.model.tensor_roles import ROLES


@dataclass(frozen=True)
class BaseModel:
    name: str | None = None
    organization: str | None = None
    repo_url: str | None = None


@dataclass(frozen=True)
class TypeStat:
    """How much of the model one storage type holds (the per-type census)."""

    type: str
    type_id: int | None
    tensors: int
    parameters: int
    bytes: int

    @property
    def bpw(self) -> float:
        return self.bytes * 8 / self.parameters if self.parameters else 0.0


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the memory estimate needs it: where it belongs, how big, how stored."""

    name: str
    role: str
    layer: int | None
    type: str
    parameters: int
    bytes: int


@dataclass(frozen=True)
class Imatrix:
    file: str | None = None
    dataset: str | None = None
    entries: int | None = None
    chunks: int | None = None


@dataclass(frozen=True)
class QuantConfig:
    """A folder model's `quantization_config` (EXL2 / GPTQ / AWQ), as far as it says anything."""

    quant_method: str
    bits: float | None = None
    group_size: int | None = None
    desc_act: bool | None = None
    dataset: str | None = None
    head_bits: float | None = None
    calibration: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelCard:
    """The model card's front matter: what the uploader says this model is."""

    base_model: list[str] = field(default_factory=list)
    base_model_relation: str | None = None
    datasets: list[str] = field(default_factory=list)
    language: list[str] = field(default_factory=list)
    license: str | None = None


@dataclass(frozen=True)
class TokenizerInfo:
    """What the file says about its tokenizer (`tokenizer.ggml.*`), and a few of its tokens' texts."""

    model: str | None = None  # tokenizer.ggml.model: llama, gpt2, ...
    pre: str | None = None  # tokenizer.ggml.pre: how text is split before tokenizing
    add_bos: bool | None = None
    add_eos: bool | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    eot_id: int | None = None
    tokens: int | None = None  # length of tokenizer.ggml.tokens
    bos_text: str | None = None
    eos_text: str | None = None
    eot_text: str | None = None
    markers: list[str] = field(default_factory=list)  # chat-format markers that are whole tokens


@dataclass(frozen=True)
class RopeInfo:
    """Rotary position settings baked into the file (`{arch}.rope.*`): how far it was stretched."""

    freq_base: float | None = None
    scaling_type: str | None = None  # none, linear, yarn, longrope
    factor: float | None = None
    original_context: int | None = None
    finetuned: bool | None = None


@dataclass
class ModelProfile:
    format: str  # "gguf", "exl2", "gptq", "awq", "safetensors"
    path: str
    files: list[str]
    file_size: int
    architecture: str | None = None
    name: str | None = None
    basename: str | None = None
    finetune: str | None = None
    size_label: str | None = None
    organization: str | None = None
    base_models: list[BaseModel] = field(default_factory=list)
    parameters: int = 0
    nominal_type: str | None = None
    file_type_id: int | None = None
    effective_bpw: float = 0.0
    bpw_by_role: dict[str, float] = field(default_factory=dict)
    parameters_by_role: dict[str, int] = field(default_factory=dict)
    tensor_types: list[TypeStat] = field(default_factory=list)
    context_length: int | None = None
    block_count: int | None = None
    embedding_length: int | None = None
    feed_forward_length: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    key_length: int | None = None
    value_length: int | None = None
    sliding_window: int | None = None
    # `{arch}.attention.sliding_window_pattern`: every N-th layer full, or one flag per layer (read
    # here once, so the memory estimate never goes back to the file)
    sliding_window_pattern: int | list[bool] | None = None
    expert_count: int = 0
    expert_used_count: int = 0
    expert_shared_count: int = 0
    vocab_size: int | None = None
    embedding_fraction: float = 0.0
    has_chat_template: bool = False
    chat_template: str | None = None  # a bounded copy (chat_formats.MAX_TEMPLATE_CHARS); data, never run
    chat_template_chars: int = 0  # its full length
    tokenizer: TokenizerInfo | None = None
    rope: RopeInfo | None = None
    sampling_defaults: dict[str, float] = field(default_factory=dict)  # general.sampling.* (temp, top_p...)
    imatrix: Imatrix | None = None
    quantization: QuantConfig | None = None
    card: ModelCard | None = None
    notes: list[str] = field(default_factory=list)
    tensors: list[TensorEntry] = field(default_factory=list, repr=False)

    @property
    def display_name(self) -> str:
        return self.name or self.basename or Path(self.path).name

    @property
    def is_moe(self) -> bool:
        return self.expert_count > 0

    def to_dict(self, with_tensors: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_tensors:
            d.pop("tensors")
        for stat, out in zip(self.tensor_types, d["tensor_types"], strict=True):
            out["bpw"] = round(stat.bpw, 4)
        d["effective_bpw"] = round(self.effective_bpw, 4)
        d["bpw_by_role"] = {k: round(v, 4) for k, v in self.bpw_by_role.items()}
        d["embedding_fraction"] = round(self.embedding_fraction, 6)
        return d


def census(entries: Iterable[tuple[str, int | None, int, int]]) -> list[TypeStat]:
    """Group (type name, type id, parameters, bytes) rows into a census, biggest share first."""
    acc: dict[str, list[int]] = {}
    ids: dict[str, int | None] = {}
    for type_name, type_id, params, nbytes in entries:
        row = acc.setdefault(type_name, [0, 0, 0])
        row[0] += 1
        row[1] += params
        row[2] += nbytes
        ids[type_name] = type_id
    stats = [TypeStat(t, ids[t], n, p, b) for t, (n, p, b) in acc.items()]
    return sorted(stats, key=lambda s: (-s.bytes, s.type))


def fill_sizes(profile: ModelProfile) -> None:
    """Derive the totals (parameters, bpw overall and per role, embedding share) from the tensors."""
    params = sum(t.parameters for t in profile.tensors)
    nbytes = sum(t.bytes for t in profile.tensors)
    profile.parameters = params
    profile.effective_bpw = nbytes * 8 / params if params else 0.0
    by_role: dict[str, list[int]] = {}
    for t in profile.tensors:
        row = by_role.setdefault(t.role, [0, 0])
        row[0] += t.parameters
        row[1] += t.bytes
    profile.parameters_by_role = {r: by_role[r][0] for r in ROLES if r in by_role}
    profile.bpw_by_role = {r: by_role[r][1] * 8 / by_role[r][0] for r in ROLES if r in by_role and by_role[r][0]}
    emb = sum(by_role.get(r, [0, 0])[0] for r in ("embeddings", "output"))
    profile.embedding_fraction = emb / params if params else 0.0
