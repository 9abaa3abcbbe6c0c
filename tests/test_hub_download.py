"""Downloads into the Hugging Face cache against the fake Hub: progress, resume after a cut or a cancel,
sha256 refusal, disk space, offline, gated, timeouts — and the token only ever sent to the Hub."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from fakehub import TOKEN, FakeFile, FakeHub, make_gguf, running
from huggingface_hub import try_to_load_from_cache

from core.errors import (
    ChecksumMismatchError,
    DiskFullError,
    HubDownloadError,
    HubGatedError,
    HubNotFoundError,
    HubOfflineError,
)
from core.hub import download
from core.model.inspection import inspect_model
from core.progress import run_job

REPO = "quanter/Tiny-GGUF"
FILE = "Tiny-Q8_0.gguf"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> bytes:
    # ~2.4 MB of real GGUF with random tensor data: a cut at any offset changes the sha256.
    return make_gguf(tmp_path_factory.mktemp("tiny") / FILE, n_layer=4, n_embd=512, n_vocab=4096)


@pytest.fixture
def hub(monkeypatch, tmp_path, tiny):
    for h in running(monkeypatch, tmp_path):
        h.add(
            REPO,
            {FILE: tiny, "README.md": FakeFile(b"# Tiny\n", lfs=False)},
            card={"base_model": "acme/Tiny", "base_model_relation": "quantized"},
        )
        h.add("acme/Gated-GGUF", {FILE: tiny}, gated="auto", granted={"hf_granted"})
        yield h


def cache(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


def partials(tmp_path: Path) -> list[Path]:
    return list(cache(tmp_path).rglob("*.incomplete"))


def test_download_into_the_standard_cache(hub, tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    events = []
    done = run_job(download(REPO, FILE, chunk_size=1 << 16), events.append)
    sha = hashlib.sha256(tiny).hexdigest()
    assert done.verified and done.sha256 == sha and done.size == len(tiny) and not done.already_cached
    # The standard layout: snapshots/<commit>/<file> → blobs/<sha256>, found by the client's own lookup.
    assert done.path.parent.parent.name == "snapshots" and done.path.is_symlink()
    assert done.path.resolve().name == sha and done.path.read_bytes() == tiny
    assert try_to_load_from_cache(REPO, FILE, cache_dir=cache(tmp_path)) == str(done.path)
    assert inspect_model(done.path).nominal_type == "Q8_0"
    assert not partials(tmp_path)
    # Progress: bytes, rising, up to the total; speed and ETA once there is a rate.
    byte_events = [e for e in events if e.unit == "bytes" and e.phase.startswith("Downloading")]
    assert byte_events and byte_events[-1].done == byte_events[-1].total == len(tiny)
    assert [e.done for e in byte_events] == sorted(e.done for e in byte_events)
    # The token goes to the Hub, never to the file host the Hub redirects to.
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in hub.seen("hub"))
    cdn = hub.seen("cdn", "GET")
    assert cdn and all("authorization" not in r.headers for r in cdn)
    # A second run finds it in the cache and downloads nothing.
    n = len(hub.seen("cdn"))
    again = run_job(download(REPO, FILE))
    assert again.already_cached and again.path == done.path and len(hub.seen("cdn")) == n


def test_non_lfs_file_checked_by_git_blob_id(hub, tmp_path):
    done = run_job(download(REPO, "README.md"))
    assert done.verified and done.path.read_bytes() == b"# Tiny\n"


def test_cut_midway_is_resumed_in_the_same_run(hub, tiny):
    hub.cut_after, hub.cuts_left = 700_000, 1
    done = run_job(download(REPO, FILE, chunk_size=1 << 16))
    assert done.verified and done.path.read_bytes() == tiny
    gets = hub.seen("cdn", "GET")
    assert len(gets) == 2 and "range" not in gets[0].headers
    assert gets[1].headers["range"] == "bytes=700000-"


def test_cut_midway_then_resumed_by_the_next_run(hub, tiny, tmp_path):
    hub.cut_after, hub.cuts_left = 1_000_000, 1
    with pytest.raises(HubDownloadError) as err:
        run_job(download(REPO, FILE, retries=0))
    assert "What arrived is kept" in err.value.message and "resume" in err.value.fix
    (part,) = partials(tmp_path)
    assert part.stat().st_size == 1_000_000

    events = []
    done = run_job(download(REPO, FILE), events.append)
    assert done.resumed_from == 1_000_000 and done.verified and done.path.read_bytes() == tiny
    assert hub.seen("cdn", "GET")[-1].headers["range"] == "bytes=1000000-"
    assert any(e.phase == "Checking the part downloaded before" for e in events)
    assert not partials(tmp_path)


def test_cancel_keeps_the_partial_file_and_the_next_run_resumes(hub, tiny, tmp_path):
    job = download(REPO, FILE, chunk_size=1 << 16)
    for event in job:
        if event.unit == "bytes" and event.done > 0:
            break
    job.close()  # what the GUI's worker does on Cancel
    (part,) = partials(tmp_path)
    kept = part.stat().st_size
    assert 0 < kept < len(tiny)
    done = run_job(download(REPO, FILE))
    assert done.resumed_from == kept and done.path.read_bytes() == tiny


def test_server_ignoring_range_starts_over_cleanly(hub, tiny, tmp_path):
    hub.cut_after, hub.cuts_left = 500_000, 1
    with pytest.raises(HubDownloadError):
        run_job(download(REPO, FILE, retries=0))
    hub.ignore_range = True
    done = run_job(download(REPO, FILE))
    assert done.resumed_from == 0 and done.verified and done.path.read_bytes() == tiny


def test_checksum_mismatch_is_refused_and_the_partial_removed(hub, tiny, tmp_path):
    hub.corrupt.add(hashlib.sha256(tiny).hexdigest())
    with pytest.raises(ChecksumMismatchError) as err:
        run_job(download(REPO, FILE))
    assert "damaged" in err.value.message and "removed" in err.value.message
    assert not partials(tmp_path)
    assert not any(p.is_file() for p in cache(tmp_path).rglob("blobs/*"))
    assert try_to_load_from_cache(REPO, FILE, cache_dir=cache(tmp_path)) is None


def test_not_enough_disk_space_stops_before_downloading(hub, tiny):
    with pytest.raises(DiskFullError) as err:
        run_job(download(REPO, FILE, free_space=lambda _p: 1_000_000))
    assert err.value.needed == len(tiny) and err.value.free == 1_000_000
    assert "free" in err.value.message and not hub.seen("cdn")


def test_stalled_download_times_out(hub, tiny, tmp_path):
    hub.stall_after, hub.stall_s = 300_000, 1.5
    t0 = time.monotonic()
    with pytest.raises(HubDownloadError) as err:
        run_job(download(REPO, FILE, timeout=0.3, retries=0))
    assert time.monotonic() - t0 < 1.4
    assert "stalled" in err.value.message
    (part,) = partials(tmp_path)
    assert part.stat().st_size == 300_000


def test_gated_without_login(hub):
    with pytest.raises(HubGatedError) as err:
        run_job(download("acme/Gated-GGUF", FILE))
    assert "not logged in" in err.value.message
    assert "accept the license" in err.value.fix and "log in" in err.value.fix
    assert not hub.seen("cdn")


def test_gated_with_access(hub, tiny, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_granted")
    assert run_job(download("acme/Gated-GGUF", FILE)).path.read_bytes() == tiny


def test_missing_file_and_repo(hub):
    with pytest.raises(HubNotFoundError) as err:
        run_job(download(REPO, "nope.gguf"))
    assert "nope.gguf" in err.value.message
    with pytest.raises(HubNotFoundError):
        run_job(download("nobody/nothing", FILE))


def test_offline_uses_the_cache_or_says_offline(hub, tiny, monkeypatch):
    done = run_job(download(REPO, FILE))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(hub.requests)
    again = run_job(download(REPO, FILE))
    assert again.already_cached and again.path == done.path
    with pytest.raises(HubOfflineError) as err:
        run_job(download(REPO, "README.md"))
    assert "offline" in err.value.message
    assert len(hub.requests) == n


def test_concurrent_download_of_the_same_file_is_refused(hub, tmp_path):
    first = download(REPO, FILE, chunk_size=1 << 16)
    for event in first:
        if event.unit == "bytes" and event.done > 0:
            break
    try:
        with pytest.raises(HubDownloadError) as err:
            run_job(download(REPO, FILE))
        assert "another program" in err.value.message
    finally:
        first.close()


def test_the_fake_hub_is_loopback_only():
    hub = FakeHub()
    try:
        assert hub.url.startswith("http://127.0.0.1:") and hub.cdn_url.startswith("http://127.0.0.1:")
    finally:
        hub.close()


def test_progress_reports_speed_and_time_left():
    from core.hub.download import _event, _Rate

    rate = _Rate()
    for t, done in ((0.0, 0), (0.5, 5_000_000), (1.0, 10_000_000)):
        rate.add(t, done)
    event = _event("Downloading x", 10_000_000, 30_000_000, rate)
    assert event.message == "10.0 MB/s" and event.eta_s == pytest.approx(2.0)
    assert event.fraction == pytest.approx(1 / 3) and "about 2 s left" in event.describe()


def test_expected_model_that_does_not_exist(hub):
    from core.hub import find_alternatives

    with pytest.raises(HubNotFoundError) as err:
        find_alternatives(None, "nobody/nothing")
    assert "nobody/nothing" in err.value.message
