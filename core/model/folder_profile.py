"""An EXL2 / GPTQ / AWQ (or plain safetensors) model folder → `ModelProfile`.

The folder's `config.json` says what the model is and how it was quantized; the safetensors
headers say how many bytes each layer really takes (so bits per weight are measured, not taken
on trust); the model card's front matter says what it was made from. Only files inside the folder
are opened: a shard map that points elsewhere, and any file of the folder (weights, config.json,
the card, the tokenizer config) that is a link leading elsewhere, is refused before it is read.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from core import jsonfile
from core.errors import IncompleteModelFolderError, ModelFolderError
from core.files import folder_names, lexists, read_text_limited, real_path, stat_path
from core.model.declared_size import INCOMPLETE_SHARE, count_words, declared_parameters
from core.model.profile import BaseModel, ModelCard, ModelProfile, QuantConfig, TensorEntry, census, fill_sizes
from core.model.safetensors_reader import SafeTensor, read_safetensors_header
from core.model.tensor_roles import layer_of, role_of

MAX_JSON_BYTES = 16 * 1024 * 1024
INDEX_NAME = "model.safetensors.index.json"
_METHOD = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
MAX_CARD_BYTES = 1024 * 1024
_FRONT_MATTER = re.compile(r"^---\s*\n(.*?)\n---\s*(?:\n|$)", re.DOTALL)
_YAML_ALIAS = re.compile(r"(?:^|[\s\[{,:-])[&*][^\s]")

# Parts of one quantized linear layer, by format: they are counted together as one weight.
_GPTQ_PARTS = ("qweight", "qzeros", "scales", "g_idx")
_EXL2_PARTS = ("q_weight", "q_invperm", "q_perm", "q_scale", "q_scale_max", "q_groups", "q_group_map")


def _load_json(path: Path, what: str) -> Any:
    """An optional JSON file of the folder (None when absent), through the one bounded loader."""
    if not lexists(path, ModelFolderError):
        return None
    _inside(path.parent, path.name, what=path.name)
    return jsonfile.load(
        path,
        what,
        ModelFolderError,
        expect=dict,
        max_bytes=MAX_JSON_BYTES,
        fix=f"Replace {path.name} with the one from the model's repository.",
    )


def _allowed_roots(folder: Path) -> list[Path]:
    """Where the folder's files may really live: the folder, and for a Hugging Face cache snapshot
    (`models--org--name/snapshots/<rev>/`, whose files are links into `../../blobs`) its own repository."""
    real = real_path(folder, ModelFolderError)
    roots = [real]
    for f in (folder.absolute(), real):
        repo = f.parent.parent
        if f.parent.name == "snapshots" and repo.name.startswith(("models--", "datasets--", "spaces--")):
            roots.append(real_path(repo, ModelFolderError))
    return roots


def _inside(folder: Path, name: str, what: str = INDEX_NAME) -> Path:
    """Resolve a file's name, refusing anything that leads outside the folder (or its cache repository):
    a weight file named by the shard index, or any file of the folder that is a link (`what` says which)."""
    if "\0" in name:
        raise ModelFolderError(
            f"{what} names a file with a NUL character in it ({name[:60]!r}), which no file name holds.",
            "Use the index file from the model's repository.",
        )
    if not name or os.path.isabs(name) or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ModelFolderError(
            f"{what} points at '{name[:200]}', outside the model folder; Quant Doctor does not open it.",
            "Use the index file from the model's repository: it only names files in the same folder.",
        )
    resolved = real_path(folder / name, ModelFolderError)
    if not any(root in resolved.parents for root in _allowed_roots(folder)):
        raise ModelFolderError(
            f"'{name[:200]}' leads outside the model folder (to {str(resolved)[:200]}); it is not opened.",
            "Copy the model's files into one folder, or open the folder the Hugging Face cache made for it.",
        )
    return folder / name


def _weight_files(folder: Path) -> list[Path]:
    index = _load_json(folder / INDEX_NAME, "shard index")
    if index is not None:
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict):
            raise ModelFolderError(f"{INDEX_NAME} has no weight_map.", f"Download {INDEX_NAME} again.")
        names = sorted({str(v) for v in weight_map.values()})
        files = [_inside(folder, n) for n in names]
        missing = [p.name for p in files if not lexists(p, ModelFolderError)]
        if missing:
            raise ModelFolderError(
                f"The model is split into {len(files)} weight files and {len(missing)} "
                + ("is" if len(missing) == 1 else "are")
                + " missing: "
                + ", ".join(missing[:5]),
                "Download the missing files into the same folder.",
            )
        return files
    names = [n for n in folder_names(folder, "a model folder", ModelFolderError) if n.endswith(".safetensors")]
    return [_inside(folder, n, what=n) for n in names]


def _quant_config(folder: Path, config: dict[str, Any]) -> QuantConfig | None:
    qc = config.get("quantization_config")
    if not isinstance(qc, dict):
        qc = _load_json(folder / "quantize_config.json", "quantize_config.json")  # older AutoGPTQ
        if isinstance(qc, dict):
            qc = {"quant_method": "gptq", **qc}
    if not isinstance(qc, dict):
        return None
    method = qc.get("quant_method") or ""
    if not isinstance(method, str) or not _METHOD.fullmatch(method.lower()):
        raise ModelFolderError(
            f"The quantization config names the method {str(method)[:40]!r}, which is not a method name.",
            "Replace config.json (or quantize_config.json) with the one from the model's repository.",
        )
    method = method.lower()
    bits = qc.get("bits", qc.get("w_bit"))
    # A bit width under 1 (5e-324, 0.001) is no quantization anyone makes, and dividing a layer's
    # storage by it overflows: refused with the rest. EXL2's fractional widths (2.5, 4.65) are >= 1.
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int | float) or not 1 <= bits <= 32):
        raise ModelFolderError(
            f"The quantization config gives {str(bits)[:40]!r} bits per weight; a bit width is a number from 1 to 32.",
            "Replace config.json (or quantize_config.json) with the one from the model's repository.",
        )
    group = qc.get("group_size", qc.get("q_group_size"))
    calibration = qc.get("calibration") if isinstance(qc.get("calibration"), dict) else None
    dataset = qc.get("dataset")
    if dataset is None and calibration:
        dataset = calibration.get("dataset")
    return QuantConfig(
        quant_method=method or "unknown",
        bits=float(bits) if isinstance(bits, int | float) else None,
        group_size=int(group) if isinstance(group, int) else None,
        desc_act=qc.get("desc_act") if isinstance(qc.get("desc_act"), bool) else None,
        dataset=dataset
        if isinstance(dataset, str)
        else (", ".join(map(str, dataset)) if isinstance(dataset, list) else None),
        head_bits=_head_bits(qc.get("head_bits")),
        calibration=calibration,
    )


def _head_bits(value: Any) -> float | None:
    """EXL2's bits for the output layer: a width from 1 to 32, else not known (it is only shown)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 32:
        return None
    return float(value)


