"""The GPU scorer's choice and fetch path, end to end against a llama.cpp release on loopback (issue 23 item 1).

The release (tests/llama_release.py) serves the CPU build of the same sources in the release's own shape,
through the app's own HTTP code (core.evaluation.llama_builds). What a GPU adds cannot run here; everything
around it does: the offer and its size, consent, the sha256 check, a resumed download, the cache, the
child that loads the fetched library, the numbers it scores against the in-process build's, and each
fallback to the CPU path with its reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from llama_release import TAG, FakeRelease, cpu_archive

from core.errors import ChecksumMismatchError, ScorerBuildError
from core.evaluation import llama_builds, scorer
from core.evaluation.domains import DOMAINS, eval_text
from core.evaluation.metrics import TokenStats, summarize
from core.evaluation.runners import LocalEngine
from core.progress import run_job
from core.settings.run import RunSettings

CPU_ASSET = f"llama-{TAG}-bin-ubuntu-x64.tar.gz"
VULKAN_ASSET = f"llama-{TAG}-bin-ubuntu-vulkan-x64.tar.gz"


@pytest.fixture(scope="module")
def archive() -> bytes:
    return cpu_archive()


@pytest.fixture
def release(archive, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANTDOCTOR_CACHE_DIR", str(tmp_path / "cache"))
    served = FakeRelease(files={CPU_ASSET: archive, VULKAN_ASSET: archive}).start()
    monkeypatch.setenv(llama_builds.RELEASES_ENV, served.base)
    scorer.use(None)
    yield served
    scorer.use(None)
    served.close()


def cpu_offer() -> llama_builds.BuildOffer:
    found = scorer.find_offer([], backend="cpu")
    assert isinstance(found, llama_builds.BuildOffer), found
    return found


def test_the_offer_says_the_size_before_anything_is_downloaded(release, archive):
    offer = cpu_offer()
    assert offer.tag == TAG == llama_builds.pinned_tag()
    assert [a.name for a in offer.assets] == [CPU_ASSET]
    assert offer.size == len(archive)
    assert f"({llama_builds.size_words(len(archive))})" in offer.words()
    assert "MB" in offer.words()
    assert release.downloads() == []  # only the listing was asked for
    assert not offer.cached


def test_nothing_is_fetched_without_agreeing_to_its_size(release):
    offer = cpu_offer()
    with pytest.raises(ScorerBuildError, match="was not agreed to"):
        run_job(llama_builds.fetch(offer, agreed_size=offer.size - 1))
    assert release.downloads() == []
    declined = scorer.declined(offer)
    assert not declined.on_gpu and declined.library is None
    assert declined.reason == f"you chose not to download {offer.words()}."
    assert "Not on a GPU: you chose not to download" in declined.words()


def test_a_damaged_download_is_refused_and_removed_and_the_cpu_path_says_why(release):
    release.wrong_digest = True
    offer = cpu_offer()
    with pytest.raises(ChecksumMismatchError, match="arrived damaged"):
        run_job(llama_builds.fetch(offer, offer.size))
    assert not list(offer.folder.parent.glob("*.part")) and not offer.cached
    got = run_job(scorer.get(offer, offer.size))
    assert got.library is None and got.backend == "CPU"
    assert "could not be fetched" in got.reason and "arrived damaged" in got.reason


def test_a_release_without_a_checksum_is_not_offered(release):
    release.no_digest = True
    got = scorer.find_offer([], backend="cpu")
    assert isinstance(got, scorer.Scorer) and not got.on_gpu
    assert "lists no sha256" in got.reason
    assert release.downloads() == []


def test_a_cut_download_resumes_where_it_stopped_then_is_cached(release, archive):
    release.cut_after = len(archive) // 3
    offer = cpu_offer()
    events = []
    job = llama_builds.fetch(offer, offer.size, retries=0)
    with pytest.raises(ScorerBuildError, match="What arrived is kept"):
        while True:
            events.append(next(job))
    part = offer.folder.parent / (CPU_ASSET + ".part")
    assert part.stat().st_size == len(archive) // 3
    lib = run_job(llama_builds.fetch(offer, offer.size))  # a second try resumes
    ranges = [s.range for s in release.downloads()]
    assert ranges == [None, f"bytes={len(archive) // 3}-"]
    assert (lib / "libllama.so").is_file() and not part.exists()
    assert llama_builds.cached_build(offer.folder)["tag"] == TAG
    # cached by version: offered and "fetched" again without a request
    before = len(release.seen)
    again = cpu_offer()
    assert again.cached and again.size == offer.size
    assert run_job(llama_builds.fetch(again, again.size)) == lib
    assert len(release.seen) == before


def test_the_fetched_build_is_unpacked_in_the_release_layout(release):
    offer = cpu_offer()
    lib = run_job(llama_builds.fetch(offer, offer.size))
    assert lib == offer.folder / f"llama-{TAG}"
    assert (lib / "LICENSE").is_file()
    for tool in ("llama-server", "llama-perplexity"):  # present where tests/bench/build_llama_tools.sh built them
        if (lib / tool).exists():
            assert os.access(lib / tool, os.X_OK)


def test_a_gpu_build_that_sees_no_gpu_falls_back_to_the_cpu_with_the_reason(release):
    offer = scorer.find_offer(["nvidia"], backend="auto")  # Linux + NVIDIA: the Vulkan build
    assert isinstance(offer, llama_builds.BuildOffer)
    assert (offer.backend, offer.platform) == ("vulkan", "ubuntu-vulkan-x64")
    got = run_job(scorer.get(offer, offer.size))  # this machine has no GPU: the build's child sees none
    assert got.library is None and got.backend == "CPU"
    assert got.reason == "the Vulkan build of llama.cpp sees no GPU on this machine (is the GPU's driver installed?)."


def test_a_build_that_does_not_load_here_falls_back_with_its_own_words(release, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "libllama.so").write_bytes(b"not a shared library")
    with pytest.raises(ScorerBuildError, match="did not start here"):
        scorer.probe(broken)


def test_no_gpu_means_no_offer_and_says_so():
    got = scorer.find_offer([])
    assert isinstance(got, scorer.Scorer) and got.reason == "no GPU was found on this machine."


@pytest.mark.parametrize(
    ("system", "machine", "vendors", "driver", "backend", "names"),
    [
        ("Windows", "AMD64", ["nvidia"], "12.8", "cuda", ["llama-b1-bin-win-cuda-12.4-x64.zip", "cudart-llama-bin-win-cuda-12.4-x64.zip"]),
        ("Windows", "AMD64", ["nvidia"], "13.0", "cuda", ["llama-b1-bin-win-cuda-13.3-x64.zip", "cudart-llama-bin-win-cuda-13.3-x64.zip"]),
        ("Windows", "AMD64", ["amd"], None, "vulkan", ["llama-b1-bin-win-vulkan-x64.zip"]),
        ("Darwin", "arm64", ["apple"], None, "metal", ["llama-b1-bin-macos-arm64.tar.gz"]),
        ("Linux", "x86_64", ["nvidia"], "13.0", "vulkan", ["llama-b1-bin-ubuntu-vulkan-x64.tar.gz"]),
        ("Linux", "aarch64", ["intel"], None, "vulkan", ["llama-b1-bin-ubuntu-vulkan-arm64.tar.gz"]),
    ],
)  # fmt: skip
def test_each_machine_gets_the_release_archive_its_gpu_needs(system, machine, vendors, driver, backend, names):
    """Archive names as llama.cpp's release.yml writes them (its release step's list of downloads)."""
    which = llama_builds.platform_for(system, machine, vendors, driver)
    assert not isinstance(which, str)
    assert which[0] == backend
    assert [p.format(tag="b1") for p in which[2]] == names


def test_machines_without_a_gpu_build_are_told_why():
    assert "Apple Silicon only" in llama_builds.platform_for("Darwin", "x86_64", ["amd"])
    assert "need 12.4 or newer" in llama_builds.platform_for("Windows", "AMD64", ["nvidia"], "11.8")


def score(demo, tmp_path: Path, chosen: scorer.Scorer | None) -> tuple[dict[str, float], set[str]]:
    """The demo pair (Q4_0 against its Q4_1 reference), 6 chunks of 128 tokens, scored by `chosen`."""
    text = eval_text(DOMAINS["general"]) or ""
    folder = tmp_path / ("gpu" if chosen else "cpu")
    folder.mkdir()
    settings = RunSettings(n_ctx=512, n_threads=2, flash_attn="off")

    def task(mode: str) -> dict[str, object]:
        return {"kind": "score", "id": "t", "text": text, "chunk": 128, "max_chunks": 6, "n_batch": 512,
                "n_ubatch": 512, "top_k": 64, "tail_samples": 64, "mode": mode, "reference": str(folder / "ref.npz"),
                "out": str(folder / ("ref.npz" if mode == "reference" else "cand.npz"))}  # fmt: skip

    ran = set()
    for path, mode in ((demo.reference, "reference"), (demo.candidates["Q4_0"], "candidate")):
        engine = LocalEngine(path, settings, mode, scorer=chosen)
        run_job(engine.run([task(mode)], mode, folder))
        ran.add(str(engine.ran_on["library"]))
        assert engine.ran_on["backend"] == "CPU"
    with np.load(folder / "cand.npz") as z:
        m = summarize(TokenStats.from_arrays(z))
    with np.load(folder / "ref.npz") as z:
        ref_bytes = sum(z[k].nbytes for k in ("topk_ids", "topk_logp", "tail_ids", "tail_logp"))
    return {"ppl_ref": m.ppl_reference, "ppl": m.ppl_candidate, "kld": m.kld_mean, "tokens": m.tokens,
            "ref_bytes_per_token": ref_bytes / m.tokens}, ran  # fmt: skip


def test_the_fetched_build_scores_the_demo_pair_like_the_in_process_build(release, demo, tmp_path):
    offer = cpu_offer()
    got = run_job(scorer.get(offer, offer.size))
    assert got.library is not None and got.reason == ""
    assert got.build == f"llama.cpp {TAG} (ubuntu-x64)" and got.backend == "CPU"
    fetched, ran_fetched = score(demo, tmp_path, got)
    own, ran_own = score(demo, tmp_path, None)
    assert ran_fetched == {str(Path(got.library).resolve())}  # the downloaded library did the work
    assert ran_own == {str(llama_builds_wheel())}
    assert fetched["tokens"] == own["tokens"] == 6 * (128 - 1 - 64)  # the same chunking
    assert fetched["ppl_ref"] == pytest.approx(own["ppl_ref"], rel=0.005)
    assert fetched["ppl"] == pytest.approx(own["ppl"], rel=0.005)
    assert fetched["kld"] == pytest.approx(own["kld"], rel=0.02)
    assert fetched["ref_bytes_per_token"] == own["ref_bytes_per_token"] <= (64 + 64) * 8  # bounded as today


def llama_builds_wheel() -> Path:
    from llama_release import wheel_libraries

    return wheel_libraries()


def test_a_build_that_fails_under_a_model_is_run_again_on_the_cpu(demo, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "libllama.so").write_bytes(b"not a shared library")
    bad = scorer.Scorer("CUDA", "Some GPU", "llama.cpp b0 (win-cuda-12.4-x64)", str(broken))
    scorer.use(bad)
    try:
        engine = LocalEngine(demo.reference, RunSettings(n_ctx=256, n_threads=2), "reference")
        task = {"kind": "score", "id": "t", "text": eval_text(DOMAINS["general"]) or "", "chunk": 128, "max_chunks": 1,
                "n_batch": 128, "n_ubatch": 128, "top_k": 8, "tail_samples": 8, "mode": "reference",
                "out": str(tmp_path / "ref.npz")}  # fmt: skip
        results = run_job(engine.run([task], "Reference", tmp_path))
        assert results["t"].ok and engine.ran_on["backend"] == "CPU"
        assert engine.scorer.library is None
        assert engine.scorer.reason.startswith("llama.cpp b0 (win-cuda-12.4-x64) on CUDA failed: ")
        assert scorer.current() == engine.scorer  # later comparisons use the CPU path, and say why
    finally:
        scorer.use(None)


def test_every_comparison_says_where_it_was_scored_and_why_not_on_a_gpu(release, demo, capsys, tmp_path):
    """The CLI on this GPU-less machine: the scorer and its reason in the JSON (eval_settings and notes)."""
    from core.app import gpu
    from core.app.compare import Comparison, details
    from core.cli.main import main

    report = tmp_path / "r.html"
    rc = main(["compare", "--reference", str(demo.reference), "--candidate", str(demo.candidates["Q4_0"]),
               "--domains", "general", "--max-chunks", "2", "--chunk", "128", "--samples", "0", "--json",
               "--quiet", "--report", str(report)])  # fmt: skip
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    used = data["eval_settings"]["scorer"]
    assert (used["backend"], used["device"], used["library"]) == ("CPU", "CPU", None)
    assert used["build"].startswith("llama-cpp-python ")
    assert used["reason"] == "no GPU was found on this machine."
    line = f"Scored with {used['build']} on CPU. Not on a GPU: no GPU was found on this machine."
    assert line in data["notes"]
    assert release.seen == []  # no GPU: the release was never asked
    c = Comparison.from_dict(data)
    assert gpu.words_of(c) == line and f"Note: {line}" in details(c)  # the window's Details
    assert line in report.read_text(encoding="utf-8")


def test_the_question_names_the_size_and_the_folder_before_anything_is_fetched(release):
    from core.app import gpu

    offer = cpu_offer()
    asked = gpu.question(offer)
    assert llama_builds.size_words(offer.size) in asked and str(offer.folder.parent) in asked
    assert release.downloads() == []
    chosen = run_job(gpu.accept(offer, offer.size))
    assert gpu.current() == chosen and chosen.library is not None
    assert gpu.question(offer).endswith("It is already downloaded.")
