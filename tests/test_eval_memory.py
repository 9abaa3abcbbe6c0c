"""Out of memory is reported as memory, with the estimate's numbers, and checked before llama.cpp loads.

Once, a load that failed for lack of memory said "could not set up a 512-token context ... check
that the file is a complete GGUF". Now the fit is checked before the worker starts, and a failed
allocation inside llama.cpp (provoked here for real, with an address-space limit on the process)
comes back as NotEnoughMemoryError carrying the estimate's per-device numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import NotEnoughMemoryError
from core.evaluation.runners import LocalEngine
from core.settings.run import RunSettings

ROOT = Path(__file__).resolve().parents[1]
GENERATE = {"kind": "generate", "id": "g", "prompt": "Say hello.", "max_tokens": 2}


def test_a_load_that_cannot_fit_is_refused_before_llama_cpp(demo, tmp_path):
    # SmolLM2-135M: 30 layers x 192 K and 192 V values x 2 bytes = 23,040 bytes per cell; 10M cells = 215 GiB
    engine = LocalEngine(demo.reference, RunSettings(n_ctx=10_000_000, n_threads=1), "reference")
    job = engine.run([GENERATE], "Reference", tmp_path)
    with pytest.raises(NotEnoughMemoryError) as err:
        next(job)
    message = err.value.message
    assert "Not enough memory to load the reference" in message and "10000000-token context" in message
    assert "KV cache 214.58 GiB" in message and "available" in message
    assert engine.running_pid is None and not list(tmp_path.iterdir())  # no worker, no job file


CHILD = r"""
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import core.evaluation.runners as runners
from core.errors import QuantDoctorError
from core.progress import run_job
from core.settings.run import RunSettings
runners.require_fit = lambda *args, **kwargs: None  # skip the check before loading: let llama.cpp itself fail
engine = runners.LocalEngine(sys.argv[2], RunSettings(n_ctx=int(sys.argv[3]), n_threads=1), "reference")
try:
    run_job(engine.run([json.loads(sys.argv[4])], "Reference"))
    print(json.dumps({"error": None}))
except QuantDoctorError as err:
    print(json.dumps({"error": type(err).__name__, "message": err.message}))
"""


def test_llama_cpp_running_out_of_memory_says_memory_with_numbers(demo):
    # 200,192 cells need 4.30 GiB of KV cache: more than the 3 GiB of address space the worker may have
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(3 * 1024**3), str(demo.reference), "200000", json.dumps(GENERATE)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["error"] == "NotEnoughMemoryError", result
    message = result["message"]
    assert "ran out of memory loading the reference" in message and "complete GGUF" not in message
    assert "The memory estimate for a 200000-token context" in message and "KV cache 4.30 GiB" in message
