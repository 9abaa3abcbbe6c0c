"""The reference-logit cache: run the reference once per text and settings, reuse it for every candidate.

A file holds, for one (reference file, text, settings) triple, the scored tokens and the compressed
reference distribution (top-k + sampled tail, see metrics.py): about 1 KB per scored token. Files
live under `cache_dir()/reference-logits/`, named by a sha256 of everything that changes the
numbers: the model file's fingerprint, the text, the runtime settings that touch the logits, the
chunking, the compression, this format's version and llama.cpp's version. Writes go to a temporary
name first, so a cancelled run never leaves a half file behind under the real name.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from core.paths import own_folder

FORMAT_VERSION = 1
FOLDER = "reference-logits"


def _llama_version() -> str:
    try:
        return metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class CacheKey:
    model_fingerprint: str
    text_sha256: str
    settings: dict[str, Any]  # only what changes logits: cache types, flash attention, GPU layers
    chunk: int
    max_chunks: int
    top_k: int
    tail_samples: int

    def digest(self) -> str:
        blob = json.dumps(
            {
                "v": FORMAT_VERSION, "llama": _llama_version(), "model": self.model_fingerprint,
                "text": self.text_sha256, "settings": self.settings, "chunk": self.chunk,
                "max_chunks": self.max_chunks, "top_k": self.top_k, "tail": self.tail_samples,
            },
            sort_keys=True,
        )  # fmt: skip
        return hashlib.sha256(blob.encode()).hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


STALE_PART_S = 24 * 3600


def cache_folder() -> Path:
    """The cache folder; half-written files a killed worker left behind a day ago are removed."""
    folder = own_folder(FOLDER)
    now = time.time()
    for part in folder.glob("*.part.npz"):
        try:
            if now - part.stat().st_mtime > STALE_PART_S:
                part.unlink()
        except OSError:
            pass
    return folder


def path_for(key: CacheKey) -> Path:
    return cache_folder() / f"{key.digest()[:40]}.npz"


def lookup(key: CacheKey) -> Path | None:
    """The cached file for this key, or None (a file that cannot be opened counts as missing)."""
    path = path_for(key)
    if not path.is_file():
        return None
    try:
        import numpy as np

        with np.load(path) as z:
            if "topk_ids" not in z.files or "tokens" not in z.files:
                raise ValueError("incomplete")
    except (OSError, ValueError, EOFError):
        path.unlink(missing_ok=True)
        return None
    os.utime(path)  # most recently used first, for whoever trims the cache
    return path


def logit_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The runtime settings that change a model's logits (threads and context size do not)."""
    keep = ("cache_type_k", "cache_type_v", "flash_attn", "n_gpu_layers")
    return {k: settings[k] for k in keep if k in settings}
