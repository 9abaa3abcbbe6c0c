"""A reference the person can get, on the Compare page (issue 23 item 2, in the window): with no
higher-precision file, the best one on the Hub with its size, the free disk and the time to fetch it
(downloaded only when its size-named button is pressed, with progress and Cancel, then the reference), the
published figure, or the same file with an f16 cache. Against tests/fakehub.py's Hub on 127.0.0.1, through
the real huggingface_hub client; real widgets offscreen."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest
from fakehub import FakeFile, make_gguf, running
from test_window_gpu import shot
from windowkit import make_window, wait_diagnosis

from core.app.hub import format_bytes, reference_parts

Q = gguf.GGMLQuantizationType


@pytest.fixture
def hub(monkeypatch, tmp_path):
    yield from running(monkeypatch, tmp_path)


@pytest.fixture
def mine(tmp_path):
    """The person's Q4_K_M of a small model, naming its repository in its metadata (as quantizers write it)."""
    path = tmp_path / "mine" / "Tiny-Q4_K_M.gguf"
    path.parent.mkdir()
    make_gguf(path, Q.Q4_K, gguf.LlamaFileType.MOSTLY_Q4_K_M, metadata={
        "general.basename": "Tiny", "general.name": "Tiny", "general.source.url": "https://huggingface.co/quanter/Tiny-GGUF"})  # fmt: skip
    return path


def world(hub, tmp_path) -> bytes:
    q8 = make_gguf(tmp_path / "Tiny-Q8_0.gguf")
    hub.add("acme/Tiny", {"config.json": b"{}"}, card={"license": "mit"})
    hub.add("quanter/Tiny-GGUF", {"Tiny-Q8_0.gguf": q8, "Tiny-Q4_K_M.gguf": FakeFile(size=len(q8) // 2)},
            card={"base_model": "acme/Tiny", "base_model_relation": "quantized"})  # fmt: skip
    return q8


def opened(qtbot, tmp_path, mine):
    w = make_window(qtbot, tmp_path)
    wait_diagnosis(qtbot, w, lambda: w.state.open_model(str(mine)))
    w.show_page("compare")
    page = w.compare_page
    page.reference_path.clear()  # no higher-precision file
    return w, page


def test_compare_without_a_file_offers_the_three_ways_and_downloads_nothing(qtbot, tmp_path, hub, mine):
    q8 = world(hub, tmp_path)
    w, page = opened(qtbot, tmp_path, mine)
    help_ = page.reference_help
    page.run_button.click()  # Compare with no reference: the ways on, instead of a dead end
    assert "one of the ways on below" in page.status.text() and not page.running
    qtbot.waitUntil(lambda: help_.choices is not None, timeout=30_000)
    offer = help_.choices.offer
    assert (offer.repo_id, offer.filename, offer.quant, offer.size) == (
        "quanter/Tiny-GGUF",
        "Tiny-Q8_0.gguf",
        "Q8_0",
        len(q8),
    )
    line = help_.hub_line.text()
    assert line.startswith("1. Fetch the Q8_0 of quanter/Tiny-GGUF (Tiny-Q8_0.gguf, ")
    assert format_bytes(len(q8)) in line and "free here" in line and "an assumed speed" in line
    assert help_.download_button.text() == f"Download {format_bytes(len(q8))}" and help_.download_button.isEnabled()
    assert help_.table_line.text().startswith("2. Or take the published figure instead: For a Q4_K_M")
    assert "f16 cache" in help_.cache_line.text()
    assert not [r for r in hub.seen() if r.server == "cdn"]  # nothing downloaded before it is asked for
    shot(w, help_, "reference-choices")

    help_.table_button.click()  # the published figure instead: said as what it is
    assert page.verdict_label.text().startswith("For a Q4_K_M") and "Nothing was measured here" in page.status.text()
    help_.cache_button.click()  # the settings question with the same file
    assert page.mode_cache.isChecked() and help_.isHidden()
    assert not [r for r in hub.seen() if r.server == "cdn"]


def test_download_fetches_the_offered_file_with_progress_and_it_becomes_the_reference(qtbot, tmp_path, hub, mine):
    q8 = world(hub, tmp_path)
    w, page = opened(qtbot, tmp_path, mine)
    help_ = page.reference_help
    page.no_reference_button.click()
    qtbot.waitUntil(lambda: help_.choices is not None, timeout=30_000)
    hub.stall_after, hub.stall_s = len(q8) // 2, 1.0  # a slow link: the bar is seen moving
    help_.download_button.click()
    assert help_.fetch.isVisible() and not help_.download_button.isEnabled()
    qtbot.waitUntil(lambda: " of " in help_.fetch.text.text(), timeout=20_000)
    assert f" of {format_bytes(len(q8))}" in help_.fetch.text.text()
    shot(w, help_, "reference-fetching")
    qtbot.waitUntil(lambda: page.reference_path.text().endswith("Tiny-Q8_0.gguf"), timeout=30_000)
    got = page.reference_path.text()
    assert "/snapshots/" in got and Path(got).read_bytes() == q8  # in the Hugging Face cache, whole
    assert page.mode_file.isChecked() and "It is now the reference" in help_.status.text()
    assert not help_.fetch.isVisible()
    qtbot.waitUntil(lambda: not w.state.busy, timeout=20_000)
    shot(w, help_, "reference-fetched")


def test_cancel_stops_the_reference_download(qtbot, tmp_path, hub, mine):
    q8 = world(hub, tmp_path)
    w, page = opened(qtbot, tmp_path, mine)
    help_ = page.reference_help
    page.no_reference_button.click()
    qtbot.waitUntil(lambda: help_.choices is not None, timeout=30_000)
    hub.stall_after, hub.stall_s = len(q8) // 3, 2.0
    help_.download_button.click()
    qtbot.waitUntil(lambda: " of " in help_.fetch.text.text(), timeout=20_000)
    help_.fetch.cancel_button.click()
    qtbot.waitUntil(lambda: not w.state.busy, timeout=20_000)
    assert "The download was stopped" in help_.status.text() and help_.download_button.isEnabled()
    assert page.reference_path.text() == ""


def test_a_file_too_big_for_the_disk_is_not_offered_for_download(qtbot, tmp_path, hub, mine):
    hub.add("quanter/Tiny-GGUF", {"Tiny-F16.gguf": FakeFile(size=10**15), "Tiny-Q4_K_M.gguf": FakeFile(size=10**6)},
            card={"base_model": "acme/Tiny", "base_model_relation": "quantized"})  # fmt: skip
    _w, page = opened(qtbot, tmp_path, mine)
    help_ = page.reference_help
    page.no_reference_button.click()
    qtbot.waitUntil(lambda: help_.choices is not None, timeout=30_000)
    assert help_.choices.offer.quant == "F16" and help_.choices.offer.fits_disk is False
    assert not help_.download_button.isEnabled() and "the disk has" in help_.download_button.toolTip()
    assert "1,000.0 TB" in help_.hub_line.text()
    help_.download()  # even called directly, nothing starts
    assert not [r for r in hub.seen() if r.server == "cdn"]


def test_split_references_are_fetched_part_by_part():
    assert reference_parts("M-Q8_0-00001-of-00003.gguf") == [
        "M-Q8_0-00001-of-00003.gguf", "M-Q8_0-00002-of-00003.gguf", "M-Q8_0-00003-of-00003.gguf"]  # fmt: skip
    assert reference_parts("M-Q8_0.gguf") == ["M-Q8_0.gguf"]
    assert reference_parts("M-Q8_0-00002-of-00003.gguf") == ["M-Q8_0-00002-of-00003.gguf"]
