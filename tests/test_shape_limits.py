"""A header's counts never drive unbounded work: the shape is checked once, where the file is read.

Each file below is small but claims an impossible shape (three billion layers, a million experts, a
block count of -1, no layer tensors...). Before the check, such files made `fit` allocate 24 GB,
hung `fit` and `diagnose`, or crashed with IndexError / ZeroDivisionError. Now `inspect`, `fit` and
`diagnose` refuse each one with ImpossibleModelShapeError (or CorruptModelFileError) in plain words,
quickly, in a child process whose address space is capped (resource.setrlimit).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import pytest
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf

from core.errors import CorruptModelFileError, ImpossibleModelShapeError
from core.model.inspection import inspect_model

ROOT = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 1536 * 1024**2
TIME_LIMIT_S = 2.0

# (n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab): a tiny llama whose header is then made impossible
TINY = (2, 256, 512, 4, 4, 1000)


def _tiny(path: Path, *, n_layer_tensors: int = 2, n_expert: int = 0, skip: Callable[[str], bool] | None = None,
          extra: Callable[[gguf.GGUFWriter], None] | None = None, drop: tuple[str, ...] = (),
          **meta: Any) -> Path:  # fmt: skip
    _, n_embd, n_ff, n_head, n_head_kv, n_vocab = TINY
    md = llama_metadata(2, n_embd, n_ff, n_head, n_head_kv, n_expert=n_expert, n_expert_used=1 if n_expert else 0)
    md.update(meta)
    for key in drop:
        md.pop(key, None)
    tensors = llama_tensors(n_layer_tensors, n_embd, n_ff, n_head, n_head_kv, n_vocab, Q.Q8_0, Q.Q8_0, Q.Q8_0,
                            n_expert=n_expert)  # fmt: skip
    if skip is not None:
        tensors = [t for t in tensors if not skip(t[0])]
    return write_gguf(path, metadata=md, tensors=tensors, extra=extra)


def _infinite_context(w: gguf.GGUFWriter) -> None:
    w.add_float32("llama.context_length", float("inf"))


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "3e9 layers": (lambda p: _tiny(p, **{"llama.block_count": 3_000_000_000}), "3,000,000,000"),
    "a million layers": (lambda p: _tiny(p, **{"llama.block_count": 1_000_000}), "1,000,000"),
    "a million experts": (
        lambda p: _tiny(p, n_expert=4, **{"llama.expert_count": 1_000_000, "llama.expert_used_count": 2}),
        "expert count is 1,000,000",
    ),
    "a million experts used": (
        lambda p: _tiny(p, n_expert=4, **{"llama.expert_used_count": 1_000_000}),
        "1,000,000",
    ),
    "more experts used than there are": (
        lambda p: _tiny(p, n_expert=4, **{"llama.expert_used_count": 5}),
        "uses 5 experts per token but has only 4",
    ),
    "block count -1": (
        lambda p: _tiny(p, drop=("llama.block_count",), extra=lambda w: w.add_int32("llama.block_count", -1)),
        "-1",
    ),
    "no layer tensors": (lambda p: _tiny(p, skip=lambda name: name.startswith("blk.")), "none of its"),
    "fewer layers than claimed": (lambda p: _tiny(p, **{"llama.block_count": 4}), "2 of them have no tensors"),
    "tensors beyond the claimed layers": (lambda p: _tiny(p, n_layer_tensors=3), "tensors for layer 2"),
    "KV heads that do not divide the heads": (
        lambda p: _tiny(p, **{"llama.attention.head_count_kv": 3}),
        "4 attention heads and 3 KV heads",
    ),
    "heads that do not divide the embedding": (
        lambda p: _tiny(p, **{"llama.attention.head_count": 7, "llama.attention.head_count_kv": 7}),
        "does not divide evenly",
    ),
    "a gigantic embedding": (lambda p: _tiny(p, **{"llama.embedding_length": 1 << 40}), "embedding length"),
    "context length infinite": (
        lambda p: _tiny(p, drop=("llama.context_length",), extra=_infinite_context),
        "inf",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_profile_refuses_impossible_shapes(case: str, tmp_path: Path) -> None:
    make, words = CASES[case]
    path = make(tmp_path / "bad.gguf")
    with pytest.raises(CorruptModelFileError) as err:
        inspect_model(path)
    assert words in err.value.message
    if case not in ("context length infinite", "block count -1"):  # refused as unreadable numbers even earlier
        assert isinstance(err.value, ImpossibleModelShapeError)


def test_real_shapes_pass(tmp_path: Path) -> None:
    """The check refuses nothing real: dense, MoE, and a tokenizer-only file (no tensors at all)."""
    dense = inspect_model(_tiny(tmp_path / "dense.gguf"))
    moe = inspect_model(_tiny(tmp_path / "moe.gguf", n_expert=4))
    vocab_only = inspect_model(_tiny(tmp_path / "vocab.gguf", skip=lambda name: True))
    assert dense.block_count == 2 and moe.expert_count == 4 and vocab_only.tensors == []


CHILD = r"""
import json, resource, sys, time
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from core.cli.main import main
import core.diagnosis, core.memory.plan, core.model.inspection  # imported before the clock starts
out = {}
for spec in json.loads(sys.argv[2]):
    t0 = time.perf_counter()
    try:
        code = main(spec["argv"])
        error = None
    except BaseException as exc:  # anything but a typed error printed by the CLI is a failure
        code, error = -1, f"{type(exc).__name__}: {exc}"
    out[spec["id"]] = {"code": code, "seconds": time.perf_counter() - t0, "error": error}
