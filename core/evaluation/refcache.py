"""The reference-logit cache: run the reference once per text and settings, reuse it for every candidate.

A file holds, for one (reference file, text, settings) triple, the scored tokens and the compressed
reference distribution (top-k + sampled tail, see metrics.py): about 1 KB per scored token. Files
live under `cache_dir()/reference-logits/`, named by a sha256 of everything that changes the
numbers: the model file's fingerprint, the text, the runtime settings that touch the logits, the
chunking, the compression, this format's version and llama.cpp's version. Writes go to a temporary
name first, so a cancelled run never leaves a half file behind under the real name.

An entry may hold only the first chunks of its text's chunk order (a seeded shuffle, see
core.evaluation.early_stop): a comparison that stopped early keeps what its reference scored, and
a later run (a full one, or one that needs more chunks) scores only the chunks it lacks and stores
the entry grown (`held` says how many chunks an entry holds, of how many).
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

from core import jsonfile
from core.paths import own_folder

FORMAT_VERSION = 2  # 2: chunks in a seeded order, an entry may hold only the first of them
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


# The arrays an entry holds, with their number of dimensions (llama_child.save_reference writes them).
_ARRAYS = {"tokens": 1, "topk_ids": 2, "topk_logp": 2, "rest_mass": 1, "nll": 1, "argmax": 1, "tail_ids": 2,
           "tail_logp": 2}  # fmt: skip


def _problem(path: Path, key: CacheKey) -> str | None:
    """Why the entry at `path` cannot be used (None: it is whole). Reads every array, so a flipped
    byte fails the zip's CRC here, in the parent, instead of crashing the worker that would use it."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [name for name in _ARRAYS if name not in z.files]
            if missing:
                return "it lacks " + ", ".join(missing)
            arrays = {name: z[name] for name in _ARRAYS}
            names = list(z.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        return f"it cannot be read ({type(exc).__name__})"
    for name, ndim in _ARRAYS.items():
        if arrays[name].ndim != ndim:
            return f"its {name} has {arrays[name].ndim} dimensions instead of {ndim}"
    n = arrays["nll"].shape[0]
    if any(arrays[name].shape[0] != n for name in _ARRAYS if name != "tokens"):
        return "its arrays disagree on the number of tokens"
    if arrays["topk_ids"].shape[1] != key.top_k or arrays["tail_ids"].shape[1] != key.tail_samples:
        return "its top-k or tail width differs from the settings"
    if not (np.isfinite(arrays["nll"]).all() and np.isfinite(arrays["rest_mass"]).all()):
        return "it holds numbers that are not finite"
    if "done" in names:
        per_chunk = key.chunk - 1 - key.chunk // 2
        done, order = _held_arrays(path)
        if done * per_chunk != n or done > len(order) or sorted(order.tolist()) != list(range(len(order))):
            return "its chunk order disagrees with the tokens it holds"
    return None


def _held_arrays(path: Path) -> tuple[int, Any]:
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        return int(z["done"]), z["order"].astype(np.int64)


def held(path: Path) -> tuple[int, int]:
    """(chunks the entry holds, chunks its text has); an entry written whole holds every chunk."""
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        meta = jsonfile.loads(str(z["meta"]), "a cached reference's meta") if "meta" in z.files else {}
        total = int(meta.get("n_chunk") or 0)
        done = int(z["done"]) if "done" in z.files else total
    return done, total


def lookup_checked(key: CacheKey) -> tuple[Path | None, str | None]:
    """(the cached file for this key or None, a note when a damaged entry was found and removed).

    A damaged entry (cut short, flipped bytes, missing arrays) is removed, so the reference is
    computed again and stored whole, and the note says so: it never fails every later comparison.
    """
    path = path_for(key)
    if not path.is_file():
        return None, None
    problem = _problem(path, key)
    if problem is not None:
        path.unlink(missing_ok=True)
        return None, f"A damaged cached reference ({path.name}: {problem}) was removed and computed again."
    os.utime(path)  # most recently used first, for whoever trims the cache
    return path, None


def lookup(key: CacheKey) -> Path | None:
    """The cached file for this key, or None (a damaged one is removed; see `lookup_checked`)."""
    return lookup_checked(key)[0]


def logit_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The runtime settings that change a model's logits (threads and context size do not)."""
    keep = ("cache_type_k", "cache_type_v", "flash_attn", "n_gpu_layers")
    return {k: settings[k] for k in keep if k in settings}
