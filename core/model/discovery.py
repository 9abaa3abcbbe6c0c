"""Models already on this disk, in the places people's tools keep them.

Most people do not know where LM Studio or Ollama put their downloads; showing those models
turns "find the file" into one click. Ollama stores GGUFs as content-addressed blobs, so its
manifests are read to give each blob its model name. Nothing here opens a model for writing.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from core import jsonfile
from core.errors import ModelFileError, QuantDoctorError
from core.files import open_regular, read_at, read_text_limited
from core.shells import os_of

GGUF_MAGIC = b"GGUF"
MAX_MANIFEST_BYTES = 1 << 20


@dataclass(frozen=True)
class FoundModel:
    name: str
    path: Path
    source: str  # "LM Studio", "Ollama", "Hugging Face cache", "llama.cpp cache"
    size: int

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "source": self.source, "size": self.size}


def default_locations(
    home: Path | None = None, platform: str = sys.platform, environ: Mapping[str, str] | None = None
) -> dict[str, list[Path]]:
    """Where each tool keeps models on `platform`, honouring the environment variables the tools read.

    The same on Linux, macOS and Windows unless said (the home folder is %USERPROFILE% on Windows):

    - LM Studio: its home is the folder named in ~/.lmstudio-home-pointer, else ~/.lmstudio (LM Studio's
      lms CLI, src/lmstudioPaths.ts: findLMStudioHome, defaultModelsFolder = {home}/models); the
      "downloadsFolder" of {home}/settings.json when the person moved the models (My Models → folder);
      ~/.cache/lm-studio/models before LM Studio 0.3.
    - Ollama: OLLAMA_MODELS, else ~/.ollama/models (envconfig/config.go: Models); Linux's install script
      runs the server as the `ollama` user, whose home is /usr/share/ollama.
    - The Hugging Face cache: HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else
      ~/.cache/huggingface/hub (huggingface_hub/constants.py; the same default on Windows and macOS).
    - llama.cpp's `-hf` downloads: since llama.cpp moved them into the Hugging Face cache layout
      (common/hf-cache.cpp: LLAMA_CACHE, then HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, ...) they
      are in the folder above unless LLAMA_CACHE is set; older builds used fs_get_cache_directory()
      (common/common.cpp): LLAMA_CACHE, else %LOCALAPPDATA%\\llama.cpp on Windows,
      ~/Library/Caches/llama.cpp on macOS, XDG_CACHE_HOME or ~/.cache, then llama.cpp, on Linux.
    """
    home = home or Path.home()
    env = os.environ if environ is None else environ
    os_name = os_of(platform)
    hf_home = Path(env["HF_HOME"]) if env.get("HF_HOME") else None
    xdg_cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else None
    hf_cache = (
        Path(env["HF_HUB_CACHE"]) if env.get("HF_HUB_CACHE")
        else Path(env["HUGGINGFACE_HUB_CACHE"]) if env.get("HUGGINGFACE_HUB_CACHE")
        else hf_home / "hub" if hf_home
        else (xdg_cache or home / ".cache") / "huggingface" / "hub"
    )  # fmt: skip
    ollama = [Path(env["OLLAMA_MODELS"])] if env.get("OLLAMA_MODELS") else [home / ".ollama" / "models"]
    if os_name == "linux":
        ollama.append(Path("/usr/share/ollama/.ollama/models"))
    if env.get("LLAMA_CACHE"):
        llama_cache = [Path(env["LLAMA_CACHE"])]
    elif os_name == "windows":
        local = env.get("LOCALAPPDATA")
        llama_cache = [Path(local) / "llama.cpp"] if local else [home / "AppData" / "Local" / "llama.cpp"]
    elif os_name == "macos":
        llama_cache = [home / "Library" / "Caches" / "llama.cpp"]
    else:
        llama_cache = [(xdg_cache or home / ".cache") / "llama.cpp"]
    return {
        "LM Studio": _lm_studio_folders(home),
        "Ollama": ollama,
        "Hugging Face cache": [hf_cache],
        "llama.cpp cache": llama_cache,
    }


def _lm_studio_folders(home: Path) -> list[Path]:
    """LM Studio's models folders: the one its settings name, its home's, and the pre-0.3 one."""
    lms_home = home / ".lmstudio"
    try:
        pointer = read_text_limited(home / ".lmstudio-home-pointer", MAX_MANIFEST_BYTES, "LM Studio's home pointer")
        named = Path(pointer.strip().splitlines()[0]) if pointer.strip() else None
        if named is not None and named.is_absolute() and named.is_dir():
            lms_home = named
    except (QuantDoctorError, OSError, ValueError):
        pass
    folders = [lms_home / "models"]
    try:
        settings = jsonfile.load(lms_home / "settings.json", "LM Studio settings", ModelFileError,
                                 max_bytes=MAX_MANIFEST_BYTES)  # fmt: skip
        moved = settings.get("downloadsFolder") if isinstance(settings, dict) else None
        if isinstance(moved, str) and moved.strip() and Path(moved).is_absolute():
            folders.insert(0, Path(moved))
    except (QuantDoctorError, OSError, ValueError):
        pass
    return [*folders, home / ".cache" / "lm-studio" / "models"]


def _is_gguf(path: Path) -> bool:
    """A regular file that starts with the GGUF magic (a FIFO or device named .gguf is never opened)."""
    try:
        with open_regular(path, "a GGUF file", ModelFileError) as fd:
            return read_at(fd, 4, 0) == GGUF_MAGIC
    except (OSError, ModelFileError):
        return False


def _walk_ggufs(root: Path, max_depth: int = 6) -> Iterator[Path]:
    base = len(root.parts)

    def unreadable(err: OSError) -> None:  # a subfolder we may not read is skipped; the place itself is noted
        if err.filename is not None and Path(err.filename) == root:
            raise SourceUnreadable(root) from err

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=False):
        if len(Path(dirpath).parts) - base >= max_depth:
            dirnames.clear()
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.lower().endswith(".gguf") and "mmproj" not in name.lower():
                yield Path(dirpath) / name


def _first_shard_only(path: Path) -> bool:
    """Of a split model, list only part 1 (opening it finds the rest)."""
    stem = path.name.lower()
    return "-of-0" not in stem or "-00001-of-" in stem


def _ollama(root: Path) -> Iterator[FoundModel]:
    manifests = root / "manifests"
    if not _is_dir(manifests):
        return
    for manifest in manifests.rglob("*"):
        try:
            if not manifest.is_file() or manifest.stat().st_size > MAX_MANIFEST_BYTES:
                continue
        except OSError:  # gone, or not ours to look at: the other manifests still count
            continue
        try:
            data = jsonfile.load(manifest, "Ollama manifest", ModelFileError, max_bytes=MAX_MANIFEST_BYTES)
        except ModelFileError:
            continue
        rel = manifest.relative_to(manifests).parts  # registry/namespace/model/tag
        name = f"{rel[-2]}:{rel[-1]}" if len(rel) >= 2 else manifest.name
        if len(rel) >= 3 and rel[-3] != "library":
            name = f"{rel[-3]}/{name}"
        layers = data.get("layers") if isinstance(data, dict) else None
        for layer in layers if isinstance(layers, list) else []:
            if not isinstance(layer, dict) or layer.get("mediaType") != "application/vnd.ollama.image.model":
                continue
            digest = layer.get("digest")
            # a digest names a blob in this folder, nothing else: sha256:<64 hex> (ollama's manifest layers)
            if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
                continue
            blob = root / "blobs" / digest.replace(":", "-")
            size = _size(blob)
            if size is not None and _is_gguf(blob):
                yield FoundModel(name, blob, "Ollama", size)


_DIGEST = re.compile(r"sha256:[0-9a-fA-F]{64}")


def _is_dir(path: Path) -> bool:
    """Whether a folder is there to look in; a folder we may not enter (Linux's /usr/share/ollama belongs to
    the `ollama` user) raises PermissionError from Path.is_dir, and is `SourceUnreadable` here."""
    try:
        return path.is_dir()
    except PermissionError as exc:
        raise SourceUnreadable(path) from exc
    except (OSError, ValueError):
        return False


def _size(path: Path) -> int | None:
    """The size of a regular file, or None (gone since it was listed, not a file, not ours to read)."""
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


class SourceUnreadable(Exception):
    """A models folder this user may not look into: that source is skipped with a note, the rest go on."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