print("RESULT " + json.dumps(out))
"""


def test_cli_refuses_them_fast_in_bounded_memory(tmp_path: Path) -> None:
    specs, words = [], {}
    for i, (case, (make, expected)) in enumerate(sorted(CASES.items())):
        path = str(make(tmp_path / f"bad{i}.gguf"))
        for command in (["inspect", path], ["fit", path, "--gpu", "RTX 4090", "-c", "4096"],
                        ["diagnose", path, "--gpu", "RTX 4090"]):  # fmt: skip
            specs.append({"id": f"{case} / {command[0]}", "argv": command})
            words[f"{case} / {command[0]}"] = expected
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(MEMORY_LIMIT), json.dumps(specs)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "QUANTDOCTOR_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    result_line = next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))
    results = json.loads(result_line.removeprefix("RESULT "))
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == len(specs), run.stderr[-3000:]
    for spec, error_line in zip(specs, errors, strict=True):
        r = results[spec["id"]]
        assert r["error"] is None and r["code"] == 2, (spec["id"], r)
        assert r["seconds"] < TIME_LIMIT_S, (spec["id"], r)
        assert words[spec["id"]] in error_line, (spec["id"], error_line)


def test_the_window_refuses_the_file_instead_of_estimating_it(qtbot, tmp_path: Path) -> None:
    """Opening such a file once ran the estimate automatically (6.6 GB in 40 s); now it is an error, at once."""
    from PySide6.QtCore import QSettings

    from core.hardware.catalog import catalog_profile
    from gui.main_window import MainWindow

    window = MainWindow(QSettings(str(tmp_path / "qd.ini"), QSettings.Format.IniFormat), detect_hardware=False)
    qtbot.addWidget(window)
    window.state.set_hardware(catalog_profile("RTX 4090"))
    errors: list[BaseException] = []
    window.state.error.connect(errors.append)
    path = CASES["a million layers"][0](tmp_path / "bad.gguf")
    with qtbot.waitSignal(window.state.error, timeout=10_000):
        window.state.open_model(str(path))
    assert isinstance(errors[-1], ImpossibleModelShapeError) and "1,000,000" in errors[-1].message
    assert window.state.profile is None and window.state.diagnosis is None
