"""Where Quant Doctor keeps its own files (never next to the person's models)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "quantdoctor"
CACHE_ENV = "QUANTDOCTOR_CACHE_DIR"


def cache_dir() -> Path:
    """The user cache folder (platformdirs), or QUANTDOCTOR_CACHE_DIR when set (tests, portable use)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else platformdirs.user_cache_path(APP_NAME, appauthor=False)


def own_folder(sub: str) -> Path:
    """`cache_dir()/sub`, created; a cache location that cannot hold folders is a plain error."""
    from core.errors import QuantDoctorError

    base = cache_dir()
    folder = base / sub
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise QuantDoctorError(
            f"Quant Doctor's cache location {base} is a file, not a folder.",
            f"Remove or rename that file, or point {CACHE_ENV} at a folder.",
        ) from exc
    except OSError as exc:
        raise QuantDoctorError(
            f"Quant Doctor cannot create its cache folder {folder} ({exc.strerror or exc}).",
            f"Check the permissions of {base}, or point {CACHE_ENV} at a folder you can write to.",
        ) from exc
    if not folder.is_dir():
        raise QuantDoctorError(
            f"Quant Doctor's cache folder {folder} is not a folder.", f"Remove it, or point {CACHE_ENV} elsewhere."
        )
    return folder


def resources_dir() -> Path:
    """`resources/` in a checkout, or inside a PyInstaller bundle (sys._MEIPASS)."""
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"
