"""Download one file from the Hub into the standard Hugging Face cache, as a cancellable job.

The bytes land where huggingface_hub's own download puts them (`<cache>/models--ORG--NAME/blobs/<etag>`,
linked from `snapshots/<commit>/<file>`, the revision's commit in `refs/<revision>`), so llama.cpp,
LM Studio or transformers find the same file.

Quant Doctor does this itself, through the one HTTP door (core.net), and never calls `hf_hub_download`:
that function asks the server again for the file's ETag and commit and writes wherever those answers
point, so a hostile mirror (HF_ENDPOINT) could answer our check with a harmless ETag and its second
request with `../../…`. Here the server is asked once (`_client.file_metadata`), every answer that
becomes a path (the ETag, the commit, the file name, the revision) is checked for the shape the Hub
gives it, and every path built from them must resolve inside the cache before anything is written.

The job streams the file into `blobs/<etag>.incomplete`, resumes that file with an HTTP Range request
after an interruption or a cancel, checks the sha256 the Hub publishes for the file (LFS metadata) or
its git blob id, and only then moves it into place and links the snapshot to it.

Cancel: close the generator (the GUI worker does so between two events). What arrived stays in the
cache and the next run resumes it. A checksum mismatch removes the partial file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Generator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import try_to_load_from_cache
from huggingface_hub.file_download import repo_folder_name

# A public name of huggingface_hub.utils that mypy does not see as re-exported (lazy imports there).
from huggingface_hub.utils import WeakFileLock  # type: ignore[attr-defined]

from core import net
from core.errors import (
    ChecksumMismatchError,
    DiskFullError,
    HubDownloadError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    NetError,
    NetTooLargeError,
    NetUnreachableError,
)
from core.hub import _client
from core.hub.card import HubFile, fetch_card, parse_repo_id
from core.progress import Job, Progress

CHUNK = 1 << 20
# A download that receives less than STALL_MIN_BYTES in STALL_S seconds has stalled (a server that
# trickles a byte a second never trips the per-read timeout). It counts as a dropped connection:
# retried, resuming, and reported plainly when the retries run out. QUANTDOCTOR_STALL_S tunes it.
STALL_S = 30.0
STALL_MIN_BYTES = 64 * 1024
DISK_MARGIN = 64 << 20  # keep a little room: a full disk breaks more than the download
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Downloaded:
    """Where a downloaded file is, and how it got there."""

    repo_id: str
    filename: str
    path: Path  # in the cache's snapshot folder: give this path to llama.cpp / inspect
    size: int
    sha256: str | None
    commit: str | None
    resumed_from: int = 0  # bytes already there from an earlier, interrupted run
    already_cached: bool = False
    verified: bool = False  # sha256 (or git blob id) checked against the Hub's

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "filename": self.filename,
            "path": str(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "commit": self.commit,
            "resumed_from": self.resumed_from,
            "already_cached": self.already_cached,
            "verified": self.verified,
        }


# --- Nothing a server says becomes a path unchecked ---------------------------------------------------
#
# The blob name is the file's ETag and the snapshot folder its commit, both from the server's answer
# (checked in _client.file_metadata); the file name and the revision come from the person or the Hub's
# listing. Each is checked for the shape the Hub gives it, and every path built from them must
# resolve inside the cache.

_REF = re.compile(r"[A-Za-z0-9._-]{1,100}(/[A-Za-z0-9._-]{1,100}){0,4}")
_NOT_HUB = "The server at HF_ENDPOINT does not answer like the model Hub: unset HF_ENDPOINT or fix it."


class _Stalled(Exception):
    """Too few bytes arrived in the stall window."""


def stall_seconds() -> float:
    try:
        value = float(os.environ.get("QUANTDOCTOR_STALL_S", ""))
    except ValueError:
        return STALL_S
    return value if value > 0 else STALL_S


def _checked_filename(filename: str) -> list[str]:
    if not _client.repo_path_ok(filename):
        raise HubNotFoundError(f"'{filename[:200]}' is not a file name in a repository.", "Check the file name.")
    return filename.split("/")


def _checked_ref(revision: str) -> list[str]:
    if not _REF.fullmatch(revision) or any(p in (".", "..") for p in revision.split("/")):
        raise HubNotFoundError(f"'{revision[:100]}' is not a branch, tag or commit name.", "Check the revision.")
    return revision.split("/")


def _inside_cache(root: Path, *parts: str) -> Path:
    """`root/parts...`, refused unless it resolves inside `root` (no '..', no link leading out)."""
    path = root.joinpath(*parts)
    real_root = root.resolve()
    if real_root not in path.resolve().parents:
        raise HubError(f"A download would be written outside the Hugging Face cache ({str(path)[:200]}).", _NOT_HUB)
    return path


def free_disk_space(path: Path) -> int:
    """Free bytes on the disk that holds `path` (or its nearest existing parent)."""
    for p in [path, *path.parents]:
        try:
            return shutil.disk_usage(p).free
        except OSError:
            continue
    return 0


def _format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class _Rate:
    """Transfer speed over the last few seconds, and time left at that speed."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window = window_s
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, t: float, done: int) -> None:
        self.samples.append((t, done))
        while len(self.samples) > 2 and t - self.samples[0][0] > self.window:
            self.samples.popleft()

    def speed(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 - t0 >= 0.2 else None


def _cached(repo_id: str, filename: str, revision: str | None, cache: Path) -> Downloaded | None:
    found = try_to_load_from_cache(repo_id, filename, cache_dir=cache, revision=revision)
    if isinstance(found, str) and os.path.isfile(found):
        p = Path(found)
        commit = p.parent.name if p.parent.parent.name == "snapshots" else None
        return Downloaded(repo_id, filename, p, p.stat().st_size, None, commit, already_cached=True)
    return None


def download(
    repo: str,
    filename: str,
    *,
    revision: str | None = None,
    timeout: float | None = None,
    retries: int = 3,
    free_space: Callable[[Path], int] = free_disk_space,
    chunk_size: int = CHUNK,
) -> Job[Downloaded]:
    """Download `filename` of `repo` into the Hugging Face cache; yields Progress, returns Downloaded.

    Resumes a file left by an interrupted or cancelled run; refuses to start when the disk lacks the
    space; retries a dropped connection `retries` times (each resuming); verifies the sha256 the Hub
    publishes. Offline, a file already in the cache is returned as is.

    Raises HubOfflineError, HubNotFoundError, HubGatedError, HubRateLimitedError, HubTimeoutError,
    HubUnreachableError, HubDownloadError (stopped midway: run again to resume), ChecksumMismatchError
    (partial file removed) or DiskFullError.
    """
    repo_id = parse_repo_id(repo)
    if repo_id is None:
        raise HubNotFoundError(f"'{repo}' is not a Hub repository name.", "Give it as owner/name.")
    cache = _client.cache_dir()
    what = f"download {filename} from {repo_id}"
    if _client.is_offline():
        hit = _cached(repo_id, filename, revision, cache)
        if hit is not None:
            yield Progress("Already downloaded", hit.size, hit.size, "bytes", 0.0, str(hit.path))
            return hit
        raise HubOfflineError(
            f"Quant Doctor is offline (HF_HUB_OFFLINE is set) and {filename} is not in the local cache, "
            f"so it cannot {what}."
        )
    limit = timeout if timeout is not None else _client.download_timeout()
    parts = _checked_filename(filename)
    ref = _checked_ref(revision) if revision is not None else ["main"]

    yield Progress(f"Asking the Hub about {filename}")
    card = fetch_card(repo_id, revision=revision, timeout=limit)
    entry = card.file(filename)
    with _client.translated(what, repo_id, filename):
        meta = _client.file_metadata(repo_id, filename, revision, limit)
    _agrees(meta, entry, filename)
    size = meta.size if meta.size is not None else (entry.size if entry else None)
    sha256 = entry.sha256 if entry and entry.sha256 else (meta.etag if _HEX64.match(meta.etag) else None)

    storage = _inside_cache(cache, repo_folder_name(repo_id=repo_id, repo_type="model"))
    blob = _inside_cache(storage, "blobs", meta.etag)
    pointer = _inside_cache(storage, "snapshots", meta.commit, *parts)
    if pointer.is_file():
        done = pointer.stat().st_size
        yield Progress("Already downloaded", done, done, "bytes", 0.0, str(pointer))
        return Downloaded(repo_id, filename, pointer, done, sha256, meta.commit, already_cached=True)

    resumed = 0
    verified = False
    if not blob.is_file():
        blob.parent.mkdir(parents=True, exist_ok=True)
        lock_path = _inside_cache(cache, ".locks", storage.name, f"{meta.etag}.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            try:
                stack.enter_context(WeakFileLock(lock_path, timeout=1.0))
            except Exception as exc:  # filelock.Timeout: another program is writing this very file
                raise HubDownloadError(
                    f"{filename} is being downloaded by another program right now.",
                    "Wait for that download to finish, then try again.",
                ) from exc
            resumed, verified = yield from _fetch(
                meta.location, blob, filename, size, sha256, entry, limit, retries, free_space, chunk_size, what,
                repo_id,
            )  # fmt: skip

    yield Progress(f"Adding {filename} to the Hugging Face cache")
    _link(blob, pointer)
    if ref != [meta.commit]:  # a branch or tag: remember which commit it named, as the client does
        refs = _inside_cache(storage, "refs", *ref)
        refs.parent.mkdir(parents=True, exist_ok=True)
        refs.write_text(meta.commit)
    return Downloaded(repo_id, filename, pointer, pointer.stat().st_size, sha256, meta.commit, resumed, False, verified)


def _agrees(meta: _client.FileMeta, entry: HubFile | None, filename: str) -> None:
    """The blob's name must be the file's own id where the card gives one (sha256 for LFS files, the git
    blob id for others): a server cannot file one file's bytes under another file's name in the cache."""
    if entry is None:
        return
    expected = entry.sha256 or entry.blob_id
    if expected and meta.etag.lower() != expected.lower():
        raise HubError(
            f"The Hub's answers about {filename} disagree: the file's version is {meta.etag[:16]}…, its card says "
            f"{expected[:16]}….",
            _NOT_HUB,
        )


def _link(blob: Path, pointer: Path) -> None:
    """`snapshots/<commit>/<file>` → `blobs/<etag>`: a relative symbolic link, as huggingface_hub makes it;
    where links are not allowed (Windows without developer mode), a hard link, else a copy."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)
        return
    except OSError:
        pass
    try:
        os.link(blob, pointer)
    except OSError:
        shutil.copyfile(blob, pointer)


def _fetch(
    location: str,
    blob: Path,
    filename: str,
    size: int | None,
    sha256: str | None,
    entry: HubFile | None,
    limit: float,
    retries: int,
    free_space: Callable[[Path], int],
    chunk_size: int,
    what: str,
    repo_id: str,
) -> Generator[Progress, None, tuple[int, bool]]:
    """Stream into `<blob>.incomplete` (resuming it), verify, move to `blob`. Returns (resumed, verified)."""
    partial = blob.with_name(blob.name + ".incomplete")
    have = partial.stat().st_size if partial.is_file() else 0
    if size is not None and have > size:
        partial.unlink()
        have = 0
    resumed = have

    if size is not None:
        need = size - have
        free = free_space(blob.parent)
        if free < need + DISK_MARGIN:
            raise DiskFullError(
                f"{filename} needs {_format_bytes(need)} more on the disk that holds the Hugging Face cache "
                f"({blob.parent.parent.parent}), which has {_format_bytes(free)} free.",
                needed=need,
                free=free,
            )

    hasher = hashlib.sha256()
    git = _git_hasher(size) if sha256 is None and size is not None and entry is not None and entry.blob_id else None
    if have:
        yield Progress("Checking the part downloaded before", 0, have, "bytes")
        with open(partial, "rb") as f:
            done = 0
            while chunk := f.read(chunk_size):
                hasher.update(chunk)
                if git is not None:
                    git.update(chunk)
                done += len(chunk)
        yield Progress("Checking the part downloaded before", have, have, "bytes")

    # The token goes to the Hub only: a CDN or storage host the file is redirected to gets none.
    headers = _client.headers_for(location)
    cap = size if size is not None else 1 << 44  # the door stops an answer longer than the file
    phase = f"Downloading {filename}"
    attempts = 0
    start = time.monotonic()
    rate = _Rate()
    rate.add(start, have)
    last_event = 0.0
    stall_s = stall_seconds()
    stalled = False
    while size is None or have < size:
        request_headers = dict(headers)
        if have:
            request_headers["Range"] = f"bytes={have}-"
        try:
            with net.stream("GET", location, headers=request_headers, max_bytes=cap, timeout=limit,
                            decode=False) as response:  # fmt: skip
                if response.status == 416 and size is not None and have >= size:
                    break
                with _client.translated(what, repo_id, filename):
                    _client.raise_for_status(net.Reply(response.url, response.status, response.headers, b""))
                if have and response.status == 200:  # the server ignored the Range: start over
                    have = resumed = 0
                    hasher = hashlib.sha256()
                    git = _git_hasher(size) if git is not None else None
                    partial.unlink(missing_ok=True)
                window_start, window_have = time.monotonic(), have
                with open(partial, "ab") as out:
                    for chunk in response.chunks():  # as it arrives: a cut loses nothing received
                        if not chunk:
                            continue
                        if size is not None and have + len(chunk) > size:
                            partial.unlink(missing_ok=True)
                            raise ChecksumMismatchError(
                                f"The server sent more than the {size:,} bytes {filename} has; the download was "
                                "stopped and removed.",
                                "Run the download again; if it happens again, the server (or a proxy) is broken.",
                            )
                        _write(out, chunk, filename, have, size)
                        hasher.update(chunk)
                        if git is not None:
                            git.update(chunk)
                        have += len(chunk)
                        now = time.monotonic()
                        rate.add(now, have)
                        if now - window_start >= stall_s:
                            if have - window_have < STALL_MIN_BYTES:
                                raise _Stalled()
                            window_start, window_have = now, have
                        if now - last_event >= 0.1:
                            last_event = now
                            out.flush()
                            yield _event(phase, have, size, rate)
            if size is None:
                size = have
                break
            if have < size:  # the connection closed early without an error
                raise NetUnreachableError("the server closed the connection early")
        except NetTooLargeError as exc:
            partial.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"The server sent more than the {cap:,} bytes {filename} has; the download was stopped and removed.",
                "Run the download again; if it happens again, the server (or a proxy) is broken.",
            ) from exc
        except (NetUnreachableError, _Stalled) as exc:
            attempts += 1
            stalled = isinstance(exc, _Stalled)
            if attempts > retries:
                why = (
                    f"the server sent less than {_format_bytes(STALL_MIN_BYTES)} in {stall_s:g} s: it has stalled"
                    if stalled
                    else f"the connection dropped or stalled for {limit:g} s"
                )
                raise HubDownloadError(
                    f"The download of {filename} stopped at {_format_bytes(have)} of "
                    f"{_format_bytes(size or 0)} ({why}). What arrived is kept.",
                ) from exc
            yield Progress(phase, have, size, "bytes", None, f"connection lost, resuming (try {attempts + 1})")
            time.sleep(min(2.0, 0.2 * attempts))
        except NetError as exc:  # a redirect to another origin, an encoding not asked for: refused, not retried
            raise _client.from_net(exc, what) from exc
    yield _event(phase, have, size, rate)

    if size is not None and have != size:
        partial.unlink(missing_ok=True)
        raise ChecksumMismatchError(f"{filename} arrived with {have:,} bytes instead of {size:,}; it was removed.")
    verified = False
    if sha256 is not None:
        got = hasher.hexdigest()
        if got != sha256.lower():
            partial.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"{filename} arrived damaged: its sha256 is {got[:16]}…, the Hub publishes {sha256[:16]}…. "
                "The damaged file was removed."
            )
        verified = True
    elif git is not None and entry is not None and entry.blob_id:
        if git.hexdigest() != entry.blob_id:
            partial.unlink(missing_ok=True)
            raise ChecksumMismatchError(f"{filename} arrived damaged (its git blob id differs); it was removed.")
        verified = True
    os.replace(partial, blob)
    return resumed, verified


def _git_hasher(size: int | None) -> Any:
    """git's blob id: sha1 over "blob <size>\\0" and the content (the Hub's id for non-LFS files)."""
    return hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)


def _write(out: Any, chunk: bytes, filename: str, have: int, size: int | None) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"The disk filled up while downloading {filename} "
                f"({_format_bytes(have)} of {_format_bytes(size or 0)} arrived; they are kept).",
                needed=(size or 0) - have,
                free=0,
            ) from exc
        raise


def _event(phase: str, done: int, total: int | None, rate: _Rate) -> Progress:
    speed = rate.speed()
    eta = (total - done) / speed if speed and total else None
    message = f"{_format_bytes(speed)}/s" if speed else ""
    return Progress(phase, done, total, "bytes", eta, message)
