"""Hostile and broken inputs past the GGUF reader (issue 12): each class gets a plain typed error,
quickly and in little memory, never a traceback, a hang or a signal."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf

from core import errors, jsonfile
from core.cli.main import main
from core.model.gguf_reader import _Cursor, read_gguf_header
from core.model.inspection import inspect_model

TENSORS = llama_tensors(2, 256, 512, 4, 2, 1024, Q.Q4_0, Q.Q8_0, Q.Q8_0)
ROOT = Path(__file__).resolve().parent.parent


def small_gguf(path: Path, **metadata: object) -> Path:
    md = llama_metadata(2, 256, 512, 4, 2)
    md.update(metadata)
    return write_gguf(path, metadata=md, tensors=TENSORS)


def _s(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def raw_gguf(path: Path, kvs: list[bytes], tensors: list[bytes] = (), pad_to: int = 0) -> Path:
    """A GGUF written byte by byte: version 3, the given encoded KV pairs and tensor infos."""
    data = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + b"".join(tensors)
    path.write_bytes(data)
    if pad_to:
        with open(path, "r+b") as f:
            f.truncate(pad_to)
    return path


def kv_str(key: str, value: bytes) -> bytes:
    return _s(key.encode()) + struct.pack("<I", 8) + _s(value)


def kv(key: str, vtype: int, payload: bytes) -> bytes:
    return _s(key.encode()) + struct.pack("<I", vtype) + payload


def run_cli(*args: str, timeout: float = 60, stdin: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=timeout, env=env, stdin=stdin
    )


# --- the one JSON loader ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"a": ' * 70 + "1" + "}" * 70, "nested more than 64"),
        ('{"bits": NaN}', "non-number NaN"),
        ('{"bits": Infinity}', "non-number Infinity"),
        ('{"bits": 1e999}', "finite"),
        ('{"n": ' + "9" * 5000 + "}", "digits long"),
        ('{"a": 1, "a": 2}', "'a' twice"),
        ("[1, 2]", "not a JSON object (it holds a list)"),
        ("<!DOCTYPE html><html>sign in</html>", "web page"),
        ('{"a": ', "not valid JSON"),
    ],
)
def test_json_loader_limits(text: str, words: str) -> None:
    start = time.monotonic()
    with pytest.raises(errors.SetupError) as info:
        jsonfile.loads(text, "x.json", errors.SetupError)
    assert words in info.value.message
    assert time.monotonic() - start < 2


def test_json_loader_binary_and_size(tmp_path: Path) -> None:
    with pytest.raises(errors.SetupError, match="not UTF-8"):
        jsonfile.loads(b"\xff\xfe{}", "x.json", errors.SetupError)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2000)
    with pytest.raises(errors.SetupError, match="2,000 bytes"):
        jsonfile.load(big, "settings file", errors.SetupError, max_bytes=1000)


DEEP = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize(
    "place",
    ["config.json", "quantize_config.json", "tokenizer_config.json", "safetensors", "hardware", "kcpps", "measure"],
)
def test_deep_json_everywhere_is_a_plain_error(place: str, tmp_path: Path, capsys) -> None:
    from foldermaker import make_folder

    model = small_gguf(tmp_path / "m.gguf")
    bad = tmp_path / "bad.json"
    bad.write_text(DEEP)
    if place in ("config.json", "quantize_config.json", "tokenizer_config.json"):
        folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
        if place == "quantize_config.json":
            cfg = json.loads((folder / "config.json").read_text())
            cfg.pop("quantization_config", None)
            (folder / "config.json").write_text(json.dumps(cfg))
        (folder / place).write_text(DEEP)
        argv = ["inspect", str(folder)]
    elif place == "safetensors":
        folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
        raw = DEEP.encode()
        (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
        argv = ["inspect", str(folder)]
    elif place == "hardware":
        argv = ["diagnose", str(model), "--hardware", str(bad)]
    elif place == "kcpps":
        argv = ["diagnose", str(model), "--from-kcpps", str(bad)]
    else:
        argv = ["diagnose", str(model), "--measurements", str(bad)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "nested" in err and "Traceback" not in err


def test_config_nan_bits_and_unknown_method(tmp_path: Path) -> None:
    from foldermaker import make_folder

    folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    cfg = json.loads((folder / "config.json").read_text())
    text = json.dumps(cfg).replace('"bits": 4', '"bits": NaN')
    (folder / "config.json").write_text(text)
    with pytest.raises(errors.ModelFolderError, match="NaN"):
        inspect_model(folder)
    cfg["quantization_config"]["bits"] = 400
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(errors.ModelFolderError, match="bit width"):
        inspect_model(folder)
    cfg["quantization_config"]["bits"] = 4
    cfg["quantization_config"]["quant_method"] = "gptq\x1b[2J; rm -rf"
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(errors.ModelFolderError, match="not a method name"):
        inspect_model(folder)


# --- files that are not regular files, odd paths -------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("place", ["model", "safetensors", "config", "kcpps", "hardware"])
def test_fifo_never_hangs(place: str, tmp_path: Path) -> None:
    from foldermaker import make_folder

    model = small_gguf(tmp_path / "m.gguf")
    fifo = tmp_path / "pipe"
    if place == "model":
        os.mkfifo(fifo)
        args = ["inspect", str(fifo)]
    elif place in ("safetensors", "config"):
        folder = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
        name = "model.safetensors" if place == "safetensors" else "config.json"
        (folder / name).unlink()
        os.mkfifo(folder / name)
        args = ["inspect", str(folder)]
    else:
        os.mkfifo(fifo)
        flag = "--from-kcpps" if place == "kcpps" else "--hardware"
        args = ["diagnose", str(model), flag, str(fifo)]
    run = run_cli(*args, timeout=60)
    assert run.returncode == 2, run.stderr
    assert "named pipe" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda t: "~nosuchuser_qd/x.gguf", "no user"),
        (lambda t: str(t / ("x" * 300 + ".gguf")), "too long"),
        (lambda t: str(t), "is a folder"),
    ],
)
def test_odd_paths(make, words: str, tmp_path: Path, capsys) -> None:
    model = small_gguf(tmp_path / "m.gguf")
    target = make(tmp_path)
    for argv in (["inspect", target], ["diagnose", str(model), "--hardware", target]):
        if argv[0] == "inspect" and words == "is a folder":
            continue  # a folder is a fine thing to inspect
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err


def test_binary_modelfile_is_plain(tmp_path: Path, capsys) -> None:
    model = small_gguf(tmp_path / "m.gguf")
    mf = tmp_path / "Modelfile"
    mf.write_bytes(b"\x00\xff\xfe" * 100)
    assert main(["diagnose", str(model), "--from-ollama", "--modelfile", str(mf)]) == 2
    assert "binary" in capsys.readouterr().err


def test_cache_dir_is_a_file(tmp_path: Path, monkeypatch) -> None:
    from core.paths import own_folder

    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("QUANTDOCTOR_CACHE_DIR", str(blocker))
    with pytest.raises(errors.QuantDoctorError, match="is a file, not a folder"):
        own_folder("reference-logits")


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    model = small_gguf(tmp_path / "m.gguf")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = f"{sys.executable} -m core inspect --json {model} | head -c 10"
    run = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr, run.stderr
    assert len(run.stdout) == 10


# --- escape sequences never reach the terminal ----------------------------------------------------------


def test_terminal_escapes_are_shown_not_obeyed(tmp_path: Path) -> None:
    osc52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
    model = small_gguf(tmp_path / "m.gguf", **{"general.name": f"Evil{osc52}\x1b[2J\x9b31m\u202eName"})
    for args in (["inspect", str(model)], ["inspect", str(model), "--json"], ["diagnose", str(model)]):
        run = run_cli(*args)
        out = run.stdout + run.stderr
        assert run.returncode in (0, 1), out
        for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert bad not in out, (args, bad)
        assert "Evil" in out
        if "--json" in args:
            assert "Evil" in json.dumps(json.loads(run.stdout))  # still valid JSON, the same text


# --- the GGUF reader: bounded reads, lengths checked before reading ------------------------------------


def test_file_that_shrinks_while_read_is_a_plain_error(tmp_path: Path) -> None:
    """The reader's size comes from fstat when opened; a file shorter by the time a read comes is the
    same situation as a truncation mid-read. With a memory map that read was a SIGBUS."""
    path = small_gguf(tmp_path / "m.gguf")
    size = path.stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        os.truncate(path, 100)
        cur = _Cursor(fd, size, path)
        cur.pos = 50
        with pytest.raises(errors.ModelFileError, match="changed while it was read"):
            cur.take(200)
    finally:
        os.close(fd)


def test_file_truncated_under_a_reader_process_does_not_kill_it(tmp_path: Path) -> None:
    """A real race: a child reads the header in a loop while the file is cut under it."""
    path = small_gguf(tmp_path / "m.gguf", **{"test.pad": "x" * 3_000_000})
    code = (
        "import sys\nfrom core.model.gguf_reader import read_gguf_header\nfrom core.errors import QuantDoctorError\n"
        "n = 0\nfor _ in range(400):\n    try:\n        read_gguf_header(sys.argv[1])\n    except QuantDoctorError:\n"
        "        n += 1\nprint('ok', n)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    data = path.read_bytes()
    while proc.poll() is None:
        os.truncate(path, 2_000_000)
        with open(path, "r+b") as f:
            f.write(data)
    out = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode == 0 and out.startswith("ok"), (proc.returncode, out)


def _peak(fn) -> tuple[float, int]:
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return time.monotonic() - t0, peak


def test_huge_tensor_name_is_refused_before_reading(tmp_path: Path) -> None:
    n = 900_000_000
    path = raw_gguf(
        tmp_path / "m.gguf",
        [kv_str("general.architecture", b"llama")],
        [struct.pack("<Q", n)],
        pad_to=n + 1000,
    )
    caught: list[BaseException] = []

    def read() -> None:
        try:
            read_gguf_header(path)
        except errors.CorruptModelFileError as exc:
            caught.append(exc)

    secs, peak = _peak(read)
    assert caught and "over the 63-byte limit" in str(caught[0])
    assert secs < 2 and peak < 20_000_000


def test_huge_chat_template_is_kept_truncated(tmp_path: Path) -> None:
    n = 1_000_000_000
    head = kv_str("general.architecture", b"llama") + _s(b"tokenizer.chat_template") + struct.pack("<I", 8)
    path = tmp_path / "m.gguf"
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + head + struct.pack("<Q", n))
        f.truncate(f.tell() + n)
    holder: dict[str, object] = {}
    secs, peak = _peak(lambda: holder.setdefault("h", read_gguf_header(path)))
    header = holder["h"]
    assert len(header.metadata["tokenizer.chat_template"]) == 64 * 1024
    assert "tokenizer.chat_template" in header.truncated
    assert secs < 2 and peak < 20_000_000


def test_string_array_limits(tmp_path: Path) -> None:
    # 120 million empty strings: refused by count, not walked
    path = raw_gguf(
        tmp_path / "m.gguf",
        [kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 120_000_000))],
        pad_to=120_000_000 * 8 + 200,
    )
    t0 = time.monotonic()
    with pytest.raises(errors.CorruptModelFileError, match="120,000,000 strings"):
        read_gguf_header(path)
    assert time.monotonic() - t0 < 1
    # 1 million empty strings, a real-sized walk, skipped quickly without materialising them
    n = 1_000_000
    path2 = raw_gguf(tmp_path / "m2.gguf", [kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, n) + b"\0" * 8 * n)])
    t0 = time.monotonic()
    assert read_gguf_header(path2).array_len("tokenizer.ggml.tokens") == n
    assert time.monotonic() - t0 < 5  # ~0.3 s on an idle core; generous for a loaded CI machine
    _, peak = _peak(lambda: read_gguf_header(path2))
    assert peak < 20_000_000  # nothing materialised: the walk reads length prefixes a window at a time


def test_invalid_utf8_key_and_tensor_name(tmp_path: Path) -> None:
    bad_key = raw_gguf(tmp_path / "k.gguf", [_s(b"general.\xff\xfe") + struct.pack("<I", 4) + struct.pack("<I", 1)])
    with pytest.raises(errors.CorruptModelFileError, match="not valid UTF-8"):
        read_gguf_header(bad_key)
    path = small_gguf(tmp_path / "m.gguf")
    data = bytearray(path.read_bytes())
    i = data.find(b"blk.0.attn_q.weight")
    data[i : i + 3] = b"\xc3\x28k"
    path.write_bytes(bytes(data))
    with pytest.raises(errors.CorruptModelFileError, match="not valid UTF-8"):
        read_gguf_header(path)


@pytest.mark.parametrize(
    ("vtype", "payload"),
    [(4, struct.pack("<I", 32)), (5, struct.pack("<i", 32)), (6, struct.pack("<f", 32.0)), (8, _s(b"32"))],
)
def test_alignment_of_the_wrong_type(vtype: int, payload: bytes, tmp_path: Path) -> None:
    path = raw_gguf(tmp_path / "m.gguf", [kv("general.alignment", vtype, payload)])
    if vtype == 4:
        read_gguf_header(path)  # UINT32: the one type llama.cpp accepts
        return
    with pytest.raises(errors.CorruptModelFileError, match="unsigned 32-bit"):
        read_gguf_header(path)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("8192", "holds text"),
        (float("inf"), "not inf"),
        (float("nan"), "not nan"),
        (2.5, "not 2.5"),
    ],
)
def test_context_length_of_the_wrong_kind(value: object, words: str, tmp_path: Path, capsys) -> None:
    path = small_gguf(tmp_path / "m.gguf", **{"llama.context_length": value})
    with pytest.raises(errors.CorruptModelFileError, match=words):
        inspect_model(path)
    assert main(["diagnose", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


# --- signals: no worker outlives the app, no temporary folder is left -----------------------------------

_PARENT = """
import sys, time
from core.children import install_signal_cleanup, make_temp_dir, start_child
install_signal_cleanup()
child = start_child([sys.executable, "-c", "from core.children import watch_parent; watch_parent(); "
                     "import time; time.sleep(120)"])
