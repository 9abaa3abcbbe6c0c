"""The demo's promise, before it is clicked: the one download said with its size, and what offline means.

Three real states of the cache folder: empty (it will download), prepared (nothing to do), and a
bundle's copy in resources/demo (nothing to download)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.demo import prepare
from core.demo.prepare import DOWNLOAD_MB, REFERENCE_SIZE, demo_words

ROOT = Path(__file__).resolve().parent.parent


def test_an_empty_cache_says_the_download_and_its_size(tmp_path: Path) -> None:
    words = demo_words(tmp_path)
    assert f"about {DOWNLOAD_MB} MB" in words and DOWNLOAD_MB == 94 == round(REFERENCE_SIZE / 2**20)
    assert "downloaded once" in words and "everything else works offline" in words
    assert "without downloading" not in words.lower()


def test_a_prepared_demo_needs_nothing(demo: Any) -> None:
    words = demo_words(demo.folder)
    assert "both ready" in words and "MB" not in words


def test_a_bundle_copy_downloads_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / prepare.REFERENCE_NAME).write_bytes(b"GGUF")
    monkeypatch.setattr(prepare, "resources_dir", lambda: tmp_path)
    assert demo_words(tmp_path / "cache").endswith("nothing to download.")


def test_no_text_promises_a_demo_without_a_download() -> None:
    """Every text a person reads about the demo: the pages, the tooltips, the README."""
    texts = [*(ROOT / "gui").rglob("*.py"), *(ROOT / "core").rglob("*.py"), ROOT / "README.md"]
    said = [p for p in texts if re.search(r"without (any )?download(ing)? anything", p.read_text(), re.I)]
    assert said == []


def test_the_start_page_says_it(qtbot: Any, tmp_path: Path) -> None:
    from windowkit import make_window

    w = make_window(qtbot, tmp_path)
    sentence = w.start_page.ways[2].sentence.text()
    assert sentence == demo_words() and ("MB" in sentence or "nothing to download" in sentence
                                         or "both ready" in sentence)  # fmt: skip
