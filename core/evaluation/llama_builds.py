"""llama.cpp's own release builds for this machine's GPU: which one, how big, fetched only with consent.

Why llama.cpp's release archives, loaded under the installed llama-cpp-python's bindings, and not
llama-cpp-python's GPU wheels (its own index publishes CUDA, Metal, ROCm and Vulkan wheels):

- The scorer stays the CPU scorer. The worker (core.evaluation.llama_child) runs the same code on the
  same C API; only the shared libraries differ (llama-cpp-python reads LLAMA_CPP_LIB_PATH). Same
  chunking, same top-k + tail reference (bounded per token), same early stop. Driving the archives'
  `llama-perplexity` instead would score chunks only in text order and keep the reference as its
  full-vocabulary file (2 bytes × vocabulary per scored token: ~300 KB a token on a 152K vocabulary),
  and `llama-server` gives no full distribution for prompt tokens.
- Every llama.cpp release carries the builds the issue asks for, for every master build: CUDA 12.4 and
  13.3 on Windows with the CUDA runtime in a separate archive (no toolkit to install), Metal on Apple
  Silicon, Vulkan on Linux and Windows (AMD, Intel, and NVIDIA on Linux). The wheels need the matching
  CUDA toolkit installed, cover Python 3.10-3.12, and are a whole Python package where only the
  libraries are wanted.
- Both tie the build to one llama.cpp commit. resources/llama_builds.json names the release built from
  the commit the installed llama-cpp-python vendors; its structs and functions are the bindings' own.

Shape of a release, from llama.cpp's .github/workflows/release.yml: Linux and macOS archives are
`llama-<tag>-bin-<platform>.tar.gz` with every file of `build/bin` (executables and shared libraries,
RPATH $ORIGIN / @loader_path) under one folder `llama-<tag>/`; Windows archives are flat
`llama-<tag>-bin-win-<backend>-x64.zip`, and the CUDA runtime is `cudart-llama-bin-win-cuda-<v>-x64.zip`.
Linux and Windows builds load their backends at run time (GGML_BACKEND_DL): the worker asks ggml to
load them from the build's folder. Sizes and sha256 digests come from the release listing (GitHub's
REST API `releases/tags/<tag>`: each asset's `size`, `digest` "sha256:…", `browser_download_url`);
a build without a digest is not fetched.

Cache: `<cache>/llama-builds/<tag>/<backend>-<platform>/`, one folder per build and version, written
whole (unpacked beside it, then renamed) with a `build.json` saying what it holds. A download in
progress is `<name>.part` beside it and resumes with a Range request.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from core import files, jsonfile, net
from core.errors import (
    ChecksumMismatchError,
    DiskFullError,
    NetAddressError,
    NetError,
    NetTooLargeError,
    NetUnreachableError,
    QuantDoctorError,
    ScorerBuildError,
)
from core.paths import own_folder, resources_dir
from core.progress import Job, Progress
from core.textnum import VERSION_PART, whole_or_none

RELEASES_ENV = "QUANTDOCTOR_LLAMA_RELEASES"  # the releases API base (tests: a loopback server)
RELEASES = "https://api.github.com/repos/ggml-org/llama.cpp"
BUILDS_FILE = "llama_builds.json"
TIMEOUT_S = 30.0
CHUNK = 1 << 20
DISK_MARGIN = 64 << 20
MARKER = "build.json"
MAX_LISTING_BYTES = 8 << 20
_DIGEST = "sha256:"


@dataclass(frozen=True)
class BuildAsset:
    """One archive of a release: its name, where it is, its size and sha256 (from the release listing)."""

    name: str
    url: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BuildOffer:
    """A GPU build this machine could score with: what it is, its archives, and how big they are together."""

    tag: str
    backend: str  # "cuda", "metal", "vulkan" (or "cpu": the release's CPU build, for tests and benchmarks)
    platform: str  # the release's platform words: "win-cuda-12.4-x64", "ubuntu-vulkan-x64", …
    assets: tuple[BuildAsset, ...]
    folder: Path  # where it is (or will be) unpacked

    @property
    def size(self) -> int:
        return sum(a.size for a in self.assets)

    @property
    def cached(self) -> bool:
        return cached_build(self.folder) is not None

    def words(self) -> str:
        """ "the CUDA build of llama.cpp b11312 (412.3 MB)" — what the person is asked to agree to."""
        return f"the {BACKEND_WORDS.get(self.backend, self.backend)} build of llama.cpp {self.tag} ({size_words(self.size)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag, "backend": self.backend, "platform": self.platform, "size": self.size,
            "assets": [asdict(a) for a in self.assets], "folder": str(self.folder), "cached": self.cached,
        }  # fmt: skip


BACKEND_WORDS = {"cuda": "CUDA", "metal": "Metal", "vulkan": "Vulkan", "cpu": "CPU"}


def size_words(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"


# --- which build -----------------------------------------------------------------------------------


def installed_version() -> str | None:
    try:
        return metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return None


def pinned_tag(version: str | None = None) -> str | None:
    """The llama.cpp release built from the sources the installed llama-cpp-python vendors (None: unknown)."""
    version = version or installed_version()
    data = jsonfile.load(resources_dir() / BUILDS_FILE, BUILDS_FILE)
    entry = data.get("releases", {}).get(version or "")
    tag = entry.get("tag") if isinstance(entry, dict) else None
    return tag if isinstance(tag, str) and tag else None


def platform_for(system: str, machine: str, vendors: Sequence[str], cuda_driver: str | None = None,
                 backend: str = "auto") -> tuple[str, str, tuple[str, ...]] | str:  # fmt: skip
    """(backend, platform words, archive name patterns with {tag}) for this OS, CPU and GPU vendors, or why none.

    CUDA on Windows (13.3 when the driver supports CUDA 13, else 12.4), Metal on Apple Silicon, Vulkan for
    AMD and Intel, and for NVIDIA on Linux (the release has no Linux CUDA build). `backend="cpu"` asks
    for the release's CPU build of this OS: what the tests serve and the benchmark compares against.
    """
    system = system.lower()
    arch = {"x86_64": "x64", "amd64": "x64", "arm64": "arm64", "aarch64": "arm64"}.get(machine.lower(), machine.lower())
    if backend == "cpu":
        plat = {"linux": f"ubuntu-{arch}", "darwin": f"macos-{arch}", "windows": f"win-cpu-{arch}"}.get(system)
        if plat is None:
            return f"llama.cpp publishes no build for {system}"
        ext = "zip" if system == "windows" else "tar.gz"
        return "cpu", plat, (f"llama-{{tag}}-bin-{plat}.{ext}",)
    if not vendors:
        return "no GPU was found on this machine"
    if system == "darwin":
        if arch != "arm64":
            return "llama.cpp's Intel Mac build has no GPU support (Metal is built for Apple Silicon only)"
        return "metal", "macos-arm64", ("llama-{tag}-bin-macos-arm64.tar.gz",)
    if system == "windows":
        if arch != "x64":
            return f"llama.cpp publishes no GPU build for Windows on {arch}"
        if "nvidia" in vendors:
            major = _major(cuda_driver)
            if major is not None and major < 12:
                return f"the NVIDIA driver supports CUDA {cuda_driver}; llama.cpp's CUDA builds need 12.4 or newer"
            cuda = "13.3" if major is not None and major >= 13 else "12.4"
            plat = f"win-cuda-{cuda}-x64"
            return "cuda", plat, (f"llama-{{tag}}-bin-{plat}.zip", f"cudart-llama-bin-{plat}.zip")
        return "vulkan", "win-vulkan-x64", ("llama-{tag}-bin-win-vulkan-x64.zip",)
    if system == "linux":
        if arch not in ("x64", "arm64"):
            return f"llama.cpp publishes no GPU build for Linux on {arch}"
        plat = f"ubuntu-vulkan-{arch}"
        return "vulkan", plat, (f"llama-{{tag}}-bin-{plat}.tar.gz",)
    return f"llama.cpp publishes no GPU build for {system}"


def _major(version: str | None) -> int | None:
    """The major number of the CUDA version the driver reports ("12.4" -> 12); None when there is none."""
    return whole_or_none(str(version).split(".")[0], VERSION_PART) if version else None


def this_platform(
    vendors: Sequence[str], cuda_driver: str | None = None, backend: str = "auto"
) -> tuple[str, str, tuple[str, ...]] | str:
    return platform_for(platform.system(), platform.machine(), vendors, cuda_driver, backend)


def releases_url() -> str:
    return os.environ.get(RELEASES_ENV, "").rstrip("/") or RELEASES


def builds_folder() -> Path:
    return own_folder("llama-builds")


_HEADERS = {"Accept": "application/vnd.github+json", "User-Agent": "quantdoctor"}


def offer(tag: str, backend: str, plat: str, patterns: Sequence[str]) -> BuildOffer:
    """The release's archives for this platform with their sizes and digests; nothing is downloaded.

    A build already in the cache is offered from there without asking the network.
    """
    folder = builds_folder() / _safe(tag) / _safe(f"{backend}-{plat}")
    have = cached_build(folder)
    if have is not None:
        kept = tuple(BuildAsset(**a) for a in have.get("assets", []))
        return BuildOffer(tag, backend, plat, kept, folder)
    names = [p.format(tag=tag) for p in patterns]
    url = f"{releases_url()}/releases/tags/{tag}"
    try:  # the one door: capped as it arrives, redirects only within the same server
        response = net.request("GET", url, headers=_HEADERS, max_bytes=MAX_LISTING_BYTES, timeout=TIMEOUT_S,
                               deadline=4 * TIMEOUT_S)  # fmt: skip
    except NetError as exc:
        raise ScorerBuildError(f"Could not read llama.cpp's release listing for {tag}: {exc.message}") from exc
    if response.status != 200:
        raise ScorerBuildError(f"llama.cpp's release listing for {tag} answered HTTP {response.status}.")
    listing = jsonfile.loads(response.body, f"The release listing of llama.cpp {tag}", ScorerBuildError,
                             max_bytes=MAX_LISTING_BYTES)  # fmt: skip
    by_name = {a.get("name"): a for a in listing.get("assets", []) if isinstance(a, dict)}
    assets = []
    for name in names:
        a = by_name.get(name)
        if a is None:
            raise ScorerBuildError(f"llama.cpp {tag} has no {name} in its release.")
        digest = str(a.get("digest") or "")
        size = a.get("size")
        link = str(a.get("browser_download_url") or "")
        if not digest.startswith(_DIGEST) or len(digest) != len(_DIGEST) + 64:
            raise ScorerBuildError(f"llama.cpp's release lists no sha256 for {name}, so it cannot be checked.")
        if not isinstance(size, int) or size <= 0 or not _http_address(link):
            raise ScorerBuildError(f"llama.cpp's release listing for {name} is incomplete.")
        assets.append(BuildAsset(name, link, size, digest[len(_DIGEST) :].lower()))
    return BuildOffer(tag, backend, plat, tuple(assets), folder)


def _http_address(link: str) -> bool:
    try:
        net.origin(link)
    except NetAddressError:
        return False
    return True


def _safe(part: str) -> str:
    """A server's or a file's words as one folder name: nothing but letters, digits and . _ -."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in part).strip(".")
    if not cleaned:
        raise ScorerBuildError(f"{part[:60]!r} cannot name a folder.")
    return cleaned[:80]


