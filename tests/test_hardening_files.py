"""Hostile files, folders and settings, third pass (issue 24): each class through the real entry point
(the CLI in a child process, the session, the comparison's worker), answered with a plain exit 2 and a
typed error, never a traceback, a hang, a signal or a half-written file; the person's file unchanged.

The classes: a read error after a successful open (EIO/EINVAL: /proc/self/mem, /sys files, also as the
model a log names); compare inputs (`--text`, `--prompts`, `--reference`); EXL2/GPTQ/AWQ folders (link
loops, a NUL in the shard map, a sub-1 bit width, no search permission, metadata files that link outside
the folder); the vocabulary read of a file that shrinks; FIFOs as `--prompt-file` / `--modelfile`; a
GGUF header declaring millions of entries; a full disk under the reference cache; impossible settings.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from foldermaker import CARD, make_folder
from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf

from core import errors
from core.model.inspection import inspect_model

ROOT = Path(__file__).resolve().parent.parent
LINUX = sys.platform.startswith("linux")
linux_only = pytest.mark.skipif(not LINUX, reason="/proc and /sys are Linux's")
posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs or permissions here")


def run_cli(*args: str, timeout: float = 90, without_dac: bool = False, env: dict[str, str] | None = None,
            fsize: int | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """`quantdoctor-cli ARGS` in a child. `without_dac`: the child loses the capabilities that let root
    read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a file's permissions hold even when the
    tests run as root; `fsize`: RLIMIT_FSIZE, so a write past it fails with EFBIG as on a full disk."""

    def limit() -> None:
        if without_dac and os.geteuid() == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            for cap in (1, 2):  # PR_CAPBSET_DROP (24): dropped from the bounding set, gone after exec
                if libc.prctl(24, cap, 0, 0, 0) != 0:
                    raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=timeout, env=full_env,
        preexec_fn=limit if (without_dac or fsize is not None) else None,
    )  # fmt: skip


def plain_exit_2(r: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, a message and a fix, no traceback; returns stderr for more checks."""
    assert r.returncode == 2, (r.returncode, r.stdout[-800:], r.stderr[-1500:])
    assert "Traceback" not in r.stderr and "Error: " in r.stderr and "Fix: " in r.stderr, r.stderr[-1500:]
    for w in words:
        assert w in r.stderr, (w, r.stderr[-1500:])
    return r.stderr


def small_gguf(path: Path) -> Path:
    return write_gguf(path, metadata=llama_metadata(2, 256, 512, 4, 2),
                      tensors=llama_tensors(2, 256, 512, 4, 2, 1024, Q.Q4_0, Q.Q8_0, Q.Q8_0))  # fmt: skip


# --- a read error after a successful open ---------------------------------------------------------------


def _sysfs_read_error() -> Path | None:
    """A /sys attribute that opens, says it is a 4 KiB regular file, and fails to read (EIO): runtime power
    management's autosuspend delay of a device that does not use it, present on every Linux with CONFIG_PM."""
    for p in [Path("/sys/devices/system/cpu/power/autosuspend_delay_ms"),
              *sorted(Path("/sys/devices/system").glob("*/power/autosuspend_delay_ms"))]:  # fmt: skip
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            os.pread(fd, 16, 0)
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EINVAL):
                return p
        finally:
            os.close(fd)
    return None


@pytest.fixture
def unreadable(tmp_path: Path) -> dict[str, Path]:
    """Links to files that open but cannot be read: /proc/self/mem (EIO at offset 0, size 0) and, where
    the kernel has one, a /sys attribute (EIO, size 4096; else the /proc link stands in)."""
    mem = tmp_path / "notes.txt"
    mem.symlink_to("/proc/self/mem")
    sysfs = tmp_path / "model.gguf"
    sysfs.symlink_to(_sysfs_read_error() or "/proc/self/mem")
    return {"mem": mem, "sysfs": sysfs}