@dataclass(frozen=True)
class Discovered:
    """The models found, and a plain note for each place that could not be looked into."""

    models: list[FoundModel]
    notes: list[str]


def discover(locations: dict[str, list[Path]] | None = None) -> Discovered:
    """Every GGUF model found in the usual places. One place that cannot be read (a folder of another user,
    a broken link, a file that vanishes mid-listing) costs that place only, with a note saying which."""
    found: list[FoundModel] = []
    notes: list[str] = []
    seen: set[Path] = set()
    for source, roots in (locations or default_locations()).items():
        for root in roots:
            try:
                if not _is_dir(root):
                    continue
                for m in _models_in(root, source):
                    real = _real(m.path)
                    if real not in seen:
                        seen.add(real)
                        found.append(m)
            except SourceUnreadable as exc:
                notes.append(f"{source}: {exc.path} could not be looked into (no permission); its models are not "
                             "listed. Open a model there with Open… if you can read it.")  # fmt: skip
            except OSError as exc:
                notes.append(f"{source}: {root} could not be read ({exc.strerror or type(exc).__name__}); its models "
                             "are not listed.")  # fmt: skip
    return Discovered(found, notes)


def discover_models(locations: dict[str, list[Path]] | None = None) -> list[FoundModel]:
    """The models of `discover`, without its notes."""
    return discover(locations).models


def _models_in(root: Path, source: str) -> Iterator[FoundModel]:
    if source == "Ollama":
        yield from _ollama(root)
        return
    for p in _walk_ggufs(root):
        size = _size(p)
        if size is not None and _first_shard_only(p) and _is_gguf(p):
            yield FoundModel(_display_name(p, root, source), p, source, size)


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a link loop: the path itself stands for it
        return path


def _display_name(path: Path, root: Path, source: str) -> str:
    if source == "Hugging Face cache":
        # hub/models--org--name/snapshots/<rev>/file.gguf
        for part in path.relative_to(root).parts:
            if part.startswith("models--"):
                return part.removeprefix("models--").replace("--", "/") + "/" + path.name
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name
