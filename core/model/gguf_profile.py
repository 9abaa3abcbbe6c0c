"""A GGUF file (single or split into shards) → `ModelProfile`."""

from __future__ import annotations

import math
import re
from pathlib import Path

import gguf

from core.errors import CorruptModelFileError, MissingShardError
from core.model.chat_formats import MAX_TEMPLATE_CHARS, VOCAB_MARKERS
from core.model.gguf_reader import GGUFHeader, file_type_name, read_gguf_header
from core.model.gguf_tokens import read_vocab_facts
from core.model.profile import (
    BaseModel,
    Imatrix,
    ModelProfile,
    RopeInfo,
    TensorEntry,
    TokenizerInfo,
    census,
    fill_sizes,
)
from core.model.shape_check import check_shape
from core.model.tensor_roles import layer_of, role_of
from core.textnum import PARTS, whole_or_none

SPLIT_NAME = re.compile(r"^(?P<stem>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)

# Written by llama.cpp's quantizer (tools/quantize) into imatrix quants; the gguf package has no
# constants for them.
IMATRIX_KEYS = {
    "file": "quantize.imatrix.file",
    "dataset": "quantize.imatrix.dataset",
    "entries": "quantize.imatrix.entries_count",
    "chunks": "quantize.imatrix.chunks_count",
}

_K = gguf.Keys


def shard_paths(path: Path) -> list[Path]:
    """All shards of a split GGUF, in order; a single file is its own only shard."""
    m = SPLIT_NAME.match(path.name)
    count = whole_or_none(m.group("count"), PARTS) if m else None
    part = whole_or_none(m.group("no"), PARTS) if m else None
    if m is None or count is None or part is None:  # not a split, or not llama.cpp's ASCII digits
        return [path]
    if count < 1:
        raise CorruptModelFileError(f"{path.name} says it is part of a split into {count} files.")
    width = len(m.group("no"))
    shards = [
        path.with_name(f"{m.group('stem')}-{i:0{width}d}-of-{m.group('count')}.gguf") for i in range(1, count + 1)
    ]
    missing = [s.name for s in shards if not s.is_file()]
    if missing:
        raise MissingShardError(
            f"{path.name} is part {part} of a model split into {count} files, and "
            f"{len(missing)} of them are missing from {path.parent}: {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else ""),
            f"Download {'it' if len(missing) == 1 else 'them'} into the same folder as {path.name}.",
        )
    return shards


def read_gguf_profile(path: Path) -> ModelProfile:
    shards = shard_paths(path)
    headers = [read_gguf_header(s) for s in shards]
    first = headers[0]
    split_count = _int(first, _K.Split.LLM_KV_SPLIT_COUNT)
    if split_count is not None and split_count != len(shards):
        if len(shards) == 1:
            raise MissingShardError(
                f"{path.name} is one part of a model split into {split_count} files, but its name does "
                "not say which part, so the others cannot be found.",
                "Keep the split files' original names (…-00001-of-0000N.gguf) and open the first.",
            )
        raise CorruptModelFileError(f"{path.name} says the model is split into {split_count} files, not {len(shards)}.")
    return _profile_from_headers(path, headers)


def _int(h: GGUFHeader, key: str) -> int | None:
    """A count or size the app computes with: a whole, finite, non-negative number, or a plain error.

    A per-layer array (head_count_kv on some models) gives its largest item. Text, true/false or a
    float (NaN, infinity, 2.0) where llama.cpp reads an integer is a broken header, as llama.cpp's own
    typed key reader says, not a value to skip.
    """
    value = h.get(key)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    whole: list[int] = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | float):
            shown = "text" if isinstance(v, str) else type(v).__name__
            raise CorruptModelFileError(f"{h.path.name}: '{key}' should be a whole number, but it holds {shown}.")
        if isinstance(v, float):  # llama.cpp refuses a float where it reads an integer key, so do we
            raise CorruptModelFileError(f"{h.path.name}: '{key}' should be a whole number, not {v}.")
        if v < 0:
            raise CorruptModelFileError(f"{h.path.name}: '{key}' is negative ({int(v)}).")
        whole.append(int(v))
    return max(whole) if whole else None