# --- fetching ------------------------------------------------------------------------------------------


def cached_build(folder: Path) -> dict[str, Any] | None:
    """What a complete build in `folder` holds (its build.json), or None when it is absent or incomplete."""
    marker = folder / MARKER
    if not marker.is_file():
        return None
    try:
        data = jsonfile.load(marker, MARKER)
    except QuantDoctorError:  # a damaged marker: the build is fetched again
        return None
    lib = data.get("lib_dir")
    return data if isinstance(lib, str) and (folder / lib).is_dir() else None


def lib_dir(folder: Path) -> Path | None:
    have = cached_build(folder)
    return folder / str(have["lib_dir"]) if have else None


def fetch(build: BuildOffer, agreed_size: int, retries: int = 2) -> Job[Path]:
    """Download (resuming), verify and unpack `build`; returns the folder holding its libraries.

    `agreed_size` is the size the person was shown and agreed to: nothing starts unless it is the
    offer's size, so no download begins without its size having been said. A cached build returns at once.
    """
    have = lib_dir(build.folder)
    if have is not None:
        yield Progress(f"{build.words()} is already here", 1, 1)
        return have
    if agreed_size != build.size:
        raise ScorerBuildError(
            f"{build.words()} was not agreed to (the size agreed was {size_words(agreed_size)}).",
            "Ask again, showing the size, before fetching it.",
        )
    build.folder.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(build.folder.parent).free
    need = sum(a.size for a in build.assets) * 3  # the archives, then what they unpack to
    if free < need + DISK_MARGIN:
        raise DiskFullError(
            f"{build.words()} needs about {size_words(need)} on the disk of {build.folder.parent}, "
            f"which has {size_words(free)} free.",
            needed=need, free=free, fix="Free some disk space, or point QUANTDOCTOR_CACHE_DIR at a bigger disk.",
        )  # fmt: skip
    archives = []
    for asset in build.assets:
        path = build.folder.parent / _safe(asset.name)
        yield from _download(asset, path, retries)
        archives.append(path)
    yield Progress(f"Unpacking {build.words()}")
    staging = build.folder.with_name(build.folder.name + f".{os.getpid()}.unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for path in archives:
            _unpack(path, staging)
        lib = _find_lib(staging)
        if lib is None:
            raise ScorerBuildError(
                f"{build.words()} holds no llama library.", "Report this: the release's layout changed."
            )
        marker = {"tag": build.tag, "backend": build.backend, "platform": build.platform,
                  "assets": [asdict(a) for a in build.assets], "lib_dir": lib.relative_to(staging).as_posix(),
                  "fetched": time.time()}  # fmt: skip
        (staging / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        shutil.rmtree(build.folder, ignore_errors=True)
        os.replace(staging, build.folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for path in archives:
        path.unlink(missing_ok=True)
    result = lib_dir(build.folder)
    assert result is not None
    yield Progress(f"{build.words()} is ready", 1, 1)
    return result


def _download(asset: BuildAsset, path: Path, retries: int) -> Job[None]:
    """`asset` into `path`, through `<path>.part` (resumed with a Range request), its sha256 checked."""
    if path.is_file() and path.stat().st_size == asset.size and _sha256(path) == asset.sha256:
        return
    part = path.with_name(path.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    if have > asset.size:
        part.unlink()
        have = 0
    phase = f"Downloading {asset.name}"
    resumed_from = have
    attempts = 0
    while have < asset.size:
        headers = {"Accept": "application/octet-stream", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:  # a release asset is handed over to GitHub's file host: each hop checked, then asked itself
            where = net.located(asset.url, timeout=TIMEOUT_S, headers={"User-Agent": "quantdoctor"})
            with net.stream("GET", where, headers={**_HEADERS, **headers}, max_bytes=asset.size,
                            timeout=TIMEOUT_S, decode=False) as response:  # fmt: skip
                if response.status not in (200, 206):
                    raise ScorerBuildError(f"The download of {asset.name} answered HTTP {response.status}.")
                if have and response.status == 200:  # the server ignored the Range: start over
                    have = resumed_from = 0
                    part.unlink(missing_ok=True)
                last = 0.0
                with files.open_append(part, f"the download of {asset.name}", ScorerBuildError) as out:
                    for chunk in response.chunks():  # as it arrives: a cut loses nothing received
                        if have + len(chunk) > asset.size:
                            part.unlink(missing_ok=True)
                            raise ChecksumMismatchError(
                                f"The server sent more than the {asset.size:,} bytes of {asset.name}; it was removed."
                            )
                        out.write(chunk)
                        have += len(chunk)
                        now = time.monotonic()
                        if now - last >= 0.1:
                            last = now
                            yield Progress(phase, have, asset.size, "bytes",
                                           message=f"resumed at {size_words(resumed_from)}" if resumed_from else "")  # fmt: skip
            if have < asset.size:
                raise NetUnreachableError("the server closed the connection early")
        except NetTooLargeError as exc:
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"The server sent more than the {asset.size:,} bytes of {asset.name}; it was removed."
            ) from exc
        except NetError as exc:
            if not isinstance(exc, NetUnreachableError):  # a redirect elsewhere, an encoding: refused, not retried
                raise ScorerBuildError(f"The download of {asset.name} was refused: {exc.message}") from exc
            attempts += 1
            if attempts > retries:
                raise ScorerBuildError(
                    f"The download of {asset.name} stopped at {size_words(have)} of {size_words(asset.size)}. "
                    "What arrived is kept.",
                    "Try again later: it resumes where it stopped.",
                ) from exc
            yield Progress(phase, have, asset.size, "bytes", message=f"connection lost, resuming (try {attempts + 1})")
            time.sleep(min(2.0, 0.2 * attempts))
    yield Progress(f"Checking {asset.name}", have, asset.size, "bytes")
    got = _sha256(part)
    if got != asset.sha256:
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"{asset.name} arrived damaged: its sha256 is {got[:16]}…, the release lists {asset.sha256[:16]}…. "
            "The damaged file was removed."
        )
    os.replace(part, path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    for block in files.iter_chunks(path, CHUNK, "a llama.cpp build archive", ScorerBuildError):
        h.update(block)
    return h.hexdigest()


def _unpack(archive: Path, dest: Path) -> None:
    """Unpack into `dest`, refusing any member that would land outside it (absolute, `..`, links out)."""
    import tarfile  # here, not at the top: it pulls in lzma and bz2, a tenth of the window's start

    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                root = dest.resolve()
                for info in z.infolist():
                    target = (dest / info.filename).resolve()
                    if root != target and root not in target.parents:
                        raise ScorerBuildError(f"{archive.name} holds {info.filename[:80]!r}, outside its own folder.")
                z.extractall(dest)
        else:
            with tarfile.open(archive, "r:gz") as t:
                t.extractall(dest, filter="data")  # refuses absolute names, '..', links leading out
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise ScorerBuildError(f"{archive.name} could not be unpacked ({exc}).") from exc


def library_names() -> tuple[str, ...]:
    """The llama library's file names, as llama-cpp-python looks for them on this OS."""
    if sys.platform == "win32":
        return ("llama.dll", "libllama.dll")
    if sys.platform == "darwin":
        return ("libllama.dylib", "libllama.so")
    return ("libllama.so",)


def _find_lib(root: Path) -> Path | None:
    names = library_names()
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts)):
        if path.name in names and path.is_file():
            return path.parent
    return None
