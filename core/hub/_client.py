"""The one place core.hub meets `huggingface_hub`: settings, offline mode, and error translation.

Settings are read when a call is made, not when a module is imported (`huggingface_hub.constants`
freezes HF_ENDPOINT / HF_HUB_OFFLINE / HF_HUB_CACHE at import), so a setting changed while the app
runs, or by a test, takes effect. The person's token is never read here: the client reads it the
standard way (HF_TOKEN, then the login store) when it builds each request's headers, and Quant
Doctor never stores, logs or shows it.

Every call passes a timeout. `HfApi.list_models` / `list_repo_tree` have no timeout parameter and
retry 429s with sleeps, so listings go through `get_json`: the client's own shared session (with its
offline guard), its header builder and its error typing, plus a timeout and no silent retries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import HfApi, constants, get_session, hf_raise_for_status
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

# A public name of huggingface_hub.utils that mypy does not see as re-exported (lazy imports there).
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

from core import jsonfile
from core.errors import (
    HubError,
    HubGatedError,
    HubNotFoundError,
    HubOfflineError,
    HubRateLimitedError,
    HubTimeoutError,
    HubUnreachableError,
    QuantDoctorError,
)
from core.files import user_path

_TRUE = {"1", "on", "yes", "true"}
MAX_ANSWER_BYTES = 64 * 1024 * 1024
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


def api() -> HfApi:
    return HfApi(endpoint=endpoint())


def model_page(repo_id: str) -> str:
    return f"{endpoint()}/{repo_id}"


def ensure_online(what: str) -> None:
    """Refuse before any network traffic when offline mode is on."""
    if is_offline():
        raise HubOfflineError(
            f"Quant Doctor is offline (HF_HUB_OFFLINE is set), so it cannot {what}.",
        )


def get_json(path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None,
             timeout: float | None = None) -> Any:  # fmt: skip
    """GET `{endpoint}{path}` with the client's session and headers; one try, with a timeout."""
    response = get_session().get(
        endpoint() + path,
        params=params,
        headers=build_hf_headers(),
        timeout=timeout if timeout is not None else metadata_timeout(),
    )
    hf_raise_for_status(response)
    return jsonfile.loads(
        response.content,
        f"The answer of {endpoint()} to {path}",
        HubUnreachableError,
        expect=None,
        max_bytes=MAX_ANSWER_BYTES,
        duplicates=True,
        fix=_NOT_THE_HUB_FIX,
    )


def _retry_after(response: httpx2.Response | None) -> int | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After") or response.headers.get("RateLimit-Reset")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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
    except httpx2.TimeoutException as exc:
        raise HubTimeoutError(f"Could not {what}: the Hub did not answer in time.") from exc
    except (httpx2.TransportError, ConnectionError) as exc:
        raise HubUnreachableError(f"Could not {what}: the Hub could not be reached ({type(exc).__name__}).") from exc
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
