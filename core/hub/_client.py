"""The one place core.hub meets the Hub: settings, offline mode, requests and error translation.

Settings are read when a call is made, not when a module is imported (`huggingface_hub.constants`
freezes HF_ENDPOINT / HF_HUB_OFFLINE / HF_HUB_CACHE at import), so a setting changed while the app
runs, or by a test, takes effect. The person's token is never read here: the client's header builder
(`build_hf_headers`) reads it the standard way (HF_TOKEN, then the login store), it is sent to the
Hub's own origin only, and Quant Doctor never stores, logs or shows it.

Every request goes through the one HTTP door (core.net): a timeout, a size cap read as the answer
arrives (listings and cards: 64 MB, decoded), redirects followed only within the Hub's own origin.
`huggingface_hub` is still the Hub's dictionary: its header builder, its `hf_raise_for_status` (what
an error status and X-Error-Code mean, turned into its typed errors and then into ours by
`translated`), its `ModelInfo` parser, its cache layout (`repo_folder_name`, `try_to_load_from_cache`)
and its file lock. Its own HTTP (`HfApi`, `get_hf_file_metadata`, `hf_hub_download`) is not used:
those follow redirects and write where the server's answers say, which the door and the checks in
core.hub.download decide instead.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import constants, hf_raise_for_status
from huggingface_hub.errors import (
    DisabledRepoError,
    FileMetadataError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import ModelInfo

# A public name of huggingface_hub.utils that mypy does not see as re-exported (lazy imports there).
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

from core import jsonfile, net
from core.errors import (
    HubError,
    HubGatedError,
    HubNotFoundError,
    HubOfflineError,
    HubRateLimitedError,
    HubTimeoutError,
    HubUnreachableError,
    NetAddressError,
    NetAnswerError,
    NetError,
    NetRedirectError,
    NetTimeoutError,
    QuantDoctorError,
)
from core.files import user_path

_TRUE = {"1", "on", "yes", "true"}
MAX_ANSWER_BYTES = 64 * 1024 * 1024
_NOT_THE_HUB = "The server at HF_ENDPOINT does not answer like the model Hub: unset HF_ENDPOINT or fix it."
_NOT_THE_HUB_FIX = (
    "Something between you and the Hub answered instead of it (a captive portal, a login page, a proxy), "
    "or HF_ENDPOINT points at the wrong server. Open a web page to sign in to the network, or check HF_ENDPOINT."
)


def endpoint() -> str:
    """The Hub's base URL: HF_ENDPOINT when set (a mirror, or a test server), else the client's default."""
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def is_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as set now, or as the client saw it at import."""
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    if env is not None:
        return env.strip().lower() in _TRUE
    return bool(constants.HF_HUB_OFFLINE)


def cache_dir() -> Path:
    """The standard Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub), shared with other tools."""
    if os.environ.get("HF_HUB_CACHE"):
        return user_path(os.environ["HF_HUB_CACHE"], HubError)
    if os.environ.get("HF_HOME"):
        return user_path(os.environ["HF_HOME"], HubError) / "hub"
    return Path(constants.HF_HUB_CACHE)


def metadata_timeout() -> float:
    """Seconds to wait for an answer about a repository or a file (HF_HUB_ETAG_TIMEOUT, default 10)."""
    return _env_seconds("HF_HUB_ETAG_TIMEOUT", float(constants.HF_HUB_ETAG_TIMEOUT))


def download_timeout() -> float:
    """Seconds a download may stall before it counts as stopped (HF_HUB_DOWNLOAD_TIMEOUT, default 10)."""
    return _env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", float(constants.HF_HUB_DOWNLOAD_TIMEOUT))


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def signed_in() -> bool:
    """Whether requests will carry the person's token (never the token itself)."""
    from huggingface_hub import get_token

    return get_token() is not None


def model_page(repo_id: str) -> str:
    return f"{endpoint()}/{repo_id}"


def ensure_online(what: str) -> None:
    """Refuse before any network traffic when offline mode is on."""
    if is_offline():
        raise HubOfflineError(
            f"Quant Doctor is offline (HF_HUB_OFFLINE is set), so it cannot {what}.",
        )


def headers_for(url: str) -> dict[str, str]:
    """The client's headers (user agent, and the person's token) for the Hub's own origin; elsewhere (a
    CDN the Hub names) only the user agent: the token never leaves the Hub."""
    built: dict[str, str] = build_hf_headers()
    if net.same_origin(url, endpoint()):
        return built
    return {k: v for k, v in built.items() if k.lower() == "user-agent"}


