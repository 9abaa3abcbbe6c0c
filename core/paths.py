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


def resources_dir() -> Path:
    """`resources/` in a checkout, or inside a PyInstaller bundle (sys._MEIPASS)."""
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"
