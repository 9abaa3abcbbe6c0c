"""Engine versions as engines write them, put in order: llama.cpp build numbers and semantic versions.

Two schemes cover the engines people run. llama.cpp numbers its builds (b6123): its log says
`build: 6123 (abc1234) with …`, `--version` prints `version: 6123 (abc1234)`, llama-server's /props
`build_info` is `b6123-abc1234`, and its release files are named `llama-b6123-bin-…`. Ollama and LM Studio
use semantic versions (`0.32.10`, `v0.33.0-rc1`, LM Studio's `0.4.21+2` or `0.4.21 (build 2)`).

A version that cannot be put in order (a bare commit hash, an empty string, a word) is `None`: the
caller then says "not checked", never "fine" — a known defect cannot be ruled out by a version we
could not read.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Literal

from core.textnum import VERSION_PART, whole_or_none

Scheme = Literal["build", "semver"]
SCHEMES: tuple[Scheme, ...] = ("build", "semver")
MAX_VERSION_CHARS = 200  # a version string longer than this is not one (it came from a file or a server)

# llama.cpp: "b6123", "b6123-abc1234", "6123 (abc1234)", "version: 6123 (abc1234)", "build: 6123 (abc1234) with …",
# "llama-b6123-bin-win-cuda-x64"; the number is what orders builds (one per commit on master)
_BUILD = re.compile(
    r"^(?:(?:version|build)\s*:\s*)?(?:llama-)?b?(\d{1,7})(?:\s*\([0-9a-f]{6,40}\)|-[0-9a-f]{6,40}\b|-bin\b|\b(?![.\d]))",
    re.I,
)
# semantic versions: "0.32.10", "v0.33.0-rc1", "0.4.21+2", "0.4.21 (build 2)", "0.6"
_SEMVER = re.compile(r"^v?(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?(?:-?(rc|alpha|beta|pre)\.?(\d{0,6}))?(?![\d.])", re.I)
_PRE_ORDER = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3}
# a llama.cpp release unpacked where it was downloaded: ".../llama-b6123-bin-win-cuda-12.4-x64/llama-server.exe"
_RELEASE_FOLDER = re.compile(r"(?:^|[\\/])llama-b(\d{1,7})-bin-[^\\/\s]*[\\/]")


@dataclass(frozen=True, order=True)
class Version:
    """A version that can be compared with another of the same scheme (`key` orders them)."""

    key: tuple[int, ...]
    scheme: Scheme
    text: str  # as it was given (trimmed), for the person's evidence

    def __str__(self) -> str:
        return self.text


def parse(text: object, scheme: Scheme) -> Version | None:
    """`text` read in `scheme`; None when it is not a version of that scheme."""
    if not isinstance(text, str):
        return None
    given = text.strip()
    if not given or len(given) > MAX_VERSION_CHARS:
        return None
    if scheme == "build":
        m = _BUILD.match(given)
        build = whole_or_none(m.group(1), VERSION_PART) if m else None
        return Version((build,), "build", given) if build is not None else None
    m = _SEMVER.match(given)
    if not m:
        return None
    # ASCII digits only (core.textnum): `\d` also matches "٣", which is no version anyone wrote
    parts = [whole_or_none(m.group(i) or "0", VERSION_PART) for i in (1, 2, 3, 5)]
    if any(p is None for p in parts):
        return None
    major, minor, patch, pre_n = (p or 0 for p in parts)
    # a pre-release sorts before its release: 0.33.0-rc1 < 0.33.0
    pre = (_PRE_ORDER[m.group(4).lower()], pre_n) if m.group(4) else (9, 0)
    return Version((major, minor, patch, *pre), "semver", given)


def parse_exact(text: str, scheme: Scheme) -> Version:
    """A version written in a resource: it must read, or the resource is wrong (ValueError)."""
    v = parse(text, scheme)
    if v is None:
        raise ValueError(f"{text!r} is not a {scheme} version")
    return v


def compare(a: Version, b: Version) -> int:
    """-1, 0 or 1; versions of two schemes cannot be compared (ValueError)."""
    if a.scheme != b.scheme:
        raise ValueError(f"cannot compare a {a.scheme} version with a {b.scheme} version")
    return (a.key > b.key) - (a.key < b.key)


def build_in_command(command: str | None) -> str | None:
    """The llama.cpp build a command runs, when its program sits in a release folder as unpacked from
    llama.cpp's release archives (`llama-b6123-bin-…`); None otherwise (a build of one's own says nothing)."""
    if not command:
        return None
    try:  # Setup.command keeps the person's command as POSIX-quoted tokens
        words = shlex.split(command[:4096])
    except ValueError:
        return None
    program = words[0][:1000] if words else ""
    m = _RELEASE_FOLDER.search(program)
    return f"b{m.group(1)}" if m else None