def raise_for_status(reply: net.Reply, method: str = "GET") -> None:
    """The client's `hf_raise_for_status` on what the door read: its typed errors for an error status.

    It is handed the status and headers (X-Error-Code says gated / not found / no such revision) and no
    body: the client would parse an error body without a size or depth limit.
    """
    if reply.status < 400:
        return
    response = httpx2.Response(reply.status, headers=dict(reply.headers), request=httpx2.Request(method, reply.url))
    hf_raise_for_status(response)
    raise HubError(f"The Hub answered HTTP {reply.status}.")  # not reached: the client raises for >= 400


def get(path: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        timeout: float | None = None, max_bytes: int = MAX_ANSWER_BYTES) -> net.Reply:  # fmt: skip
    """GET `{endpoint}{path}` through the door, with the client's headers; one try, with a timeout."""
    url = endpoint() + path
    limit = timeout if timeout is not None else metadata_timeout()
    reply = net.request("GET", url, headers={**headers_for(url), "Accept": "application/json"}, params=params,
                        max_bytes=max_bytes, timeout=limit, deadline=max(limit, 4 * limit))  # fmt: skip
    raise_for_status(reply)
    return reply


def get_json(path: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
             timeout: float | None = None) -> Any:  # fmt: skip
    """The JSON answer of `get`, through the one bounded loader (depth, numbers, size)."""
    reply = get(path, params, timeout)
    return jsonfile.loads(
        reply.body,
        f"The answer of {endpoint()} to {path}",
        HubUnreachableError,
        expect=None,
        max_bytes=MAX_ANSWER_BYTES,
        duplicates=True,
        fix=_NOT_THE_HUB_FIX,
    )