def _card(folder: Path) -> ModelCard | None:
    readme = folder / "README.md"
    if not lexists(readme, ModelFolderError):
        return None
    _inside(folder, readme.name, what=readme.name)
    import yaml  # what the Hub's own front-matter parser (huggingface_hub.repocard) uses

    try:
        text = read_text_limited(readme, MAX_CARD_BYTES, "a model card", ModelFolderError)
    except ModelFolderError:
        return None  # the card is optional: a huge or binary README only loses its hints
    m = _FRONT_MATTER.match(text)
    # Anchors and aliases are how a few lines of YAML expand to gigabytes; real cards use neither.
    if not m or len(m.group(1)) > 64 * 1024 or _YAML_ALIAS.search(m.group(1)):
        return None
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except Exception:  # a malformed card must not stop inspection; the card is optional
        return None
    if not isinstance(meta, dict):
        return None

    def as_list(value: Any) -> list[str]:
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    return ModelCard(
        base_model=as_list(meta.get("base_model")),
        base_model_relation=meta.get("base_model_relation"),
        datasets=as_list(meta.get("datasets")),
        language=as_list(meta.get("language")),
        license=str(meta["license"]) if meta.get("license") else None,
    )


def _group(tensors: list[SafeTensor], qc: QuantConfig | None) -> list[TensorEntry]:
    """Fold each quantized layer's parts into one weight entry with its real parameter count."""
    by_name = {t.name: t for t in tensors}
    entries: list[TensorEntry] = []
    used: set[str] = set()
    bits = qc.bits if qc and qc.bits else 4.0
    for t in tensors:
        prefix, _, leaf = t.name.rpartition(".")
        if leaf == "qweight":
            parts = [by_name[f"{prefix}.{p}"] for p in _GPTQ_PARTS if f"{prefix}.{p}" in by_name]
            params = int(t.n_elements * 32 / bits) if t.dtype in ("I32", "U32") else t.n_elements
            label = f"{(qc.quant_method if qc else 'gptq').upper()} {bits:g}-bit"
        elif leaf == "q_weight":
            parts = [by_name[f"{prefix}.{p}"] for p in _EXL2_PARTS if f"{prefix}.{p}" in by_name]
            perm = by_name.get(f"{prefix}.q_invperm") or by_name.get(f"{prefix}.q_perm")
            cols = t.shape[-1] if t.shape else 0
            params = perm.n_elements * cols if perm else int(t.n_elements * 32 / bits)
            label = "EXL2"
        else:
            continue
        used.update(p.name for p in parts)
        name = f"{prefix}.weight"
        entries.append(TensorEntry(name, role_of(name), layer_of(name), label, params, sum(p.n_bytes for p in parts)))
    for t in tensors:
        if t.name not in used:
            entries.append(TensorEntry(t.name, role_of(t.name), layer_of(t.name), t.dtype, t.n_elements, t.n_bytes))
    return entries