@linux_only
@pytest.mark.parametrize(
    "argv",
    [
        ["compare", "--reference", "{model}", "--candidate", "{model}", "--text", "mine={mem}"],
        ["compare", "--reference", "{model}", "--candidate", "{model}", "--prompts", "{mem}"],
        ["diagnose", "{model}", "--prompt-file", "{mem}"],
        ["diagnose", "{model}", "--modelfile", "{mem}"],
        ["diagnose", "{model}", "--hardware", "{mem}"],
        ["fit", "{model}", "--hardware", "{mem}"],
        ["diagnose", "{sysfs}"],
        ["inspect", "{sysfs}"],
    ],
    ids=["compare-text", "compare-prompts", "prompt-file", "modelfile", "diagnose-hardware", "fit-hardware",
         "diagnose-model", "inspect-model"],
)
def test_a_read_error_after_opening_is_a_plain_error(argv: list[str], unreadable, tmp_path: Path) -> None:
    model = small_gguf(tmp_path / "ok.gguf")
    args = [a.format(model=model, **unreadable) for a in argv]
    err = plain_exit_2(run_cli(*args))
    assert "could not be read" in err or "is empty" in err, err


@linux_only
def test_a_log_naming_an_unreadable_file_as_its_model(unreadable, tmp_path: Path) -> None:
    """llama-server's own log names the model; a log naming a /sys file gets a plain error."""
    sample = (ROOT / "tests/fixtures/engines/llamacpp-logs/llama-server.sample.log").read_text()
    log = tmp_path / "server.log"
    log.write_text(sample.replace("/home/alex/models/Llama-3.2-3B-Instruct-Q4_K_M.gguf", str(unreadable["sysfs"])))
    err = plain_exit_2(run_cli("diagnose", "--from-log", str(log)))
    assert "could not be read" in err or "is empty" in err, err


def test_every_read_error_is_typed_in_the_files_door(tmp_path: Path, monkeypatch) -> None:
    """Whatever errno a read raises after the open, the door turns it into the caller's error class."""
    import core.files

    f = tmp_path / "a.json"
    f.write_text("{}")

    for code in (errno.EIO, errno.EINVAL, errno.EISDIR, errno.ESTALE, errno.EAGAIN):

        def failing(fd: int, n: int, offset: int, code: int = code) -> bytes:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(core.files, "read_at", failing)
        with pytest.raises(errors.SetupError, match="could not be read"):
            core.files.read_limited(f, 100, "a settings file", errors.SetupError)
        with pytest.raises(errors.ModelFileError, match="could not be read"), core.files.open_regular(f) as fd:
            core.files.pread_exact(fd, 2, 0, f, errors.ModelFileError)


# --- compare inputs ---------------------------------------------------------------------------------------