def model_info(data: Any, what: str) -> ModelInfo:
    """The client's `ModelInfo` of one answer; a shape it cannot take is a plain error, not a TypeError."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise HubUnreachableError(f"Could not {what}: the server at {endpoint()} does not answer like the model Hub.",
                                  _NOT_THE_HUB_FIX)  # fmt: skip
    try:
        info = ModelInfo(**data)  # type: ignore[no-untyped-call]
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise HubUnreachableError(
            f"Could not {what}: the server at {endpoint()} does not answer like the model Hub ({type(exc).__name__}).",
            _NOT_THE_HUB_FIX,
        ) from exc
    return _sane(info)


def _sane(info: ModelInfo) -> ModelInfo:
    """The fields core.hub reads, each of the type the Hub gives it or None (the client copies them as sent):
    a list of strings for tags, whole numbers for counts, file names that are paths inside a repository."""
    info.tags = [t for t in info.tags if isinstance(t, str)] if isinstance(info.tags, list) else None
    for name in ("downloads", "likes"):
        value = getattr(info, name, None)
        setattr(info, name, value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None)
    info.sha = info.sha if isinstance(info.sha, str) else None
    info.gated = info.gated if info.gated in ("auto", "manual", True, False) else None
    info.pipeline_tag = info.pipeline_tag if isinstance(info.pipeline_tag, str) else None
    info.library_name = info.library_name if isinstance(info.library_name, str) else None
    info.config = info.config if isinstance(info.config, dict) else None
    info.gguf = info.gguf if isinstance(info.gguf, dict) else None
    siblings = []
    for s in info.siblings or []:
        if not (isinstance(s.rfilename, str) and repo_path_ok(s.rfilename)):
            continue  # a name that is not a path inside the repository is not a file of it
        s.size = s.size if isinstance(s.size, int) and not isinstance(s.size, bool) and s.size >= 0 else None
        s.blob_id = s.blob_id if isinstance(s.blob_id, str) and _HEX40.fullmatch(s.blob_id) else None
        lfs = s.lfs
        if lfs is not None and not (isinstance(lfs.size, int) and isinstance(lfs.sha256, str)
                                    and _HEX64.fullmatch(lfs.sha256.lower())):  # fmt: skip
            s.lfs = None
        siblings.append(s)
    info.siblings = siblings if info.siblings is not None else None
    return info


_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BAD_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\\:]")


def repo_path_ok(path: str) -> bool:
    """A file name the Hub may give: a relative path inside the repository, no '..', '.', empty part,
    backslash, colon or control character (each would be a different file, or none, on some disk)."""
    if not path or len(path) > 1000 or path.startswith("/") or _BAD_PATH_CHARS.search(path):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def fetch_model_info(repo_id: str, revision: str | None, timeout: float | None, what: str) -> ModelInfo:
    """`/api/models/{repo}[/revision/{rev}]?blobs=true`, as `HfApi.model_info(files_metadata=True)` asks it."""
    path = f"/api/models/{repo_id}" + (f"/revision/{net.quote_segment(revision)}" if revision else "")
    return model_info(get_json(path, params={"blobs": "true"}, timeout=timeout), what)


# --- a file's metadata: the HEAD of its resolve URL -----------------------------------------------------

_ETAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class FileMeta:
    """What the Hub says about one file, every field checked before anything acts on it."""

    url: str  # the resolve URL asked
    commit: str  # 40 hex digits
    etag: str  # the blob's name in the cache: letters, digits, '-' and '_' only
    size: int | None
    location: str  # where the bytes are: the resolve URL itself, or the file host the Hub named


def resolve_url(repo_id: str, filename: str, revision: str | None) -> str:
    """`{endpoint}/{repo}/resolve/{revision}/{file}`, each part quoted (what `hf_hub_url` builds)."""
    rev = net.quote_segment(revision or "main")
    return f"{endpoint()}/{repo_id}/resolve/{rev}/{net.quote_segment(filename, safe='/')}"


def file_metadata(repo_id: str, filename: str, revision: str | None, timeout: float) -> FileMeta:
    """HEAD the file's resolve URL as `get_hf_file_metadata` does (X-Repo-Commit, X-Linked-Etag or ETag,
    X-Linked-Size or Content-Length; huggingface_hub file_download.py), through the door.

    Redirects within the Hub's origin are followed (a renamed repository); a redirect to another origin
    is not followed: it names the file host (the CDN), whose address is checked and returned as
    `location` for the download to ask itself, without the token. Raises HubError for any answer that
    is not a version id, a commit id or a usable address.
    """
    url = resolve_url(repo_id, filename, revision)
    current = url
    for _ in range(net.MAX_REDIRECTS + 1):
        reply = net.request("HEAD", current, headers={**headers_for(current), "Accept-Encoding": "identity"},
                            max_bytes=0, timeout=timeout, deadline=2 * timeout, follow_redirects=False,
                            decode=False)  # fmt: skip
        raise_for_status(reply, "HEAD")
        location = reply.headers.get("Location")
        if reply.status in (301, 302, 303, 307, 308) and location:
            target = net.join(current, location)
            if net.same_origin(target, current):
                current = target
                continue
            return _meta(reply, url, _checked_location(target, url))
        return _meta(reply, url, current)
    raise HubUnreachableError(f"The server at {endpoint()} redirected more than {net.MAX_REDIRECTS} times.",
                              _NOT_THE_HUB_FIX)  # fmt: skip


def _meta(reply: net.Reply, url: str, location: str) -> FileMeta:
    h = reply.headers
    raw_etag = h.get("X-Linked-Etag") or h.get("ETag")
    commit = h.get("X-Repo-Commit")
    if raw_etag is None or commit is None:
        raise HubError("The server did not say which version of the file it has.", _NOT_THE_HUB)
    etag = raw_etag.strip()
    etag = etag[2:] if etag.startswith("W/") else etag
    etag = etag.strip('"')
    if not _ETAG.fullmatch(etag):
        raise HubError(f"The server named the file's version {etag[:80]!r}, which is not a version id.", _NOT_THE_HUB)
    if not _COMMIT.fullmatch(commit.strip()):
        raise HubError(f"The server named the commit {commit[:80]!r}, which is not a commit id.", _NOT_THE_HUB)
    redirected = reply.status in (301, 302, 303, 307, 308)
    size = net.header_int(h.get("X-Linked-Size") or (None if redirected else h.get("Content-Length")))
    return FileMeta(url, commit.strip(), etag, size, location)


def _checked_location(target: str, hub_url: str) -> str:
    """The file host the Hub names, checked by the door (`net.handed_over`) before anything asks it."""
    try:
        return net.handed_over(hub_url, target)
    except NetError as exc:
        raise HubError(f"The server named a file address that cannot be used: {exc.message}", _NOT_THE_HUB) from exc


def _retry_after(response: httpx2.Response | None) -> int | None:
    if response is None:
        return None
    return net.header_int(response.headers.get("Retry-After") or response.headers.get("RateLimit-Reset"), 86_400)


def _status(err: HfHubHTTPError) -> int | None:
    response = getattr(err, "response", None)
    return int(response.status_code) if response is not None else None


@contextmanager
def translated(what: str, repo_id: str | None = None, filename: str | None = None) -> Iterator[None]:
    """Turn the client's exceptions into Quant Doctor's typed errors, each with a plain message.

    `what` completes "could not ..." (e.g. "read the card of org/name"). Messages never include
    request headers, so never the token.
    """
    target = f"{repo_id}/{filename}" if repo_id and filename else (repo_id or filename or "it")
    try:
        yield
    except NetError as exc:
        raise from_net(exc, what) from exc
    except QuantDoctorError:
        raise
    except OfflineModeIsEnabled as exc:
        raise HubOfflineError(f"Quant Doctor is offline (HF_HUB_OFFLINE is set), so it cannot {what}.") from exc
    except GatedRepoError as exc:
        page = model_page(repo_id) if repo_id else "the model page"
        signed = (
            "You are logged in, but your account has not been granted access yet."
            if signed_in()
            else ("You are not logged in.")
        )
        raise HubGatedError(
            f"{repo_id or 'This repository'} is gated: its files are only available after accepting its "
            f"license. {signed}",
            f"Open {page}, accept the license there, then log in (`hf auth login`, or set the HF_TOKEN "
            "environment variable) and try again.",
        ) from exc
    except RevisionNotFoundError as exc:
        raise HubNotFoundError(f"{repo_id or 'The repository'} has no such revision (branch, tag or commit).") from exc
    except RemoteEntryNotFoundError as exc:
        raise HubNotFoundError(
            f"{repo_id or 'The repository'} has no file named {filename or 'like that'}.",
            "Check the file name: `quantdoctor-cli hub card REPO` lists the repository's files.",
        ) from exc
    except DisabledRepoError as exc:
        raise HubNotFoundError(f"{repo_id or 'The repository'} has been disabled on the Hub.") from exc
    except RepositoryNotFoundError as exc:
        raise HubNotFoundError(f"{repo_id or 'The repository'} was not found on the Hub (or it is private).") from exc
    except HfHubHTTPError as exc:
        raise _from_status(exc, what, target) from exc
    except LocalEntryNotFoundError as exc:
        if is_offline():
            raise HubOfflineError(
                f"Quant Doctor is offline (HF_HUB_OFFLINE is set) and {target} is not in the local cache, so it "
                f"cannot {what}."
            ) from exc
        raise HubUnreachableError(f"Could not {what}: the Hub could not be reached.") from exc
    except json.JSONDecodeError as exc:  # the client parsed something that was not the Hub's JSON
        looks = "a web page" if "<" in (exc.doc or "")[:200] else "not the Hub's JSON"
        raise HubUnreachableError(
            f"Could not {what}: the server at {endpoint()} answered with {looks}.", _NOT_THE_HUB_FIX
        ) from exc
    except FileMetadataError as exc:
        raise HubUnreachableError(
            f"Could not {what}: the server at {endpoint()} does not answer like the model Hub.",
            "Check HF_ENDPOINT and your proxy settings.",
        ) from exc


def from_net(exc: NetError, what: str) -> HubError:
    """The door's refusal in the Hub's words (the door's message names the server, never a token)."""
    if isinstance(exc, NetTimeoutError):
        return HubTimeoutError(f"Could not {what}: the Hub did not answer in time.")
    if isinstance(exc, NetRedirectError):
        return HubUnreachableError(f"Could not {what}: {exc.message}", _NOT_THE_HUB_FIX)
    if isinstance(exc, NetAnswerError):
        return HubUnreachableError(f"Could not {what}: {exc.message}", _NOT_THE_HUB_FIX)
    if isinstance(exc, NetAddressError):
        return HubError(f"Could not {what}: {exc.message}", "Check HF_ENDPOINT: it must be an http(s) address.")
    return HubUnreachableError(f"Could not {what}: the Hub could not be reached ({exc.message.rstrip('.')}).")


def _from_status(exc: HfHubHTTPError, what: str, target: str) -> HubError:
    status = _status(exc)
    if status == 429:
        wait = _retry_after(exc.response)
        when = f" Try again in {wait} s." if wait else ""
        return HubRateLimitedError(
            f"The Hub is limiting requests right now (too many in a short time), so Quant Doctor could not {what}."
            + when,
            retry_after_s=wait,
        )
    if status in (401, 403):
        return HubGatedError(
            f"The Hub refused access to {target} (HTTP {status}).",
            "If the repository is gated, accept its license on the model page; then log in (`hf auth login`, or "
            "set HF_TOKEN) with an account that has access, and try again.",
        )
    if status == 404:
        return HubNotFoundError(f"{target} was not found on the Hub.")
    if status is not None and status >= 500:
        return HubUnreachableError(f"Could not {what}: the Hub answered with a server error (HTTP {status}).")
    return HubError(f"Could not {what}: the Hub answered HTTP {status}.")
