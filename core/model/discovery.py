"""Models already on this disk, in the places people's tools keep them.

Most people do not know where LM Studio or Ollama put their downloads; showing those models
turns "find the file" into one click. Ollama stores GGUFs as content-addressed blobs, so its
manifests are read to give each blob its model name. Nothing here opens a model for writing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core import jsonfile
from core.errors import ModelFileError
from core.files import open_regular

GGUF_MAGIC = b"GGUF"
MAX_MANIFEST_BYTES = 1 << 20


@dataclass(frozen=True)
class FoundModel:
    name: str
    path: Path
    source: str  # "LM Studio", "Ollama", "Hugging Face cache", "llama.cpp cache"
    size: int

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "source": self.source, "size": self.size}


def default_locations(home: Path | None = None) -> dict[str, list[Path]]:
    """Where each tool keeps models, honouring the environment variables the tools themselves read."""
    home = home or Path.home()
    env = os.environ
    hf_home = Path(env["HF_HOME"]) if env.get("HF_HOME") else home / ".cache" / "huggingface"
    hf_cache = Path(env["HF_HUB_CACHE"]) if env.get("HF_HUB_CACHE") else hf_home / "hub"
    ollama = Path(env["OLLAMA_MODELS"]) if env.get("OLLAMA_MODELS") else home / ".ollama" / "models"
    llama_cache = Path(env["LLAMA_CACHE"]) if env.get("LLAMA_CACHE") else home / ".cache" / "llama.cpp"
    return {
        "LM Studio": [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"],
        "Ollama": [ollama, Path("/usr/share/ollama/.ollama/models")],
        "Hugging Face cache": [hf_cache],
        "llama.cpp cache": [llama_cache],
    }


def _is_gguf(path: Path) -> bool:
    """A regular file that starts with the GGUF magic (a FIFO or device named .gguf is never opened)."""
    try:
        with open_regular(path, "a GGUF file", ModelFileError) as fd:
            return os.pread(fd, 4, 0) == GGUF_MAGIC
    except (OSError, ModelFileError):
        return False


def _walk_ggufs(root: Path, max_depth: int = 6) -> Iterator[Path]:
    base = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if len(Path(dirpath).parts) - base >= max_depth:
            dirnames.clear()
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.lower().endswith(".gguf") and "mmproj" not in name.lower():
                yield Path(dirpath) / name


def _first_shard_only(path: Path) -> bool:
    """Of a split model, list only part 1 (opening it finds the rest)."""
    stem = path.name.lower()
    return "-of-0" not in stem or "-00001-of-" in stem


def _ollama(root: Path) -> Iterator[FoundModel]:
    manifests = root / "manifests"
    if not manifests.is_dir():
        return
    for manifest in manifests.rglob("*"):
        if not manifest.is_file() or manifest.stat().st_size > MAX_MANIFEST_BYTES:
            continue
        try:
            data = jsonfile.load(manifest, "Ollama manifest", ModelFileError, max_bytes=MAX_MANIFEST_BYTES)
        except ModelFileError:
            continue
        rel = manifest.relative_to(manifests).parts  # registry/namespace/model/tag
        name = f"{rel[-2]}:{rel[-1]}" if len(rel) >= 2 else manifest.name
        if len(rel) >= 3 and rel[-3] != "library":
            name = f"{rel[-3]}/{name}"
        for layer in data.get("layers", []) if isinstance(data, dict) else []:
            if not isinstance(layer, dict) or layer.get("mediaType") != "application/vnd.ollama.image.model":
                continue
            digest = str(layer.get("digest", "")).replace(":", "-")
            blob = root / "blobs" / digest
            if digest and blob.is_file() and _is_gguf(blob):
                yield FoundModel(name, blob, "Ollama", blob.stat().st_size)


def discover_models(locations: dict[str, list[Path]] | None = None) -> list[FoundModel]:
    """Every GGUF model found in the usual places, largest first within each source."""
    found: list[FoundModel] = []
    seen: set[Path] = set()
    for source, roots in (locations or default_locations()).items():
        for root in roots:
            if not root.is_dir():
                continue
            items: Iterator[FoundModel]
            if source == "Ollama":
                items = _ollama(root)
            else:
                items = (
                    FoundModel(_display_name(p, root, source), p, source, p.stat().st_size)
                    for p in _walk_ggufs(root)
                    if _first_shard_only(p) and _is_gguf(p)
                )
            for m in items:
                real = m.path.resolve()
                if real not in seen:
                    seen.add(real)
                    found.append(m)
    return found


def _display_name(path: Path, root: Path, source: str) -> str:
    if source == "Hugging Face cache":
        # hub/models--org--name/snapshots/<rev>/file.gguf
        for part in path.relative_to(root).parts:
            if part.startswith("models--"):
                return part.removeprefix("models--").replace("--", "/") + "/" + path.name
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name