tmp = make_temp_dir("qd-test-")
print(child.pid, tmp, flush=True)
try:
    time.sleep(120)
finally:
    pass
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGKILL"])
def test_worker_dies_with_its_parent(sig: str) -> None:
    import signal

    import psutil

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True, env=env)
    assert parent.stdout is not None
    pid_text, tmp = parent.stdout.readline().split()
    child_pid = int(pid_text)
    assert psutil.pid_exists(child_pid) and Path(tmp).is_dir()
    time.sleep(0.5)  # the child arms its watch
    parent.send_signal(getattr(signal, sig))
    parent.wait(timeout=30)

    def gone() -> bool:
        try:
            return psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    deadline = time.monotonic() + 10
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(), "the worker outlived its parent"
    if sig != "SIGKILL":  # SIGKILL runs no code in the parent: only the worker's own watch helps
        assert not Path(tmp).exists(), "the temporary folder was left behind"
        assert parent.returncode == 128 + getattr(signal, sig)
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


# --- the Hugging Face cache layout: snapshot files are links into ../../blobs ---------------------------


def _hf_cache_folder(tmp_path: Path) -> Path:
    """A sharded model laid out exactly as huggingface_hub's cache lays it out."""
    import hashlib

    from foldermaker import make_folder

    (tmp_path / "src").mkdir()
    src = make_folder(tmp_path / "src", "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128})
    repo = tmp_path / "hub" / "models--org--Model-GPTQ"
    snap = repo / "snapshots" / ("c" * 40)
    blobs = repo / "blobs"
    snap.mkdir(parents=True)
    blobs.mkdir()
    (src / "model.safetensors").rename(src / "model-00001-of-00001.safetensors")
    (src / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"model.embed_tokens.weight": "model-00001-of-00001.safetensors"}})
    )
    for f in src.iterdir():
        blob = blobs / hashlib.sha256(f.name.encode()).hexdigest()
        f.rename(blob)
        (snap / f.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    return snap


def test_hf_cache_snapshot_with_shards_is_read(tmp_path: Path) -> None:
    from foldermaker import EXPECTED_PARAMS

    snap = _hf_cache_folder(tmp_path)
    assert inspect_model(snap).parameters == EXPECTED_PARAMS


def test_hf_cache_link_leaving_the_repository_is_refused(tmp_path: Path) -> None:
    from foldermaker import write_safetensors

    snap = _hf_cache_folder(tmp_path)
    other = tmp_path / "hub" / "models--someone--Else" / "blobs"
    other.mkdir(parents=True)
    secret = write_safetensors(other / "secret", {"x": ("F16", (4,))})
    shard = snap / "model-00001-of-00001.safetensors"
    shard.unlink()
    shard.symlink_to(secret)
    with pytest.raises(errors.ModelFolderError, match="outside the model folder"):
        inspect_model(snap)


# --- reports: file text is text in every output ---------------------------------------------------------


def test_markdown_report_escapes_file_text(tmp_path: Path, capsys) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>[click](javascript:alert(1))![i](http://x/y.png)`x"
    model = small_gguf(tmp_path / "m.gguf", **{"general.name": evil, "general.finetune": evil})
    out = tmp_path / "r.md"
    assert main(["diagnose", str(model), "--report", str(out), "--expect", evil]) in (0, 1)
    md = out.read_text()
    assert "alert" in md  # the text is there, as text
    for bad in ("<script", "<img", "](javascript", "](http", "![i]"):
        assert bad not in md, bad
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setMarkdown(md)
    assert "<script>alert(1)</script>" in doc.toPlainText()  # rendered, it reads exactly as the file says


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", "--reference", "x.gguf", "--max-chunks", "-3"],
        ["compare", "--reference", "x.gguf", "--chunk", "0"],
        ["compare", "--reference", "x.gguf", "--samples", "1000000000"],
        ["hub", "alternatives", "x.gguf", "--limit", "-1"],
    ],
)
def test_impossible_counts_are_usage_errors(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "not between" in err and "Traceback" not in err


# --- the reference-logit cache: a damaged entry is removed, recomputed, and said ----------------------


def _cache_entry(path: Path, n: int = 20, k: int = 64, m: int = 64, **drop: bool) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {
        "tokens": np.arange(n + 1, dtype=np.int32), "topk_ids": rng.integers(0, 100, (n, k), dtype=np.int32),
        "topk_logp": -rng.random((n, k), dtype=np.float32), "rest_mass": rng.random(n), "nll": rng.random(n),
        "argmax": np.zeros(n, dtype=np.int32), "tail_ids": rng.integers(0, 100, (n, m), dtype=np.int32),
        "tail_logp": -rng.random((n, m), dtype=np.float32),
    }  # fmt: skip
    for name in drop:
        arrays.pop(name)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


@pytest.mark.parametrize("damage", ["truncated", "flipped", "missing", "shape"])
def test_damaged_reference_cache_entry(damage: str, tmp_path: Path, monkeypatch) -> None:
    from core.evaluation import refcache
    from core.paths import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    key = refcache.CacheKey("m", refcache.text_sha256("t"), {}, 512, 0, 64, 64)
    path = refcache.path_for(key)
    _cache_entry(path)
    assert refcache.lookup_checked(key) == (path, None)  # a whole entry is used
    if damage == "missing":
        _cache_entry(path, tail_logp=True)
    elif damage == "shape":
        _cache_entry(path, k=32)
    else:
        data = bytearray(path.read_bytes())
        if damage == "truncated":
            data = data[: len(data) // 2]
        else:
            data[len(data) // 3] ^= 0xFF  # inside an array's bytes: only the zip CRC notices
        path.write_bytes(bytes(data))
    hit, note = refcache.lookup_checked(key)
    assert hit is None and not path.exists()
    assert note and "damaged" in note and "computed again" in note


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_report_to_a_fifo_is_refused_not_blocked(tmp_path: Path, capsys) -> None:
    model = small_gguf(tmp_path / "m.gguf")
    fifo = tmp_path / "r.md"
    os.mkfifo(fifo)
    run = run_cli("diagnose", str(model), "--report", str(fifo), timeout=60)
    assert run.returncode == 2 and "named pipe" in run.stderr, run.stderr
    assert main(["diagnose", str(model), "--report", str(tmp_path / "no" / "such" / "r.md")]) == 2
    assert "could not be written" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_watched_worker_exits_cleanly() -> None:
    """The parent watch must not abort the worker's own normal exit (a daemon thread in a buffered
    stdin reader made the interpreter abort at shutdown: exit -6)."""
    from core.children import start_child

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "from core.children import watch_parent; watch_parent(); import time; time.sleep(0.3); print('done')"
    proc = start_child([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read() if proc.stdout else ""
    assert proc.wait(timeout=30) == 0 and out.strip() == "done"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_engine_log_fifo_and_manifest_fifo(tmp_path: Path) -> None:
    from core.engines.logs import read_log
    from core.engines.ollama import ollama_blob

    fifo = tmp_path / "server.log"
    os.mkfifo(fifo)
    with pytest.raises(errors.EngineLogError, match="named pipe"):
        read_log(fifo)
    manifests = tmp_path / "models" / "manifests" / "registry.ollama.ai" / "library" / "m"
    manifests.mkdir(parents=True)
    os.mkfifo(manifests / "latest")
    assert ollama_blob("m:latest", {"OLLAMA_MODELS": str(tmp_path / "models")}, "", home=tmp_path) is None


def test_loopback_answer_that_is_not_json_is_none() -> None:
    from core.engines.loopback import Answer

    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a": NaN}', b"<html>", b'{"n": ' + b"9" * 5000 + b"}"):
        assert Answer("/x", 200, body).json() is None


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities here")
def test_the_llama_cpp_child_yields_the_cpu_to_the_window(tmp_path: Path) -> None:
    """The evaluation child lowers its own priority first thing, so that llama.cpp's threads on every
    core cannot keep the window waiting (bench_ui_stall.py, the full demo comparison)."""
    from core.children import BACKGROUND_NICENESS, start_child

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = (
        "import os, sys, core.evaluation.llama_child as c\n"
        "c.watch_parent = lambda: (print(os.getpriority(os.PRIO_PROCESS, 0)), sys.exit(0))\n"
        "c.main(['unused'])\n"
    )
    proc = start_child([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read() if proc.stdout else ""
    assert proc.wait(timeout=60) == 0
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert int(out.strip()) == min(19, mine + BACKGROUND_NICENESS)