def test_nested_prompts_json_is_a_plain_error(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.json"
    prompts.write_text("[" * 100_000 + "]" * 100_000)
    model = small_gguf(tmp_path / "m.gguf")
    plain_exit_2(run_cli("compare", "--reference", str(model), "--candidate", str(model), "--prompts", str(prompts)),
                 "nested")  # fmt: skip


@pytest.mark.parametrize("option", ["--text", "--prompts", "--reference", "--candidate"])
def test_unknown_user_in_a_compare_path(option: str, tmp_path: Path) -> None:
    model = small_gguf(tmp_path / "m.gguf")
    args = {"--reference": str(model), "--candidate": str(model)}
    args[option] = "~nosuchuser-qd/x.gguf"
    argv = ["compare", *[x for kv in args.items() for x in kv], "--max-chunks", "1", "--samples", "0"]
    plain_exit_2(run_cli(*argv), "no user or home folder")


@pytest.mark.parametrize("mode", [[], ["--file-or-settings"]], ids=["compare", "file-or-settings"])
def test_a_link_loop_as_the_reference(mode: list[str], tmp_path: Path) -> None:
    model = small_gguf(tmp_path / "m.gguf")
    (tmp_path / "a.gguf").symlink_to("b.gguf")
    (tmp_path / "b.gguf").symlink_to("a.gguf")
    plain_exit_2(run_cli("compare", *mode, "--reference", str(tmp_path / "a.gguf"), "--candidate", str(model)),
                 "link")  # fmt: skip


@posix_only
def test_an_unreadable_text_is_a_plain_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("words " * 100)
    text.chmod(0)
    model = small_gguf(tmp_path / "m.gguf")
    try:
        r = run_cli("compare", "--reference", str(model), "--candidate", str(model), "--text", f"mine={text}",
                    without_dac=True)  # fmt: skip
    finally:
        text.chmod(0o600)
    plain_exit_2(r, "may not read")


@posix_only
def test_compare_text_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "notes.txt"
    os.mkfifo(fifo)
    model = small_gguf(tmp_path / "m.gguf")
    t0 = time.monotonic()
    plain_exit_2(run_cli("compare", "--reference", str(model), "--candidate", str(model), "--text", f"mine={fifo}",
                         timeout=30), "named pipe")  # fmt: skip
    assert time.monotonic() - t0 < 30


# --- folders ------------------------------------------------------------------------------------------------


def _gptq(tmp_path: Path, **qc: object) -> Path:
    return make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128, **qc}, card=CARD)


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def test_a_link_loop_between_weight_files(tmp_path: Path) -> None:
    folder = _gptq(tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "a.safetensors").symlink_to("b.safetensors")
    (folder / "b.safetensors").symlink_to("a.safetensors")
    before = _tree(folder)
    plain_exit_2(run_cli("inspect", str(folder)), "loop")
    assert _tree(folder) == before


def test_a_nul_in_the_shard_map(tmp_path: Path) -> None:
    folder = _gptq(tmp_path)
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"model.embed_tokens.weight": "model\u0000.safetensors"}})
    )
    plain_exit_2(run_cli("inspect", str(folder)), "NUL")


@pytest.mark.parametrize("bits", [5e-324, 0.5, 1e-3])
def test_a_bit_width_below_one(bits: float, tmp_path: Path) -> None:
    folder = _gptq(tmp_path, bits=bits)
    plain_exit_2(run_cli("diagnose", str(folder)), "bit width")


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o300], ids=["no-search", "no-listing"])
def test_a_folder_without_permission(mode: int, tmp_path: Path) -> None:
    folder = _gptq(tmp_path)
    folder.chmod(mode)
    try:
        r = run_cli("inspect", str(folder), without_dac=True)
    finally:
        folder.chmod(0o755)
    plain_exit_2(r, "may not read")


SECRET = "QD-SECRET-7f3a"


class Opens:
    """Every file this process opens while `active` (an audit hook: builtins.open and os.open both report)."""

    active = False
    paths: list[str] = []  # noqa: RUF012

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:  # type: ignore[type-arg]
        if cls.active and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            cls.paths.append(os.fsdecode(args[0]))


sys.addaudithook(Opens.hook)


@pytest.mark.parametrize(
    "name", ["config.json", "README.md", "tokenizer_config.json", "quantize_config.json", "chat_template.jinja"]
)
def test_metadata_files_linking_outside_the_folder_are_not_read(name: str, tmp_path: Path) -> None:
    """Every file of the folder is checked like the weights: a link leading out is refused before it is read
    (an audit hook sees every open), and nothing of the outside file reaches any output."""
    outside = tmp_path / "elsewhere" / name
    outside.parent.mkdir()
    if name == "README.md":
        outside.write_text(f"---\nbase_model: {SECRET}/x\nlicense: {SECRET}\n---\n")
    elif name.endswith(".json"):
        outside.write_text(json.dumps({"model_type": SECRET, "chat_template": SECRET, "quant_method": "gptq",
                                       "bits": 4, "dataset": SECRET, "num_hidden_layers": 2}))  # fmt: skip
    else:
        outside.write_text(SECRET)
    folder = make_folder(tmp_path, "gptq", None if name == "quantize_config.json" else {"quant_method": "gptq", "bits": 4})
    (folder / name).unlink(missing_ok=True)
    (folder / name).symlink_to(outside)

    Opens.paths.clear()
    Opens.active = True
    try:
        with pytest.raises(errors.ModelFolderError, match="outside the model folder"):
            inspect_model(folder)
    finally:
        Opens.active = False
    assert outside.resolve() not in {Path(p).resolve() for p in Opens.paths}
    r = run_cli("inspect", str(folder), "--json")
    plain_exit_2(r, "outside the model folder")
    assert SECRET not in r.stdout + r.stderr.replace(str(outside), "")


