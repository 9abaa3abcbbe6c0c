"""Model ids on the Hub that match what a person is typing: the suggestions under "Which model did you
mean to run?". One short listing call (`/api/models?search=`), most downloaded first; the ids are
data from a server, so only well-formed ones are kept (and they are shown as plain text)."""

from __future__ import annotations

import re

from core.hub import _client
from core.hub._client import is_offline

__all__ = ["is_offline", "search_model_ids"]

MIN_QUERY = 2
# A Hub repo id: "name" or "org/name", letters, digits, "-", "_", "."; at most 96 characters each side.
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")
SEARCH_TIMEOUT_S = 5.0


def search_model_ids(text: str, limit: int = 8, timeout: float = SEARCH_TIMEOUT_S) -> list[str]:
    """Up to `limit` model ids matching `text`, most downloaded first; [] for a query too short to search.
    Offline or unreachable: the typed Hub error (the caller stays silent about it)."""
    query = text.strip()
    if len(query) < MIN_QUERY:
        return []
    what = f"search the Hub for {query[:60]}"
    _client.ensure_online(what)
    with _client.translated(what):
        items = _client.get_json(
            "/api/models",
            params=[("search", query[:96]), ("limit", limit), ("sort", "downloads"), ("direction", "-1")],
            timeout=timeout,
        )
    out: list[str] = []
    for item in items if isinstance(items, list) else []:
        repo = item.get("id") if isinstance(item, dict) else None
        if isinstance(repo, str) and _REPO_ID.fullmatch(repo) and repo not in out:
            out.append(repo)
    return out[:limit]
