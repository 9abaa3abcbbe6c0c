"""A repository's card and file tree, as the Hub describes them.

One `model_info(..., files_metadata=True)` call answers everything here: the card's front matter
(`base_model`, `base_model_relation`, `datasets`, `language`, `license`), the gated state, the
Hub's tags (which carry the model tree: `base_model:quantized:ORG/NAME`), the Hub's GGUF summary
where it gives one, and every file with its size and, for LFS files, its sha256.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from huggingface_hub.hf_api import ModelInfo

from core import net
from core.hub import _client
from core.hub.quants import QuantType, folder_type, method_from_repo, type_from_filename
from core.model.profile import ModelCard

RELATIONS = ("quantized", "finetune", "merge", "adapter")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}/[\w.\-]{1,96}$")
_SHARD = re.compile(r"^(?P<stem>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_URL_STOP = {"tree", "blob", "resolve", "discussions", "commit", "commits", "raw", "edit"}


def parse_repo_id(text: str | None) -> str | None:
    """Turn "org/name", a model page URL (any host) or "hf://org/name" into "org/name"; None if not one."""
    if not text:
        return None
    t = text.strip()
    if t.startswith("hf://"):
        t = t[5:]
    elif "://" in t:
        parts = [p for p in net.split_url(t).path.split("/") if p]
        if parts and parts[0] == "models":
            parts = parts[1:]
        if len(parts) < 2 or parts[1] in _URL_STOP or parts[0] in ("datasets", "spaces", "api"):
            return None
        t = "/".join(parts[:2])
    t = t.strip("/")
    return t if _REPO_ID.match(t) and ".." not in t else None


def same_repo(a: str | None, b: str | None) -> bool:
    return bool(a and b and a.strip().lower() == b.strip().lower())


@dataclass(frozen=True)
class HubFile:
    """One file of a repository: size, and the sha256 the Hub keeps for LFS files."""

    path: str
    size: int | None = None
    sha256: str | None = None
    blob_id: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.path.lower().endswith(".gguf")


@dataclass(frozen=True)
class GGUFEntry:
    """One GGUF model in a repository: a single file, or all parts of a split one."""

    name: str  # the first (or only) file, the one to open
    files: tuple[str, ...]
    size: int | None
    quant: QuantType | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "parts": len(self.files),
            "size": self.size,
            "quant_type": self.quant.name if self.quant else None,
            "nominal_bpw": round(self.quant.bpw, 4) if self.quant and self.quant.bpw else None,
        }


def _is_side_file(path: str) -> bool:
    """GGUFs that are not the language model: vision projectors, imatrix data, LoRA adapters."""
    name = path.rsplit("/", 1)[-1].lower()
    return name.startswith("mmproj") or "imatrix" in name or name.startswith("lora") or "-lora-" in name


def gguf_entries(files: list[HubFile]) -> list[GGUFEntry]:
    """Group a repository's GGUF files into models (split parts together), side files left out."""
    singles: list[GGUFEntry] = []
    splits: dict[str, list[HubFile]] = {}
    for f in files:
        if not f.is_gguf or _is_side_file(f.path):
            continue
        m = _SHARD.match(f.path)
        if m:
            splits.setdefault(m.group("stem") + "/" + m.group("count"), []).append(f)
        else:
            singles.append(GGUFEntry(f.path, (f.path,), f.size, type_from_filename(f.path)))
    for parts in splits.values():
        parts.sort(key=lambda p: p.path)
        sizes = [p.size for p in parts]
        total = sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None
        singles.append(GGUFEntry(parts[0].path, tuple(p.path for p in parts), total, type_from_filename(parts[0].path)))
    return sorted(singles, key=lambda e: ((e.quant.rank if e.quant else (0.0, 0)), e.name))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return []


def relation_from_tags(tags: list[str]) -> tuple[str | None, list[str]]:
    """The Hub's model-tree tags: "base_model:quantized:ORG/NAME" → ("quantized", ["ORG/NAME"])."""
    relation: str | None = None
    bases: list[str] = []
    for tag in tags:
        parts = tag.split(":", 2)
        if len(parts) == 3 and parts[0] == "base_model" and parts[1] in RELATIONS:
            relation = relation or parts[1]
            if parts[1] == relation and parts[2] not in bases:
                bases.append(parts[2])
    return relation, bases