def test_a_hugging_face_cache_snapshot_still_reads_its_metadata(tmp_path: Path) -> None:
    """The one place links leading out are right: a cache snapshot's files are links into ../../blobs."""
    repo = tmp_path / "models--org--m"
    snap, blobs = repo / "snapshots" / "abc123", repo / "blobs"
    blobs.mkdir(parents=True)
    made = make_folder(tmp_path, "gptq", {"quant_method": "gptq", "bits": 4, "group_size": 128}, card=CARD)
    snap.mkdir(parents=True)
    for i, f in enumerate(sorted(made.iterdir())):
        blob = blobs / f"blob{i}"
        shutil.move(f, blob)
        (snap / f.name).symlink_to(Path("../../blobs") / blob.name)
    p = inspect_model(snap)
    assert p.format == "gptq" and p.card is not None and p.card.base_model == ["Qwen/Qwen3-8B"] and p.has_chat_template


# --- the vocabulary reader: bounded reads, never a memory map ------------------------------------------------


VOCAB_CHILD = r"""
import os, sys
import core.files
from core.model.gguf_reader import read_gguf_header
from core.model.gguf_tokens import read_vocab_facts
path = sys.argv[1]
info = read_gguf_header(path).arrays["tokenizer.ggml.tokens"]
real, calls = core.files.read_at, []
def shrinking(fd, n, offset):
    data = real(fd, n, offset)
    if not calls:
        os.truncate(path, info.start + 100)   # the file shrinks after the first read, mid-vocabulary
    calls.append(n)
    return data
core.files.read_at = shrinking
texts, markers = read_vocab_facts(path, info, [1, 5000, 9000], ["<|im_start|>", "<|im_end|>"])
print(sorted(texts), markers, len(calls))
"""


def test_a_vocabulary_that_shrinks_while_it_is_read(tmp_path: Path) -> None:
    """A file cut under the reader ends the walk (what is gone is not found); the process lives on. With the
    memory map it had, touching the cut pages was a SIGBUS that killed it. The vocabulary (2.5 MB) is longer
    than one read, so the reader really meets the cut."""
    tokens = ["<unk>", "<s>", *[f"tok{i:05d}" + "x" * 240 for i in range(9990)], "<|im_start|>", "<|im_end|>"]
    path = write_gguf(tmp_path / "v.gguf", metadata=llama_metadata(2, 256, 512, 4, 2),
                      tensors=llama_tensors(2, 256, 512, 4, 2, len(tokens), Q.Q4_0, Q.Q8_0, Q.Q8_0),
                      arrays={"tokenizer.ggml.tokens": tokens})  # fmt: skip
    before = path.stat().st_size
    r = subprocess.run([sys.executable, "-c", VOCAB_CHILD, str(path)], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert r.returncode == 0, (r.returncode, r.stderr[-1500:])  # -7 would be SIGBUS
    assert path.stat().st_size < before  # it really shrank under the reader
    assert r.stdout.startswith("[1] []"), r.stdout  # token 1 was read before the cut; the rest is gone


def test_the_vocabulary_is_read_whole_when_nothing_changes(tmp_path: Path) -> None:
    from core.model.gguf_reader import read_gguf_header
    from core.model.gguf_tokens import read_vocab_facts

    tokens = ["<unk>", "<s>", *[f"tok{i}" for i in range(300_000)], "<|im_start|>", "<|im_end|>"]
    path = write_gguf(tmp_path / "v.gguf", metadata=llama_metadata(2, 256, 512, 4, 2),
                      tensors=llama_tensors(2, 256, 512, 4, 2, len(tokens), Q.Q4_0, Q.Q8_0, Q.Q8_0),
                      arrays={"tokenizer.ggml.tokens": tokens})  # fmt: skip
    info = read_gguf_header(path).arrays["tokenizer.ggml.tokens"]
    texts, markers = read_vocab_facts(path, info, [1, 250_000, len(tokens) - 1], ["<|im_end|>", "<start_of_turn>"])
    assert texts == {1: "<s>", 250_000: "tok249998", len(tokens) - 1: "<|im_end|>"}
    assert markers == ["<|im_end|>"]  # found across the 1 MiB read windows; the absent one not


# --- FIFOs as --prompt-file and --modelfile ------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize("option", ["--prompt-file", "--modelfile"])
def test_a_fifo_as_prompt_file_or_modelfile_is_refused(option: str, tmp_path: Path) -> None:
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    model = small_gguf(tmp_path / "m.gguf")
    t0 = time.monotonic()
    plain_exit_2(run_cli("diagnose", str(model), option, str(fifo), timeout=30), "named pipe")
    assert time.monotonic() - t0 < 30


# --- a GGUF header declaring millions of entries ---------------------------------------------------------------


def _gguf_with_entries(path: Path, n_kv: int, real: int, size: int = 0) -> Path:
    """A v3 GGUF header declaring `n_kv` metadata entries, `real` of them written (u8 values)."""
    body = b"".join(struct.pack("<Q", 6) + f"k{i:05d}".encode() + struct.pack("<IB", 0, 1) for i in range(real))
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, n_kv) + body)
    if size:
        os.truncate(path, size)
    return path