def _check_complete(folder: Path, cfg: dict[str, Any], tensors: list[TensorEntry], files: list[Path]) -> None:
    """Refuse a folder whose weights are far fewer than its config declares (declared_size says why)."""
    declared = declared_parameters(cfg)
    present = sum(t.parameters for t in tensors)
    if declared is None or present >= INCOMPLETE_SHARE * declared:
        return
    size = sum(stat_path(f, "a weight file", ModelFolderError).st_size for f in files)
    names = ", ".join(f.name for f in files[:3]) + (" ..." if len(files) > 3 else "")
    raise IncompleteModelFolderError(
        f"{folder.name} is incomplete: its config.json describes a model of at least "
        f"{count_words(declared)} parameters, but its weight files ({names}, {_size_words(size)}) hold only "
        f"{count_words(present)}. The download probably stopped early, or a placeholder was saved instead "
        "of the weights.",
        "Download the model's weight files (.safetensors) again into the same folder, then open it again.",
    )


def _size_words(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


# Every file of a folder that is read or looked at, besides the weights (which the shard index names).
METADATA_FILES = ("config.json", INDEX_NAME, "quantize_config.json", "tokenizer_config.json", "README.md",
                  "chat_template.jinja", "chat_template.json")  # fmt: skip


def _template_file(folder: Path) -> bool:
    """A chat template beside the weights (chat_template.jinja / .json): a regular file (checked inside)."""
    for name in ("chat_template.jinja", "chat_template.json"):
        path = folder / name
        if lexists(path, ModelFolderError) and stat.S_ISREG(stat_path(path, "a template", ModelFolderError).st_mode):
            return True
    return False


def read_folder_profile(folder: Path) -> ModelProfile:
    names = folder_names(folder, "a model folder", ModelFolderError)  # no read or search permission: said so
    for name in METADATA_FILES:  # a link leading out of the folder is refused before anything is read
        if name in names:
            _inside(folder, name, what=name)
    config_path = folder / "config.json"
    if not lexists(config_path, ModelFolderError):
        raise ModelFolderError(
            f"{folder.name} has no config.json, so it is not a model folder Quant Doctor can read.",
            "Open the folder that holds config.json and the .safetensors files, or pick a .gguf file.",
        )
    config = _load_json(config_path, "config.json")
    if not isinstance(config, dict):
        raise ModelFolderError("config.json does not hold a JSON object.", "Download config.json again.")
    text_config = config.get("text_config")
    cfg: dict[str, Any] = {**config, **(text_config if isinstance(text_config, dict) else {})}

    files = _weight_files(folder)
    if not files:
        raise ModelFolderError(
            f"{folder.name} has a config.json but no .safetensors weight files.",
            "Download the model's .safetensors files into the folder.",
        )
    tensors: list[SafeTensor] = []
    for f in files:
        tensors.extend(read_safetensors_header(f)[0])

    qc = _quant_config(folder, config)
    fmt = qc.quant_method if qc and qc.quant_method in ("gptq", "awq", "exl2") else "safetensors"

    def num(*keys: str) -> int | None:
        for k in keys:
            v = cfg.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
        return None

    archs = config.get("architectures")
    profile = ModelProfile(
        format=fmt,
        path=str(folder),
        files=[str(f) for f in files],
        file_size=sum(stat_path(f, "a weight file", ModelFolderError).st_size for f in files),
        architecture=str(cfg.get("model_type") or (archs[0] if isinstance(archs, list) and archs else "")) or None,
        name=folder.name,
        context_length=num("max_position_embeddings", "n_positions", "seq_length"),
        block_count=num("num_hidden_layers", "n_layer"),
        embedding_length=num("hidden_size", "n_embd"),
        feed_forward_length=num("intermediate_size"),
        head_count=num("num_attention_heads", "n_head"),
        head_count_kv=num("num_key_value_heads"),
        sliding_window=num("sliding_window"),
        expert_count=num("num_local_experts", "num_experts", "n_routed_experts") or 0,
        expert_used_count=num("num_experts_per_tok") or 0,
        expert_shared_count=num("n_shared_experts") or (1 if num("shared_expert_intermediate_size") else 0),
        vocab_size=num("vocab_size"),
        quantization=qc,
        card=_card(folder),
    )
    profile.head_count_kv = profile.head_count_kv or profile.head_count
    head_dim = num("head_dim")
    if head_dim is None and profile.head_count and profile.embedding_length:
        head_dim = profile.embedding_length // profile.head_count
    profile.key_length = profile.value_length = head_dim
    tok_cfg = _load_json(folder / "tokenizer_config.json", "tokenizer_config.json")
    profile.has_chat_template = (isinstance(tok_cfg, dict) and bool(tok_cfg.get("chat_template"))) or _template_file(
        folder
    )
    if qc:
        if qc.quant_method == "exl2":
            profile.nominal_type = f"EXL2 {qc.bits:g} bpw" if qc.bits else "EXL2"
        else:
            group = f" g{qc.group_size}" if qc.group_size and qc.group_size > 0 else ""
            profile.nominal_type = (
                f"{qc.quant_method.upper()} {qc.bits:g}-bit{group}" if qc.bits else qc.quant_method.upper()
            )
    else:
        dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "").upper()
        profile.nominal_type = {"FLOAT16": "F16", "BFLOAT16": "BF16", "FLOAT32": "F32"}.get(dtype, dtype or None)
    if profile.card and profile.card.base_model:
        profile.basename = profile.card.base_model[0].rsplit("/", 1)[-1]
        profile.base_models = [
            BaseModel(
                name=repo.rsplit("/", 1)[-1],
                organization=repo.split("/")[0] if "/" in repo else None,
                repo_url=f"https://huggingface.co/{repo}",
            )
            for repo in profile.card.base_model
        ]

    profile.tensors = _group(tensors, qc)
    _check_complete(folder, cfg, profile.tensors, files)
    profile.tensor_types = census((t.type, None, t.parameters, t.bytes) for t in profile.tensors)
    fill_sizes(profile)
    return profile