@dataclass
class HubCard:
    """What the Hub says about one repository."""

    repo_id: str
    sha: str | None = None
    gated: str | bool | None = None  # "auto", "manual" or False
    private: bool | None = None
    license: str | None = None
    base_models: list[str] = field(default_factory=list)
    relation: str | None = None  # quantized / finetune / merge / adapter
    relation_source: str | None = None  # "card", "hub model tree", "inferred"
    datasets: list[str] = field(default_factory=list)
    language: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library: str | None = None
    gguf: dict[str, Any] | None = None  # the Hub's GGUF summary (architecture, context_length, total)
    quantization_config: dict[str, Any] | None = None
    files: list[HubFile] = field(default_factory=list)
    downloads: int | None = None
    likes: int | None = None

    @property
    def quantizes(self) -> list[str]:
        """The repositories this one is a quantization of (empty unless the relation is 'quantized')."""
        return list(self.base_models) if self.relation == "quantized" else []

    @property
    def method(self) -> str | None:
        if any(f.is_gguf for f in self.files):
            return "gguf"
        qc = (self.quantization_config or {}).get("quant_method")
        return str(qc).lower() if qc else method_from_repo(self.repo_id, self.tags)

    @property
    def is_gated(self) -> bool:
        return bool(self.gated)

    def gguf_models(self) -> list[GGUFEntry]:
        return gguf_entries(self.files)

    def folder_quant(self) -> QuantType | None:
        method = self.method
        if method in ("exl2", "exl3", "gptq", "awq"):
            return folder_type(method, self.repo_id, self.quantization_config)
        return None

    def file(self, path: str) -> HubFile | None:
        return next((f for f in self.files if f.path == path), None)

    def model_card(self) -> ModelCard:
        """The card as core.model.profile's `ModelCard`, the shape the checks read."""
        return ModelCard(
            base_model=list(self.base_models),
            base_model_relation=self.relation,
            datasets=list(self.datasets),
            language=list(self.language),
            license=self.license,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["quantizes"] = self.quantizes
        d["method"] = self.method
        d["gguf_models"] = [e.to_dict() for e in self.gguf_models()]
        fq = self.folder_quant()
        d["folder_quant"] = fq.name if fq else None
        return d


def card_from_info(info: ModelInfo) -> HubCard:
    """Build a `HubCard` from the client's `ModelInfo` (from `model_info` or a listing)."""
    card_data = info.card_data
    data: dict[str, Any] = card_data.to_dict() if card_data is not None else {}  # type: ignore[no-untyped-call]
    tags = list(info.tags or [])
    bases = _as_list(data.get("base_model"))
    relation = data.get("base_model_relation") if data.get("base_model_relation") in RELATIONS else None
    source = "card" if relation else None
    tag_relation, tag_bases = relation_from_tags(tags)
    if relation is None and tag_relation is not None:
        relation, source = tag_relation, "hub model tree"
        bases = bases or tag_bases
    if relation is None and bases:
        method = method_from_repo(info.id, tags)
        if method or any((s.rfilename or "").lower().endswith(".gguf") for s in info.siblings or []):
            relation, source = "quantized", "inferred"  # a quant repo whose card names its model
    files = [
        HubFile(
            s.rfilename,
            s.lfs.size if s.lfs is not None else s.size,
            s.lfs.sha256 if s.lfs is not None else None,
            s.blob_id,
        )
        for s in info.siblings or []
    ]
    config = info.config if isinstance(info.config, dict) else {}
    qc = config.get("quantization_config")
    gated = info.gated
    return HubCard(
        repo_id=info.id,
        sha=info.sha,
        gated=gated if isinstance(gated, str | bool) else None,
        private=info.private,
        license=str(data["license"]) if data.get("license") else None,
        base_models=bases,
        relation=relation,
        relation_source=source,
        datasets=_as_list(data.get("datasets")),
        language=_as_list(data.get("language")),
        tags=tags,
        pipeline_tag=info.pipeline_tag,
        library=info.library_name,
        gguf=info.gguf if isinstance(info.gguf, dict) else None,
        quantization_config=qc if isinstance(qc, dict) else None,
        files=files,
        downloads=info.downloads,
        likes=info.likes,
    )


def fetch_card(repo: str, revision: str | None = None, timeout: float | None = None) -> HubCard:
    """Read a repository's card, metadata and file tree (sizes, LFS sha256) from the Hub.

    Raises HubOfflineError, HubNotFoundError, HubGatedError, HubRateLimitedError, HubTimeoutError or
    HubUnreachableError: each a plain message and a fix.
    """
    repo_id = parse_repo_id(repo)
    if repo_id is None:
        from core.errors import HubNotFoundError

        raise HubNotFoundError(
            f"'{repo}' is not a Hub repository name.",
            "Give it as owner/name (for example the part after the host in the model page's address).",
        )
    _client.ensure_online(f"read the card of {repo_id}")
    what = f"read the card of {repo_id}"
    with _client.translated(what, repo_id):
        info = _client.fetch_model_info(repo_id, revision, timeout, what)
    return card_from_info(info)
