"""The local engine's child process: crashes become typed errors, cancel stops it at once, the app lives on."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import psutil
import pytest
from ggufmaker import write_gguf

from core.errors import EvaluationSetupError, RunnerCrashedError
from core.evaluation.domains import DOMAINS, eval_text
from core.evaluation.runners import LocalEngine
from core.progress import run_job
from core.settings.run import RunSettings

RS = RunSettings(n_ctx=512, n_threads=2)


def _score(tmp_path, text: str, chunk: int = 128, max_chunks: int = 0, mode: str = "reference", ref=None) -> dict:
    return {"kind": "score", "id": "t", "text": text, "chunk": chunk, "max_chunks": max_chunks, "n_batch": chunk,
            "n_ubatch": chunk, "top_k": 16, "tail_samples": 16, "mode": mode,
            "out": str(tmp_path / f"{mode}.npz"), "reference": str(ref) if ref else None}  # fmt: skip


def _generate(max_tokens: int = 6) -> dict:
    return {"kind": "generate", "id": "g", "prompt": "Say hello.", "max_tokens": max_tokens}


def _run_until_scoring(job, engine):
    """Drive the job until the worker is scoring (it has loaded and reported progress); return its pid."""
    for event in job:
        if engine.running_pid and event.unit == "tokens":
            return engine.running_pid
    raise AssertionError("the worker never started scoring")


@pytest.mark.parametrize(("sig", "words"), [(signal.SIGKILL, "ran out of memory"), (signal.SIGABRT, "aborted")])
def test_a_child_killed_mid_run_is_a_clear_error_and_the_engine_stays_usable(demo, tmp_path, sig, words):
    engine = LocalEngine(demo.reference, RS, "reference")
    long_text = eval_text(DOMAINS["long"])
    assert long_text
    job = engine.run([_score(tmp_path, long_text)], "Reference", tmp_path)
    pid = _run_until_scoring(job, engine)
    os.kill(pid, sig)
    with pytest.raises(RunnerCrashedError) as err:
        for _ in job:
            pass
    assert words in err.value.message and demo.reference.name in err.value.message
    assert err.value.fix
    assert not psutil.pid_exists(pid)
    # the same engine runs the next job normally
    results = run_job(engine.run([_generate()], "Reference", tmp_path))
    assert results["g"].ok and results["g"].fields["pieces"]


def test_cancel_stops_the_child_within_a_second(demo, tmp_path):
    engine = LocalEngine(demo.reference, RS, "reference")
    job = engine.run([_score(tmp_path, eval_text(DOMAINS["long"]) or "")], "Reference", tmp_path)
    pid = _run_until_scoring(job, engine)
    started = time.monotonic()
    job.close()  # what the GUI's Cancel and Ctrl-C do: close the generator between two yields
    assert time.monotonic() - started < 1.0
    assert not psutil.pid_exists(pid)
    assert engine.running_pid is None
    assert not (tmp_path / "reference.npz").exists()  # no half-written logits under the real name


def test_a_text_shorter_than_one_chunk_is_reported_not_crashed(demo, tmp_path):
    engine = LocalEngine(demo.reference, RS, "reference")
    results = run_job(engine.run([_score(tmp_path, "Too short to score.")], "Reference", tmp_path))
    assert not results["t"].ok and results["t"].kind == "too_short"
    assert "shorter than one chunk of 128" in results["t"].message


def test_the_worker_refuses_reference_logits_of_other_tokens(demo, tmp_path):
    text = eval_text(DOMAINS["general"]) or ""
    engine = LocalEngine(demo.reference, RS, "reference")
    run_job(engine.run([_score(tmp_path, text, max_chunks=1)], "Reference", tmp_path))
    with np.load(tmp_path / "reference.npz") as z:
        data = dict(z)
    data["tokens"] = data["tokens"][::-1].copy()
    forged = tmp_path / "forged.npz"
    np.savez(forged, **data)
    results = run_job(engine.run([_score(tmp_path, text, max_chunks=1, mode="candidate", ref=forged)], "C", tmp_path))
    assert not results["t"].ok and results["t"].kind == "tokenizer"


def test_a_file_llama_cpp_cannot_load_ends_the_job_with_a_setup_error(tmp_path):
    broken = write_gguf(tmp_path / "no-weights.gguf", metadata={"general.name": "empty"})
    engine = LocalEngine(broken, RS, "candidate")
    started = time.monotonic()
    with pytest.raises(EvaluationSetupError) as err:
        run_job(engine.run([_generate()], "Candidate", tmp_path))
    assert "could not be started" in err.value.message and "no-weights.gguf" in err.value.message
    assert time.monotonic() - started < 30
    with pytest.raises(EvaluationSetupError, match="does not exist"):
        LocalEngine(tmp_path / "nope.gguf", RS)