def test_twelve_million_declared_entries_are_refused_at_once(tmp_path: Path) -> None:
    """12M entries once took 1.95 GB and 55 s; now the count is refused before one entry is read."""
    from core.model.gguf_reader import MAX_METADATA_ENTRIES, read_gguf_header

    path = _gguf_with_entries(tmp_path / "many.gguf", 12_000_000, 10, size=12_000_000 * 16)  # sparse, room for all
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(errors.CorruptModelFileError, match="12,000,000 metadata entries"):
        read_gguf_header(path)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 0.5 and peak < 10 * 1024 * 1024, (seconds, peak)
    plain_exit_2(run_cli("inspect", str(path)), "metadata entries")
    # the cap is where it says: one entry more than it is refused, a header right at it is read
    over = _gguf_with_entries(tmp_path / "over.gguf", MAX_METADATA_ENTRIES + 1, MAX_METADATA_ENTRIES + 1)
    with pytest.raises(errors.CorruptModelFileError, match="metadata entries"):
        read_gguf_header(over)
    at = read_gguf_header(_gguf_with_entries(tmp_path / "at.gguf", MAX_METADATA_ENTRIES, MAX_METADATA_ENTRIES))
    assert len(at.metadata) == MAX_METADATA_ENTRIES


def test_a_million_declared_tensors_are_refused_at_once(tmp_path: Path) -> None:
    from core.model.gguf_reader import MAX_TENSORS, read_gguf_header

    path = tmp_path / "tensors.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1_000_000, 0))
    os.truncate(path, 1_000_000 * 40)
    with pytest.raises(errors.CorruptModelFileError, match=f"up to {MAX_TENSORS:,}"):
        read_gguf_header(path)


# --- a full disk under the reference cache ----------------------------------------------------------------------


@linux_only  # /dev/full
def test_a_cache_write_that_finds_no_room_leaves_nothing(tmp_path: Path) -> None:
    """ENOSPC for real: the worker's temporary name is a link to /dev/full. The write fails, the temporary
    name is removed, nothing appears under the real name, and the parent's error says the disk is full."""
    import numpy as np

    from core.evaluation.child_client import fatal_error
    from core.evaluation.llama_child import savez_whole

    final = tmp_path / "entry.npz"
    tmp = Path(f"{final}.{os.getpid()}.part.npz")
    tmp.symlink_to("/dev/full")
    with pytest.raises(OSError) as info:
        savez_whole(str(final), tokens=np.arange(100_000))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(final)
    assert not os.path.lexists(tmp) and not final.exists()
    err = fatal_error({"kind": "disk_full", "errno": errno.ENOSPC, "path": str(final), "message": "x"}, "the ref")
    assert isinstance(err, errors.OutOfSpaceError)
    assert "is full" in err.message and str(tmp_path) in err.message and "memory" not in err.message + err.fix


