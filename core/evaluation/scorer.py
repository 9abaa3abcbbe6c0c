"""Which llama.cpp build scores a comparison: the installed one on the CPU, or a GPU build of the same sources.

The scorer is the same worker either way (core.evaluation.llama_child): a GPU build only changes the
libraries it loads (core.evaluation.llama_builds says why that is the design). A build is used only
after a child process has loaded it and seen its GPU (`try_build`); anything else falls back to the
CPU path with the reason in words, which every result then carries (`Scorer.to_dict`, `Scorer.words`).

`use` sets the scorer for this app's comparisons (the person's choice, made once: a GPU build they
agreed to fetch); `current` is what `LocalEngine` runs with. A worker that dies before loading its
model on a GPU build makes `LocalEngine` run it again on the CPU and record why (`fell_back`).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import QuantDoctorError, ScorerBuildError
from core.evaluation import llama_builds
from core.evaluation.child_client import WorkerProcess
from core.progress import Job, Progress

PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Scorer:
    """The llama.cpp a comparison runs on: backend, device, build, and why not a GPU when it is the CPU path."""

    backend: str = "CPU"  # as ggml names it: "CPU", "CUDA", "Vulkan", "Metal"
    device: str = "CPU"
    build: str = ""  # "llama-cpp-python 0.3.36" or "llama.cpp b11312 (win-cuda-12.4-x64)"
    library: str | None = None  # the build's folder (None: llama-cpp-python's own libraries)
    reason: str = ""  # why the CPU path: no GPU, declined, the build failed… ("" when nothing was tried)

    @property
    def on_gpu(self) -> bool:
        return self.backend.upper() != "CPU"

    def words(self) -> str:
        """One line for every result: where the numbers were computed, and why not on a GPU when not."""
        where = f"{self.backend} ({self.device})" if self.device and self.device != self.backend else self.backend
        line = f"Scored with {self.build or 'llama.cpp'} on {where}."
        return f"{line} Not on a GPU: {self.reason}" if self.reason else line

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorer:
        return cls(**{k: str(v) if v is not None else None for k, v in data.items() if k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def installed(reason: str = "") -> Scorer:
    """The CPU path: the llama.cpp that came with the installed llama-cpp-python."""
    version = llama_builds.installed_version() or "unknown"
    return Scorer("CPU", "CPU", f"llama-cpp-python {version}", None, reason)


_lock = threading.Lock()
_current: Scorer | None = None


def use(scorer: Scorer | None) -> None:
    """Score this app's comparisons with `scorer` (None: back to the installed CPU build)."""
    global _current
    with _lock:
        _current = scorer


def current() -> Scorer:
    with _lock:
        return _current or installed()


def fell_back(failed: Scorer, why: str) -> Scorer:
    """`failed` could not run a model: comparisons use the CPU path from now on, with the reason."""
    cpu = installed(f"{failed.build} on {failed.backend} failed: {why}")
    with _lock:
        global _current
        if _current == failed:
            _current = cpu
    return cpu


def probe(library: str | Path | None) -> dict[str, Any]:
    """What a build sees, from a child process that loads it: {"library", "devices", "system"}.

    Raises ScorerBuildError with the child's own words when the build does not load here.
    """
    worker = WorkerProcess(None, "the llama.cpp build's check", None if library is None else str(library))
    import time

    deadline = time.monotonic() + PROBE_TIMEOUT_S
    answer: dict[str, Any] | None = None
    try:
        for event in worker.events():
            if event is not None and event.get("type") == "probe":
                answer = event
            elif event is not None and event.get("type") == "fatal":
                raise ScorerBuildError(f"The llama.cpp build did not start here: {event.get('message')}")
            if time.monotonic() > deadline:
                raise ScorerBuildError(f"The llama.cpp build did not answer within {PROBE_TIMEOUT_S:.0f} s.")
    finally:
        worker.kill()
    if answer is None:
        raise ScorerBuildError(f"The llama.cpp build did not start here: {worker.crash_error().message}")
    return answer


def try_build(build: llama_builds.BuildOffer) -> Scorer:
    """The scorer of a fetched build, after a child has loaded it; the CPU path with the reason otherwise.

    A GPU build must see a GPU (a Vulkan build without a Vulkan driver sees none); the release's CPU
    build (tests, benchmarks) runs on the CPU by design.
    """
    label = f"llama.cpp {build.tag} ({build.platform})"
    library = llama_builds.lib_dir(build.folder)
    if library is None:
        return installed(f"{build.words()} is not downloaded.")
    try:
        seen = probe(library)
    except ScorerBuildError as err:
        return installed(f"{label}: {err.message}")
    if Path(str(seen.get("library"))).resolve() != library.resolve():
        return installed(f"{label} was not the library that loaded ({seen.get('library')}).")
    devs = [d for d in seen.get("devices", []) if isinstance(d, dict)]
    gpus = [d for d in devs if d.get("type") in ("gpu", "igpu")]
    if build.backend == "cpu":
        cpu = next((d for d in devs if d.get("type") == "cpu"), {})
        return Scorer("CPU", str(cpu.get("description") or "CPU"), label, str(library))
    if not gpus:
        named = llama_builds.BACKEND_WORDS.get(build.backend, build.backend)
        return installed(
            f"the {named} build of llama.cpp sees no GPU on this machine (is the GPU's driver installed?)."
        )
    first = gpus[0]
    more = f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else ""
    return Scorer(
        str(first.get("backend")), f"{first.get('description') or first.get('name')}{more}", label, str(library)
    )


def find_offer(
    vendors: list[str], cuda_driver: str | None = None, backend: str = "auto"
) -> llama_builds.BuildOffer | Scorer:
    """The GPU build this machine could use, with its size (nothing downloaded), or the CPU scorer and why not."""
    tag = llama_builds.pinned_tag()
    if tag is None:
        version = llama_builds.installed_version()
        return installed(
            f"no llama.cpp release is recorded for llama-cpp-python {version} (resources/llama_builds.json)."
        )
    which = llama_builds.this_platform(vendors, cuda_driver, backend)
    if isinstance(which, str):
        return installed(which + ".")
    kind, plat, patterns = which
    try:
        return llama_builds.offer(tag, kind, plat, patterns)
    except QuantDoctorError as err:
        return installed(
            f"the {llama_builds.BACKEND_WORDS.get(kind, kind)} build could not be looked up: {err.message}"
        )


def declined(build: llama_builds.BuildOffer) -> Scorer:
    return installed(f"you chose not to download {build.words()}.")


def get(build: llama_builds.BuildOffer, agreed_size: int) -> Job[Scorer]:
    """Fetch `build` (the person agreed to `agreed_size` bytes), try it, and return the scorer to use.

    Every failure ends in the CPU scorer with the reason; none is raised.
    """
    try:
        yield from llama_builds.fetch(build, agreed_size)
    except QuantDoctorError as err:
        yield Progress("The GPU build could not be fetched", 1, 1, message=err.message)
        return installed(f"{build.words()} could not be fetched: {err.message}")
    yield Progress(f"Trying {build.words()}")
    return try_build(build)


def with_reason(scorer: Scorer, reason: str) -> Scorer:
    return replace(scorer, reason=reason)
