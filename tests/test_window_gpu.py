"""The Compare page asks about scoring on the GPU before the first comparison (issue 23 item 1, in the window).

Real widgets offscreen; the machine is an H100 as NVML answered it (tests/fakenvml.py's recorded session);
llama.cpp's release is tests/llama_release.py's loopback server serving the CPU build of the same sources
in the release's shape, fetched by the app's own code. This machine has no GPU, so the Vulkan build that
Linux + NVIDIA gets sees none, and the window must fall back to the CPU and say why.
"""

from __future__ import annotations

import os
from pathlib import Path

import fakenvml
import pytest
from llama_release import TAG, FakeRelease, cpu_archive
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QScrollArea, QWidget
from windowkit import make_window

from core.app import gpu
from core.app.hub import format_bytes
from core.app.machine import detect_hardware
from core.app.types import HardwareProfile
from core.evaluation import llama_builds, scorer
from core.evaluation.scoring import EvalSettings
from gui import screenshots
from gui.pages.compare_gpu import SAVED_KEY

VULKAN_ASSET = f"llama-{TAG}-bin-ubuntu-vulkan-x64.tar.gz"
SHOTS = Path(os.environ.get("QD_WIN_SHOTS", "")) if os.environ.get("QD_WIN_SHOTS") else None


@pytest.fixture(scope="module")
def archive() -> bytes:
    return cpu_archive()