@posix_only
def test_a_comparison_whose_cache_write_fails_says_so_and_leaves_no_part_file(demo, tmp_path: Path) -> None:
    """The real comparison, its worker writing the reference cache past RLIMIT_FSIZE (EFBIG, what a full disk
    or quota does to a write): exit 2, "no room" words, no `.part.npz` left, not "free memory"."""
    cache = tmp_path / "cache"
    text = tmp_path / "mine.txt"
    text.write_text(" ".join(f"The river {i} runs past the old mill and the bridge." for i in range(60)))
    r = run_cli("compare", "--reference", str(demo.reference), "--candidate", str(demo.candidates["Q4_0"]),
                "--text", f"mine={text}", "--chunk", "64", "--max-chunks", "2", "--samples", "0", "--quiet",
                "--full", env={"QUANTDOCTOR_CACHE_DIR": str(cache)}, fsize=16 * 1024, timeout=300)  # fmt: skip
    err = plain_exit_2(r, "Nothing more could be written")
    assert "free memory" not in err and "Close other programs" not in err
    left = [p for p in cache.rglob("*") if p.name.endswith(".part.npz") or p.suffix == ".tmp"]
    assert not left, left


# --- impossible settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--ctx", str(10**21)), ("-b", str(10**12)), ("-ub", str(2**40)), ("-ngl", str(10**21)), ("-t", "100000"),
     ("--ctx", "9" * 5000)],
)  # fmt: skip
def test_impossible_settings_are_refused_at_the_door(flag: str, value: str, tmp_path: Path, capsys) -> None:
    from core.cli.main import main

    model = small_gguf(tmp_path / "m.gguf")
    with pytest.raises(SystemExit) as info:
        main(["fit", str(model), flag, value])
    err = capsys.readouterr().err
    assert info.value.code == 2 and ("not possible" in err or "not a whole number" in err), err
    assert "GiB" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    "changes", [{"n_ctx": 10**21}, {"n_batch": 1 << 40}, {"n_ubatch": 1 << 40}, {"n_gpu_layers": 1 << 40},
                {"n_threads": 10**6}],
)  # fmt: skip
def test_impossible_settings_are_refused_by_the_session(changes: dict[str, int], tmp_path: Path) -> None:
    """The window and imported settings reach the session through Setup/RunSettings, which refuse them."""
    from core.app.session import Session
    from core.settings.setup import Setup

    session = Session()
    session.load_model(str(small_gguf(tmp_path / "m.gguf")))
    with pytest.raises(errors.SetupError, match="not possible"):
        session.set_setup(Setup.of(**changes))


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e400", "101"])
def test_impossible_sampling_numbers_are_usage_errors(value: str, tmp_path: Path, capsys) -> None:
    from core.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["diagnose", str(tmp_path / "m.gguf"), "--temperature", value])
    assert info.value.code == 2 and "not a number" in capsys.readouterr().err


# --- a file the reader is told about while another thread replaces it ------------------------------------------------


@posix_only
def test_reading_a_prompt_file_never_blocks_a_thread(tmp_path: Path) -> None:
    """The door opens non-blocking: a FIFO that appears where a prompt file was is refused within a second."""
    from core.files import read_head

    fifo = tmp_path / "p.txt"
    os.mkfifo(fifo)
    box: list[BaseException] = []
    t = threading.Thread(target=lambda: box.append(_catch(lambda: read_head(fifo, 100, "a prompt file"))))
    t.start()
    t.join(5)
    assert not t.is_alive() and isinstance(box[0], errors.QuantDoctorError)


def _catch(fn) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        fn()
    except BaseException as exc:
        return exc
    return AssertionError("no error")