def _str(h: GGUFHeader, key: str) -> str | None:
    value = h.get(key)
    return value if isinstance(value, str) and value else None


def _swa_pattern(value: object) -> int | list[bool] | None:
    """The sliding-window pattern as llama.cpp reads it: a period N, or one flag per layer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and value and all(isinstance(v, bool | int) for v in value):
        return [bool(v) for v in value]
    return None


def _profile_from_headers(path: Path, headers: list[GGUFHeader]) -> ModelProfile:
    h = headers[0]
    arch = _str(h, _K.General.ARCHITECTURE)
    a = arch or ""
    file_type = _int(h, _K.General.FILE_TYPE)
    profile = ModelProfile(
        format="gguf",
        path=str(path),
        files=[str(x.path) for x in headers],
        file_size=sum(x.file_size for x in headers),
        architecture=arch,
        name=_str(h, _K.General.NAME),
        basename=_str(h, _K.General.BASENAME),
        finetune=_str(h, _K.General.FINETUNE),
        size_label=_str(h, _K.General.SIZE_LABEL),
        organization=_str(h, _K.General.ORGANIZATION),
        file_type_id=file_type,
        nominal_type=file_type_name(file_type) if file_type is not None else None,
        context_length=_int(h, _K.LLM.CONTEXT_LENGTH.format(arch=a)),
        block_count=_int(h, _K.LLM.BLOCK_COUNT.format(arch=a)),
        embedding_length=_int(h, _K.LLM.EMBEDDING_LENGTH.format(arch=a)),
        feed_forward_length=_int(h, _K.LLM.FEED_FORWARD_LENGTH.format(arch=a)),
        head_count=_int(h, _K.Attention.HEAD_COUNT.format(arch=a)),
        head_count_kv=_int(h, _K.Attention.HEAD_COUNT_KV.format(arch=a)),
        key_length=_int(h, _K.Attention.KEY_LENGTH.format(arch=a)),
        value_length=_int(h, _K.Attention.VALUE_LENGTH.format(arch=a)),
        sliding_window=_int(h, _K.Attention.SLIDING_WINDOW.format(arch=a)),
        sliding_window_pattern=_swa_pattern(h.get(f"{a}.attention.sliding_window_pattern")),
        expert_count=_int(h, _K.LLM.EXPERT_COUNT.format(arch=a)) or 0,
        expert_used_count=_int(h, _K.LLM.EXPERT_USED_COUNT.format(arch=a)) or 0,
        expert_shared_count=_int(h, _K.LLM.EXPERT_SHARED_COUNT.format(arch=a)) or 0,
        has_chat_template=bool(_str(h, _K.Tokenizer.CHAT_TEMPLATE))
        or bool(h.get(_K.Tokenizer.CHAT_TEMPLATES))
        or any(k.startswith("tokenizer.chat_template.") for k in h.metadata),
    )
    head_size_given = profile.key_length is not None
    if profile.head_count_kv is None:
        profile.head_count_kv = profile.head_count
    if profile.head_count and profile.embedding_length:
        head_dim = profile.embedding_length // profile.head_count
        profile.key_length = profile.key_length or head_dim
        profile.value_length = profile.value_length or head_dim
    profile.vocab_size = _int(h, _K.LLM.VOCAB_SIZE.format(arch=a)) or h.array_len(_K.Tokenizer.LIST)

    count = _int(h, _K.General.BASE_MODEL_COUNT) or 0
    for i in range(min(count, 64)):
        profile.base_models.append(
            BaseModel(
                name=_str(h, _K.General.BASE_MODEL_NAME.format(id=i)),
                organization=_str(h, _K.General.BASE_MODEL_ORGANIZATION.format(id=i)),
                repo_url=_str(h, _K.General.BASE_MODEL_REPO_URL.format(id=i)),
            )
        )
    if any(k in h.metadata for k in IMATRIX_KEYS.values()):
        profile.imatrix = Imatrix(
            file=_str(h, IMATRIX_KEYS["file"]),
            dataset=_str(h, IMATRIX_KEYS["dataset"]),
            entries=_int(h, IMATRIX_KEYS["entries"]),
            chunks=_int(h, IMATRIX_KEYS["chunks"]),
        )

    _fill_chat_and_tokenizer(profile, h, a)

    unknown: set[str] = set()
    for hdr in headers:
        for t in hdr.tensors:
            profile.tensors.append(
                TensorEntry(t.name, role_of(t.name), layer_of(t.name), t.type_name, t.n_elements, t.n_bytes)
            )
            if t.size_from_offsets:
                unknown.add(t.type_name)
    profile.tensor_types = census(
        (t.type_name, t.type_id, t.n_elements, t.n_bytes) for hdr in headers for t in hdr.tensors
    )
    for name in sorted(unknown):
        profile.notes.append(
            f"{name} is newer than the installed gguf package; its size was taken from the tensor offsets."
        )
    fill_sizes(profile)
    check_shape(profile, head_size_given)  # once, here: everything after this may trust the counts
    return profile


def _float(h: GGUFHeader, key: str) -> float | None:
    """A finite number, or None: these keys (RoPE factor, sampling defaults) only inform a check."""
    value = h.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _bool(h: GGUFHeader, key: str) -> bool | None:
    value = h.get(key)
    return value if isinstance(value, bool) else None


_SAMPLING_KEYS = {
    "temp": _K.General.SAMPLING_TEMP,
    "top_p": _K.General.SAMPLING_TOP_P,
    "top_k": _K.General.SAMPLING_TOP_K,
    "min_p": _K.General.SAMPLING_MIN_P,
    "repeat_penalty": _K.General.SAMPLING_PENALTY_REPEAT,
}


def _fill_chat_and_tokenizer(profile: ModelProfile, h: GGUFHeader, a: str) -> None:
    """The chat template (a bounded copy), the tokenizer's facts and the RoPE settings."""
    template = _str(h, _K.Tokenizer.CHAT_TEMPLATE)
    if template:
        profile.chat_template_chars = len(template)
        profile.chat_template = template[:MAX_TEMPLATE_CHARS]
    tok = _K.Tokenizer
    bos, eos, eot = _int(h, tok.BOS_ID), _int(h, tok.EOS_ID), _int(h, tok.EOT_ID)
    tokens = h.arrays.get(tok.LIST) or h.get(tok.LIST)
    texts: dict[int, str] = {}
    markers: list[str] = []
    if tokens is not None:
        texts, markers = read_vocab_facts(h.path, tokens, [i for i in (bos, eos, eot) if i is not None], VOCAB_MARKERS)
    if tokens is not None or _str(h, tok.MODEL):
        profile.tokenizer = TokenizerInfo(
            model=_str(h, tok.MODEL),
            pre=_str(h, tok.PRE),
            add_bos=_bool(h, tok.ADD_BOS),
            add_eos=_bool(h, tok.ADD_EOS),
            bos_id=bos,
            eos_id=eos,
            eot_id=eot,
            tokens=h.array_len(tok.LIST),
            bos_text=texts.get(bos) if bos is not None else None,
            eos_text=texts.get(eos) if eos is not None else None,
            eot_text=texts.get(eot) if eot is not None else None,
            markers=markers,
        )
    rope = _K.Rope
    scaling = _str(h, rope.SCALING_TYPE.format(arch=a))
    factor = _float(h, rope.SCALING_FACTOR.format(arch=a))
    base = _float(h, rope.FREQ_BASE.format(arch=a))
    orig = _int(h, rope.SCALING_ORIG_CTX_LEN.format(arch=a))
    if scaling or factor or base or orig:
        profile.rope = RopeInfo(
            freq_base=base,
            scaling_type=scaling,
            factor=factor,
            original_context=orig,
            finetuned=_bool(h, rope.SCALING_FINETUNED.format(arch=a)),
        )
    for name, key in _SAMPLING_KEYS.items():
        value = _float(h, key)
        if value is not None:
            profile.sampling_defaults[name] = value
