"""Which Hub repository is this model file, and which model did the person expect?

Sources, most certain first:

1. The file lives in the Hugging Face cache (`…/models--ORG--NAME/snapshots/<commit>/file.gguf`):
   that is the repository it was downloaded from (usually a quant repository).
2. A search for the file's name: the repositories that hold a file of exactly that name.
3. The GGUF's own metadata: `general.source.*` / `general.repo_url` (the model it was converted
   from) and `general.base_model.*.repo_url` (the model that one was derived from).
4. What the person typed as the expected model: "org/name", a model page address, or words to
   search for.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from huggingface_hub.hf_api import ModelInfo

from core.errors import HubError, QuantDoctorError
from core.hub import _client
from core.hub.card import parse_repo_id
from core.hub.quants import type_from_filename
from core.model.profile import ModelProfile

_CACHE_DIR = re.compile(r"^models--(?P<org>[^/]+?)--(?P<name>[^/]+)$")
SOURCE_KEYS = (
    "general.source.repo_url",
    "general.source.url",
    "general.source.huggingface.repository",
    "general.repo_url",
    "general.url",
)


@dataclass(frozen=True)
class RepoGuess:
    """A repository a model file (or the expected model) probably is, and how Quant Doctor knows."""

    repo_id: str
    role: str  # "download repo", "source model", "base model", "expected"
    how: str  # where the name came from, in words
    confident: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def repo_from_cache_path(path: str | Path) -> tuple[str, str | None] | None:
    """(repo id, commit) when `path` is inside a Hugging Face cache snapshot folder."""
    parts = Path(path).parts
    for i in range(len(parts) - 3, -1, -1):
        m = _CACHE_DIR.match(parts[i])
        if m and i + 2 < len(parts) and parts[i + 1] == "snapshots":
            return f"{m.group('org')}/{m.group('name')}", parts[i + 2]
    return None


def _header_sources(profile: ModelProfile) -> list[str]:
    if profile.format != "gguf" or not profile.files:
        return []
    from core.model.gguf_reader import read_gguf_header

    try:
        header = read_gguf_header(profile.files[0])
    except QuantDoctorError:
        return []
    found: list[str] = []
    for key in SOURCE_KEYS:
        value = header.get(key)
        repo = parse_repo_id(value) if isinstance(value, str) else None
        if repo and repo not in found:
            found.append(repo)
    return found


def _listing(params: list[tuple[str, Any]]) -> list[ModelInfo]:
    items = _client.get_json("/api/models", params=params)
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "id" in item:
            item.setdefault("siblings", None)
            with contextlib.suppress(HubError):  # one malformed entry costs that entry, not the listing
                out.append(_client.model_info(item, "read the Hub's listing"))
    return out


def search_by_filename(filename: str, limit: int = 20) -> list[RepoGuess]:
    """Repositories holding a file of exactly this name (the name without its quant type is the query)."""
    base = Path(filename).name
    stem = re.sub(r"(-\d{5}-of-\d{5})?\.gguf$", "", base, flags=re.IGNORECASE)
    qt = type_from_filename(base)
    if qt is not None:
        stem = re.sub(rf"[-.](UD-)?{re.escape(qt.name)}$", "", stem, flags=re.IGNORECASE)
    if len(stem) < 3:
        return []
    what = f"search the Hub for {base}"
    _client.ensure_online(what)
    with _client.translated(what):
        infos = _listing([("search", stem), ("limit", limit), ("expand", "siblings"), ("expand", "downloads")])
    hits = [i for i in infos if any((s.rfilename or "").rsplit("/", 1)[-1] == base for s in i.siblings or [])]
    hits.sort(key=lambda i: -(i.downloads or 0))
    return [
        RepoGuess(i.id, "download repo", f"the only repository with a file named {base}" if len(hits) == 1
                  else f"one of {len(hits)} repositories with a file named {base} (most downloaded)", len(hits) == 1)
        for i in hits[:3]
    ]  # fmt: skip


def resolve_repo(profile: ModelProfile, search: bool = True) -> list[RepoGuess]:
    """Every repository this model file can be tied to, most certain first (see the module docstring).

    Without network (`search=False`, or offline) only the cache path and the file's metadata are used.
    """
    guesses: list[RepoGuess] = []
    cached = repo_from_cache_path(profile.path)
    if cached:
        guesses.append(RepoGuess(cached[0], "download repo", "the Hugging Face cache folder it is in", True))
    if search and not cached and profile.format == "gguf" and not _client.is_offline():
        with contextlib.suppress(HubError):  # the other sources still count
            guesses += search_by_filename(profile.path)
    for repo in _header_sources(profile):
        guesses.append(RepoGuess(repo, "source model", "the file's metadata (general.source / repo_url)", True))
    for bm in profile.base_models:
        base = parse_repo_id(bm.repo_url)
        if base:
            guesses.append(RepoGuess(base, "base model", "the file's metadata (general.base_model)", True))
    seen: set[tuple[str, str]] = set()
    unique = []
    for g in guesses:
        key = (g.repo_id.lower(), g.role)
        if key not in seen:
            seen.add(key)
            unique.append(g)
    return unique


def resolve_expected(expected: str) -> RepoGuess:
    """What the person typed as the model they expected → a repository (searched for when not a name)."""
    repo = parse_repo_id(expected)
    if repo:
        return RepoGuess(repo, "expected", "as you typed it", True)
    what = f"search the Hub for '{expected}'"
    _client.ensure_online(what)
    with _client.translated(what):
        infos = _listing([("search", expected.strip()), ("limit", 5), ("sort", "downloads"), ("expand", "downloads")])
    if not infos:
        from core.errors import HubNotFoundError

        raise HubNotFoundError(
            f"No model on the Hub matches '{expected}'.",
            "Give the expected model as owner/name, as shown on its model page.",
        )
    infos.sort(key=lambda i: -(i.downloads or 0))
    return RepoGuess(infos[0].id, "expected", f"the most downloaded match for '{expected}'", len(infos) == 1)