@pytest.fixture
def release(archive, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANTDOCTOR_CACHE_DIR", str(tmp_path / "cache"))
    served = FakeRelease(files={VULKAN_ASSET: archive}).start()
    monkeypatch.setenv(llama_builds.RELEASES_ENV, served.base)
    scorer.use(None)
    yield served
    scorer.use(None)
    served.close()


@pytest.fixture
def h100(monkeypatch) -> HardwareProfile:
    fakenvml.install(monkeypatch, fakenvml.record(fakenvml.H100))
    hw = detect_hardware()
    assert [g.vendor for g in hw.usable_gpus] == ["nvidia"]
    return hw


def ready_window(qtbot, tmp_path, demo, hardware: HardwareProfile, name: str = "qd.ini"):
    w = make_window(qtbot, tmp_path, name)
    with qtbot.waitSignal(w.state.diagnosis_changed, timeout=30_000):
        w.on_demo_ready(demo)  # the demo pair: Q2_0 on screen, Q4_1 the reference
    w.state.set_hardware(hardware)
    qtbot.waitUntil(lambda: not w.state.busy, timeout=30_000)
    page = w.compare_page
    page.eval_settings = EvalSettings(chunk=128, max_chunks=1, sample_tokens=8)  # seconds, not minutes
    for name_, box in page.domain_boxes.items():
        box.setChecked(name_ == "general")
    w.show_page("compare")
    return w


def stop_comparison(qtbot, w) -> None:
    """The comparison started (that is what is asserted): stop it, and wait for the window to be idle."""
    assert w.compare_page.running and w.compare_page.status.text().startswith("Running")
    w.cancel()
    qtbot.waitUntil(lambda: not w.state.busy, timeout=30_000)


def shot(w, widget: QWidget, name: str) -> None:
    """With QD_WIN_SHOTS set: the Compare page scrolled to `widget`, at both review sizes."""
    if SHOTS is None:
        return
    for size in screenshots.SIZES:
        w.resize(*size)
        holder = widget.parentWidget()
        while holder is not None and not isinstance(holder, QScrollArea):
            holder = holder.parentWidget()
        screenshots.capture(w, "compare", SHOTS / f"{name}-{size[0]}x{size[1]}.png")
        if isinstance(holder, QScrollArea):
            holder.ensureWidgetVisible(widget, 0, 40)
        assert screenshots.capture(w, "compare", SHOTS / f"{name}-{size[0]}x{size[1]}.png")
    w.resize(1366, 768)


def test_the_question_comes_first_says_the_size_and_no_is_remembered(qtbot, tmp_path, demo, release, archive, h100):
    w = ready_window(qtbot, tmp_path, demo, h100)
    page, panel = w.compare_page, w.compare_page.gpu_panel
    page.run_button.click()
    qtbot.waitUntil(lambda: panel.yes_button.isVisible(), timeout=20_000)
    question = panel.line.text()
    assert question.startswith("Score comparisons on your GPU? This downloads the Vulkan build of llama.cpp b11312")
    assert format_bytes(len(archive)) in question and format_bytes(len(archive)) in panel.yes_button.text()
    assert "without it, comparisons run on the cpu" in question.lower()
    assert release.downloads() == []  # only the listing was read
    assert not page.running  # nothing started before the answer
    shot(w, panel, "gpu-question")
    panel.no_button.click()
    assert w.settings.value(SAVED_KEY) == "no"
    assert gpu.current().reason.startswith("you chose not to download the Vulkan build")
    assert "Comparisons run on the CPU." in panel.line.text() and panel.again_button.isVisible()
    stop_comparison(qtbot, w)  # the comparison went ahead on its own once answered
    assert release.downloads() == []
    shot(w, panel, "gpu-declined")

    # the answer is kept with the window's saved settings: a new window asks nothing and reads no listing
    w.close()
    seen = len(release.seen)
    scorer.use(None)
    again = ready_window(qtbot, tmp_path, demo, h100)
    assert again.settings.value(SAVED_KEY) == "no"
    again.compare_page.run_button.click()
    assert not again.compare_page.gpu_panel.yes_button.isVisible()
    assert "you chose to score on the CPU" in again.compare_page.gpu_panel.line.text()
    assert len(release.seen) == seen
    stop_comparison(qtbot, again)
    again.compare_page.gpu_panel.again_button.click()  # "Ask again" forgets it
    assert QSettings(str(tmp_path / "qd.ini"), QSettings.Format.IniFormat).value(SAVED_KEY) is None


def test_yes_fetches_with_progress_and_the_cpu_path_says_why(qtbot, tmp_path, demo, release, archive, h100):
    # a slow link: a time left can be worked out; the pause comes early, so that under load most of the
    # archive still arrives after it, in several progress events with a fraction below 1
    release.stall_after, release.stall_s = len(archive) // 5, 1.5
    w = ready_window(qtbot, tmp_path, demo, h100)
    page, panel = w.compare_page, w.compare_page.gpu_panel
    page.run_button.click()
    qtbot.waitUntil(lambda: panel.yes_button.isVisible(), timeout=20_000)
    panel.yes_button.click()
    assert w.settings.value(SAVED_KEY) == "yes"
    assert panel.fetch.isVisible() and not panel.yes_button.isVisible()
    texts: list[str] = []
    panel.fetch.worker.signals.progress.connect(lambda _e: texts.append(panel.fetch.text.text()))
    qtbot.waitUntil(lambda: any(" left" in t for t in texts), timeout=60_000)
    shot(w, panel, "gpu-fetching")
    qtbot.waitUntil(lambda: panel.chosen is not None, timeout=120_000)  # fetched, checked, unpacked, tried
    total = format_bytes(len(archive))
    assert any(t.startswith(f"Downloading {VULKAN_ASSET}: ") and t.endswith(" left") and f" of {total}" in t
               for t in texts)  # fmt: skip
    assert [d.range for d in release.downloads()] == [None]
    chosen = panel.chosen
    assert not chosen.on_gpu and chosen.library is None
    assert (
        chosen.reason == "the Vulkan build of llama.cpp sees no GPU on this machine (is the GPU's driver installed?)."
    )
    assert panel.line.text() == f"Comparisons run on the CPU. {chosen.words()}"
    assert not panel.fetch.isVisible()
    stop_comparison(qtbot, w)  # it went ahead once the GPU was decided
    shot(w, panel, "gpu-fell-back")


def test_cancel_stops_the_download_keeps_what_arrived_and_asks_again(qtbot, tmp_path, demo, release, archive, h100):
    release.stall_after, release.stall_s = len(archive) // 3, 2.0
    w = ready_window(qtbot, tmp_path, demo, h100)
    page, panel = w.compare_page, w.compare_page.gpu_panel
    page.run_button.click()
    qtbot.waitUntil(lambda: panel.yes_button.isVisible(), timeout=20_000)
    offer = panel.offer
    panel.yes_button.click()
    qtbot.waitUntil(lambda: " of " in panel.fetch.text.text(), timeout=20_000)
    panel.fetch.cancel_button.click()
    qtbot.waitUntil(lambda: not w.state.busy, timeout=20_000)
    assert "The download was stopped" in panel.line.text() and panel.chosen is None
    assert w.settings.value(SAVED_KEY) is None  # a cancel is not an answer
    assert not page.running and not offer.cached
    part = offer.folder.parent / (VULKAN_ASSET + ".part")
    assert 0 < part.stat().st_size < len(archive)  # what arrived is kept, to resume
    assert gpu.current().library is None


def test_a_machine_without_a_gpu_is_not_asked_and_the_result_says_where_it_was_scored(qtbot, tmp_path, demo, release):
    w = ready_window(qtbot, tmp_path, demo, HardwareProfile())
    page, panel = w.compare_page, w.compare_page.gpu_panel
    page.run_button.click()
    assert panel.isHidden() and page.running
    qtbot.waitUntil(lambda: w.state.comparison is not None, timeout=180_000)
    line = page.scored_label.text()
    assert line.startswith("Scored with llama-cpp-python ") and " on CPU." in line
    assert line.endswith("Not on a GPU: no GPU was found on this machine.")
    assert page.scored_label.isVisible() and f"Note: {line}" in page.details_label.text()
    assert w.state.comparison.eval_settings["scorer"]["backend"] == "CPU"
    assert release.seen == []  # nothing asked of llama.cpp's releases
    qtbot.waitUntil(lambda: not w.state.busy, timeout=30_000)
    shot(w, page.scored_label, "scored-on-cpu")


def test_a_what_if_card_is_not_this_computer_and_is_offered_no_build(qtbot, tmp_path, release):
    w = make_window(qtbot, tmp_path)
    w.state.choose_machine("GeForce RTX 4090")
    assert w.state.hardware is not None and w.state.hardware.usable_gpus  # the what-if has a GPU…
    panel = w.compare_page.gpu_panel
    assert panel.machine() is None  # …this computer was not looked at: nothing to offer
    assert panel.ready(lambda: None) and panel.isHidden()
    assert panel.chosen.reason == "no GPU was found on this machine." and release.seen == []
