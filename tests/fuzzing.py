"""Mutational fuzzing of model headers and configs through the whole pipeline (issue 12).

Bases are real headers: the demo model's (when it is cached on this machine) and llama / MoE
headers made by tests/ggufmaker.py, plus GPTQ / EXL2 folders from tests/foldermaker.py. Each case
mutates one base — its structure (bytes flipped, counts and lengths overwritten with edge values,
cuts) or its value types (inf, NaN, negative and huge numbers, text where a number belongs, arrays
where a scalar belongs) — and a child process, under `resource.setrlimit` (address space, CPU time)
and a per-case alarm, runs inspect, the memory estimate (as `fit` does) and diagnose on it. Each case
must end in a result or a Quant Doctor error: a traceback, a hang, a memory error or a dead child is
a finding.

Used by tests/test_fuzz.py (a seeded, bounded run) and tests/bench/bench_fuzz.py (a longer one).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 1536 * 1024 * 1024  # address space of the child: Python + numpy + llama.cpp's libraries mapped
CASE_SECONDS = 5.0  # a header problem must be answered well within this
CPU_SECONDS = 600

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", U64: "<Q",
        I64: "<q", F64: "<d"}  # fmt: skip
EDGE_U64 = [0, 1, 2, 3, 255, 1 << 16, (1 << 31) - 1, 1 << 31, 1 << 32, (1 << 32) + 1, 1 << 40, (1 << 63) - 1,
            1 << 63, (1 << 64) - 1]  # fmt: skip
HUGE_SHAPE = [3_000_000_000, 1_000_000, 1 << 40, (1 << 63) - 1]
HUGE_VALUES = {f"u64 {v}" for v in HUGE_SHAPE if v >= 3_000_000_000} | {"u32 3e9"}  # what no real model has

# Keys whose value sets the model's shape; huge values there drive the memory estimate's work. The shape
# validation (issue 12, item 1) refuses them, so every run includes them: `fuzz()` never narrows its
# mutations by itself, and a product that stops refusing a 3-billion-layer header is a finding
# (`Report.refuses_huge_shape`, asserted by tests/test_fuzz.py), not a quietly smaller run. The
# `allow_huge_shape=False` paths below remain only for a person who asks for the narrower run by hand.
SHAPE_KEYS = ("block_count", "context_length", "embedding_length", "feed_forward_length", "attention.head_count",
              "attention.head_count_kv", "expert_count", "expert_used_count", "attention.key_length",
              "attention.value_length", "vocab_size", "expert_shared_count")  # fmt: skip


# --- a minimal GGUF codec (the fuzzer must write what the gguf package refuses to) ----------------------


@dataclass
class Gguf:
    kvs: list[tuple[str, int, Any]]  # (key, type, value); arrays: (item_type, [items])
    tensors: list[tuple[str, list[int], int, int]]  # (name, ggml dims, type, offset)
    alignment: int = 32
    data_size: int = 0
    version: int = 3


def _s(b: bytes) -> bytes:
    return struct.pack("<Q", len(b)) + b


def _value(vtype: int, value: Any) -> bytes:
    if vtype == STR:
        return _s(value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass"))
    if vtype == ARR:
        itype, items = value
        body = b"".join(_value(itype, v) for v in items)
        return struct.pack("<IQ", itype, len(items)) + body
    return struct.pack(_FMT[vtype], value)


def encode(g: Gguf) -> bytes:
    out = [b"GGUF", struct.pack("<IQQ", g.version, len(g.tensors), len(g.kvs))]
    for key, vtype, value in g.kvs:
        out.append(_s(key.encode("utf-8", "surrogatepass")) + struct.pack("<I", vtype) + _value(vtype, value))
    for name, dims, ttype, offset in g.tensors:
        out.append(_s(name.encode()) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<q", d) for d in dims))
        out.append(struct.pack("<IQ", ttype, offset))
    head = b"".join(out)
    return head + b"\0" * ((-len(head)) % g.alignment)


def decode(path: Path) -> Gguf:
    """A base file's header as a Gguf (through Quant Doctor's own reader, which keeps value types)."""
    from core.model.gguf_reader import read_gguf_header

    h = read_gguf_header(path)
    kvs: list[tuple[str, int, Any]] = []
    for key, vtype in h.value_types.items():
        if vtype == ARR:
            if key in h.arrays:  # a long array that was skipped: keep its length, fill it with zeros
                info = h.arrays[key]
                itype, n = info.item_type, min(info.count, 300_000)
                kvs.append((key, ARR, (itype, [b"" if itype == STR else 0] * n)))
            else:
                items = h.metadata[key]
                itype = (
                    STR
                    if items and isinstance(items[0], str)
                    else (F32 if items and isinstance(items[0], float) else I32)
                )
                kvs.append((key, ARR, (itype, items)))
        else:
            kvs.append((key, vtype, h.metadata[key]))
    tensors = [(t.name, list(t.shape), t.type_id, t.offset) for t in h.tensors]
    return Gguf(kvs, tensors, h.alignment, h.data_size, h.version)


def write_case(path: Path, g: Gguf | bytes, data_size: int) -> None:
    raw = encode(g) if isinstance(g, Gguf) else g
    with open(path, "wb") as f:
        f.write(raw)
        f.truncate(len(raw) + max(0, data_size))  # a sparse data section: the pipeline never reads it


# --- GGUF mutations --------------------------------------------------------------------------------------


def _numeric_keys(g: Gguf) -> list[int]:
    return [i for i, (_, t, _) in enumerate(g.kvs) if t in _FMT]


def _is_shape_key(key: str) -> bool:
    return any(key.endswith("." + k) for k in SHAPE_KEYS)


def mutate_values(g: Gguf, rng: random.Random, allow_huge_shape: bool) -> tuple[Gguf, str]:
    """One value-type mutation of a copy of `g`: inf, NaN, negative, huge, text, bool, arrays."""
    kvs = list(g.kvs)
    tensors = [list(t) for t in g.tensors]
    i = rng.randrange(len(kvs))
    key = kvs[i][0]
    choices: list[tuple[str, int, Any]] = [
        ("f32 inf", F32, math.inf), ("f32 -inf", F32, -math.inf), ("f32 nan", F32, math.nan),
        ("f64 1e308", F64, 1e308), ("f32 2.5", F32, 2.5), ("f32 4.0", F32, 4.0), ("i32 -1", I32, -1), ("i64 min", I64, -(1 << 63)),
        ("u32 0", U32, 0), ("text number", STR, "8192"), ("text junk", STR, "\x1b]52;c;AAAA\x07<img src=x>"),
        ("bool", BOOL, True), ("u8 255", U8, 255), ("empty array", ARR, (U32, [])),
        ("array of text", ARR, (STR, ["a", "b"])), ("array of -1", ARR, (I32, [-1] * 3)),
        ("array f32 nan", ARR, (F32, [math.nan, 1.0])), ("invalid utf-8", STR, b"\xff\xfe\xc3("),
    ]  # fmt: skip
    if allow_huge_shape or not _is_shape_key(key):
        choices += [(f"u64 {v}", U64, v) for v in HUGE_SHAPE] + [("u32 3e9", U32, 3_000_000_000)]
    else:  # until the shape validation is in: only mutations the reader's type checks answer
        choices = [c for c in choices if c[1] not in (U8, U32, U64) and c[0] != "empty array"]
    what, new_type, new_value = rng.choice(choices)
    op = rng.random()
    if op < 0.75:
        kvs[i] = (key, new_type, new_value)
        return Gguf(kvs, [tuple(t) for t in tensors], g.alignment, g.data_size, g.version), f"{key} := {what}"  # type: ignore[misc]
    if op < 0.85 and tensors:  # a tensor dimension or type
        t = rng.randrange(len(tensors))
        name, dims, ttype, offset = tensors[t]
        if rng.random() < 0.5 and dims:
            d = rng.randrange(len(dims))
            dims = list(dims)
            dims[d] = rng.choice([-1, 0, 1 << 40, (1 << 63) - 1, 3, 7])
            tensors[t] = [name, dims, ttype, offset]
            return Gguf(
                kvs, [tuple(x) for x in tensors], g.alignment, g.data_size, g.version
            ), f"{name} dim{d} := {dims[d]}"  # type: ignore[misc]
        tensors[t] = [name, dims, rng.choice([99, 0xFFFF, 41, 42, 4, 5]), offset]
        return Gguf(kvs, [tuple(x) for x in tensors], g.alignment, g.data_size, g.version), f"{name} type changed"  # type: ignore[misc]
    if op < 0.92 or not allow_huge_shape:  # a key twice, or a key removed
        if rng.random() < 0.5:
            kvs.append(kvs[i])
            return Gguf(kvs, g.tensors, g.alignment, g.data_size, g.version), f"{key} twice"
        if allow_huge_shape or not _is_shape_key(key):
            del kvs[i]
            return Gguf(kvs, g.tensors, g.alignment, g.data_size, g.version), f"{key} removed"
        kvs.append(kvs[i])
        return Gguf(kvs, g.tensors, g.alignment, g.data_size, g.version), f"{key} twice"
    # tensors removed (a model with no layer tensors, or missing output)
    keep = [t for t in g.tensors if rng.random() < 0.5]
    offset, fixed = 0, []
    for name, dims, ttype, _ in keep:
        fixed.append((name, dims, ttype, offset))
        offset += 4096
    return Gguf(kvs, fixed, g.alignment, g.data_size, g.version), f"{len(g.tensors) - len(keep)} tensors removed"


def mutate_bytes(raw: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One structural mutation of an encoded header."""
    data = bytearray(raw)
    op = rng.randrange(5)
    if op == 0:
        n = rng.randint(1, 8)
        for _ in range(n):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data), f"{n} bytes flipped"
    if op == 1:  # an edge value over an 8-byte field (a count, a length, an offset)
        at = rng.randrange(0, max(1, len(data) - 8))
        value = rng.choice(EDGE_U64)
        data[at : at + 8] = struct.pack("<Q", value)
        return bytes(data), f"u64 {value} at {at}"
    if op == 2:
        at = rng.randrange(0, max(1, len(data) - 4))
        value = rng.choice([0, 1, 9, 12, 13, 0xFFFFFFFF, 5, 2])
        data[at : at + 4] = struct.pack("<I", value)
        return bytes(data), f"u32 {value} at {at}"
    if op == 3:
        cut = rng.randrange(len(data))
        return bytes(data[:cut]), f"cut at {cut}"
    at = rng.randrange(len(data))
    n = rng.randint(1, 16)
    if rng.random() < 0.5:
        del data[at : at + n]
        return bytes(data), f"{n} bytes removed at {at}"
    data[at:at] = bytes(rng.randrange(256) for _ in range(n))
    return bytes(data), f"{n} bytes inserted at {at}"


# --- folder (GPTQ / EXL2 / safetensors) mutations -----------------------------------------------------------

JSON_VALUES: list[tuple[str, str]] = [
    ("NaN", "NaN"), ("Infinity", "Infinity"), ("1e999", "1e999"), ("-1", "-1"), ("huge int", "9" * 400),
    ("text", '"4"'), ("list", "[1, 2]"), ("object", '{"a": 1}'), ("null", "null"), ("true", "true"),
    ("deep", "[" * 5000 + "]" * 5000), ("float", "2.5"), ("zero", "0"), ("3e9", "3000000000"),
]  # fmt: skip


FOLDER_SHAPE_KEYS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads",
                     "intermediate_size", "num_local_experts", "num_experts", "num_experts_per_tok",
                     "max_position_embeddings", "vocab_size", "head_dim", "n_layer", "n_embd", "n_head",
                     "n_routed_experts", "n_shared_experts", "sliding_window", "shape")  # fmt: skip


def _json_replace(text: str, rng: random.Random, allow_huge_shape: bool) -> tuple[str, str]:
    """Replace one value of a JSON text (found by its key) with an edge value, textually."""
    obj = json.loads(text)
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append([*path, k])
                walk(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node[:3]):
                paths.append([*path, i])
                walk(v, [*path, i])

    walk(obj, [])
    if not paths:
        return text, "nothing to change"
    target = rng.choice(paths)
    values = JSON_VALUES
    if not allow_huge_shape and any(str(k) in FOLDER_SHAPE_KEYS for k in target):
        # until the shape validation is in: only values the JSON loader or the type checks answer
        values = [v for v in JSON_VALUES if v[0] not in ("huge int", "3e9", "-1", "zero")]
    name, literal = rng.choice(values)
    marker = "\u2603MARK\u2603"
    node = obj
    for k in target[:-1]:
        node = node[k]
    node[target[-1]] = marker
    dumped = json.dumps(obj)
    return dumped.replace(json.dumps(marker), literal, 1), f"{'.'.join(map(str, target))} := {name}"


def mutate_folder(folder: Path, rng: random.Random, allow_huge_shape: bool) -> str:
    op = rng.random()
    if op < 0.35:
        name = rng.choice(["config.json", "tokenizer_config.json"])
        p = folder / name
        new, what = _json_replace(p.read_text(), rng, allow_huge_shape)
        p.write_text(new)
        return f"{name}: {what}"
    st = folder / "model.safetensors"
    raw = st.read_bytes()
    (hlen,) = struct.unpack_from("<Q", raw, 0)
    header, data = raw[8 : 8 + hlen].decode(), raw[8 + hlen :]
    if op < 0.75:
        new, what = _json_replace(header, rng, allow_huge_shape)
        enc = new.encode()
        st.write_bytes(struct.pack("<Q", len(enc)) + enc + data)
        return f"safetensors header: {what}"
    if op < 0.85:
        value = rng.choice(EDGE_U64)
        st.write_bytes(struct.pack("<Q", value) + raw[8:])
        return f"safetensors header length := {value}"
    if op < 0.92:
        cut = rng.randrange(len(raw))
        st.write_bytes(raw[:cut])
        return f"safetensors cut at {cut}"
    buf = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        buf[rng.randrange(8, 8 + hlen)] = rng.randrange(256)
    st.write_bytes(bytes(buf))
    return "safetensors header bytes flipped"


# --- bases ----------------------------------------------------------------------------------------------


def gguf_bases(folder: Path, demo: Path | None = None) -> list[tuple[str, Gguf]]:
    """Real headers to mutate: ggufmaker's llama (dense and MoE), and the demo model's (`demo`, else the
    cached one when there is one; tests/test_fuzz.py passes it, so its bases never depend on a cache)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from ggufmaker import Q, llama_metadata, llama_tensors, write_gguf

    bases: list[tuple[str, Gguf]] = []
    dense = write_gguf(folder / "dense.gguf", metadata=llama_metadata(4, 256, 512, 4, 2),
                       tensors=llama_tensors(4, 256, 512, 4, 2, 1000, Q.Q4_K, Q.Q6_K, Q.Q6_K),
                       arrays={"tokenizer.ggml.tokens": [f"t{i}" for i in range(1000)]})  # fmt: skip
    moe = write_gguf(folder / "moe.gguf", metadata=llama_metadata(2, 256, 512, 4, 2, n_expert=8, n_expert_used=2),
                     tensors=llama_tensors(2, 256, 512, 4, 2, 1000, Q.Q4_K, Q.Q6_K, Q.Q6_K, n_expert=8))  # fmt: skip
    bases += [("llama", decode(dense)), ("moe", decode(moe))]
    from core.paths import cache_dir

    demo = demo or cache_dir() / "demo" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if demo.is_file():
        bases.append(("demo", decode(demo)))
    return bases


def shape_validation_landed(folder: Path) -> bool:
    """Whether a file claiming 3 billion layers is refused when it is read (issue 12, item 1)."""
    from core.errors import QuantDoctorError
    from core.model.inspection import inspect_model

    g = gguf_bases(folder)[0][1]
    kvs = [(k, U32, 3_000_000_000) if k.endswith(".block_count") else (k, t, v) for k, t, v in g.kvs]
    path = folder / "probe.gguf"
    write_case(path, Gguf(kvs, g.tensors, g.alignment, g.data_size), g.data_size)
    try:
        inspect_model(path)
    except QuantDoctorError:
        return True
    return False


# --- making cases and running them in a limited child ------------------------------------------------------


@dataclass
class Case:
    path: str
    what: str
    base: str = ""  # llama, moe, demo (GGUF) or gptq, exl2, awq (folders)

    @property
    def huge_shape(self) -> bool:
        """A shape count set to 3 billion or more, a value no real model has: one the product must refuse."""
        for w in self.what.split("; "):
            if " := " not in w:
                continue
            key, value = w.rsplit(" := ", 1)
            key = key.rsplit(": ", 1)[-1]  # drop "llama: ", "config.json: ", "safetensors header: "
            if self.base in ("gptq", "exl2", "awq"):
                if any(part in FOLDER_SHAPE_KEYS for part in key.split(".")) and value in ("huge int", "3e9"):
                    return True
            elif _is_shape_key(key) and value in HUGE_VALUES:
                return True
        return False


def make_cases(folder: Path, seed: int, n: int, allow_huge_shape: bool = True, demo: Path | None = None) -> list[Case]:
    rng = random.Random(seed)
    bases = gguf_bases(folder, demo)
    sys.path.insert(0, str(ROOT / "tests"))
    from foldermaker import make_folder

    cases: list[Case] = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.7:
            name, base = rng.choice(bases)
            path = folder / f"case{i}.gguf"
            if rng.random() < 0.55:
                g, what = mutate_values(base, rng, allow_huge_shape)
                if rng.random() < 0.3:
                    g, more = mutate_values(g, rng, allow_huge_shape)
                    what += "; " + more
                write_case(path, g, base.data_size)
            else:
                raw, what = mutate_bytes(encode(base), rng)
                write_case(path, raw, base.data_size)
            cases.append(Case(str(path), f"{name}: {what}", name))
        else:
            root = folder / f"case{i}"
            root.mkdir()
            fmt = rng.choice(["gptq", "exl2", "awq"])
            qc = (
                {"quant_method": fmt, "bits": 4, "group_size": 128}
                if fmt != "exl2"
                else {"quant_method": "exl2", "bits": 4.5}
            )
            made = make_folder(root, fmt, qc)
            what = mutate_folder(made, rng, allow_huge_shape)
            cases.append(Case(str(made), f"{fmt} folder: {what}", fmt))
    return cases


CHILD = r"""
import json, os, resource, signal, sys, time, traceback
limit, seconds = int(sys.argv[2]), float(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
resource.setrlimit(resource.RLIMIT_CPU, (int(sys.argv[4]), int(sys.argv[4])))
class Hang(BaseException):
    pass
def alarm(*_):
    raise Hang()
signal.signal(signal.SIGALRM, alarm)
from core.errors import QuantDoctorError
from core.model.inspection import inspect_model
from core.memory.plan import plan_with_advice
from core.memory.shape import model_shape
from core.diagnosis import diagnose
from core.hardware.catalog import catalog_profile
from core.settings.run import RunSettings
from core.settings.setup import Setup
hw = catalog_profile("RTX 4090")
for line in open(sys.argv[1]):
    case = json.loads(line)
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    outcome, detail = "ok", ""
    try:
        profile = inspect_model(case["path"])
        shape = model_shape(profile)
        plan_with_advice(shape, RunSettings(n_ctx=min(shape.n_ctx_train or 4096, 1 << 20)), hw)
        diagnose(profile, Setup.of(), hw)
    except QuantDoctorError as exc:
        outcome, detail = "typed", type(exc).__name__ + ": " + exc.message[:160]
    except Hang:
        outcome, detail = "hang", f"more than {seconds:g} s"
    except MemoryError:
        outcome, detail = "memory", "MemoryError under the address-space limit"
    except BaseException:
        outcome, detail = "traceback", traceback.format_exc()[-1500:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    # VmHWM: this process's own peak (ru_maxrss survives exec and can report the forking parent's size)
    hwm = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:')]
    rss = (hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    print(json.dumps({"path": case["path"], "what": case["what"], "outcome": outcome, "detail": detail,
                      "seconds": round(time.monotonic() - t0, 3), "max_rss": rss}), flush=True)
"""


@dataclass
class Report:
    results: list[dict[str, Any]] = field(default_factory=list)
    child_deaths: list[str] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    refuses_huge_shape: bool = True  # a header claiming 3 billion layers is refused when it is read

    @property
    def counts(self) -> Counter[str]:
        return Counter(r["outcome"] for r in self.results) + Counter({"child died": len(self.child_deaths)})

    @property
    def failures(self) -> list[dict[str, Any]]:
        bad = [r for r in self.results if r["outcome"] not in ("ok", "typed")]
        return bad + [{"outcome": "child died", "what": w, "detail": ""} for w in self.child_deaths]

    @property
    def huge_shapes_accepted(self) -> list[dict[str, Any]]:
        """Cases that set a shape count to 3 billion or more and still ended in a result: each a finding."""
        huge = {c.path for c in self.cases if c.huge_shape}
        return [r for r in self.results if r["path"] in huge and r["outcome"] == "ok"]


def run_cases(
    cases: list[Case], work: Path, timeout: float = 600, child: str = CHILD, extra: list[str] | None = None
) -> Report:
    """Run the pipeline on every case in limited children; a child that dies is restarted after the case."""
    report = Report()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "QUANTDOCTOR_CACHE_DIR": str(work / "qd-cache")}  # fmt: skip
    todo = list(cases)
    while todo:
        listing = work / "cases.jsonl"
        listing.write_text("".join(json.dumps({"path": c.path, "what": c.what}) + "\n" for c in todo))
        proc = subprocess.run(
            [sys.executable, "-c", child, str(listing), str(MEMORY_LIMIT), str(CASE_SECONDS), str(CPU_SECONDS),
             *(extra or [])],
            capture_output=True, text=True, env=env, timeout=timeout,
        )  # fmt: skip
        done = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        report.results += done
        todo = todo[len(done) :]
        if todo and proc.returncode != 0:
            report.child_deaths.append(f"{todo[0].what} (exit {proc.returncode}: {proc.stderr[-300:]})")
            todo = todo[1:]
    return report


def fuzz(seed: int, n: int, keep: Path | None = None, demo: Path | None = None) -> tuple[Report, bool]:
    """Make `n` cases from `seed` and run them, huge shapes always included; returns the report and whether
    the product refused the 3-billion-layer probe (False is a finding: `Report.refuses_huge_shape`)."""
    work = Path(tempfile.mkdtemp(prefix="qd-fuzz-"))
    try:
        landed = shape_validation_landed(work)
        cases = make_cases(work, seed, n, allow_huge_shape=True, demo=demo)
        report = run_cases(cases, work)
        report.cases, report.refuses_huge_shape = cases, landed
        if keep is not None and report.failures:
            keep.mkdir(parents=True, exist_ok=True)
            for f in report.failures:
                src = Path(f.get("path", ""))
                if src.exists():
                    dst = keep / src.name
                    shutil.copytree(src, dst, dirs_exist_ok=True) if src.is_dir() else shutil.copy(src, dst)
        return report, landed
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- folder links (issue 24): every file of a model folder replaced by a hostile link ---------------------------

# What a link in a model folder may lead to: each must end in a result or a typed error, never a read of a
# file outside the folder, a hang on a FIFO, an endless device, or a traceback.
LINK_TARGETS = ("loop", "self", "chain-out", "outside", "dev-zero", "fifo", "proc-mem", "dangling", "folder",
                "absolute-etc", "parent-folder")  # fmt: skip
LINKED_FILES = ("model.safetensors", "config.json", "tokenizer_config.json", "README.md", "quantize_config.json",
                "model.safetensors.index.json", "chat_template.jinja")  # fmt: skip
OUTSIDE_MARK = "QD-OUTSIDE-4d1c"  # written into every file outside the folder: it must never be shown


def _make_link(folder: Path, name: str, target: str, outside: Path) -> None:
    link = folder / name
    for old in (link, folder / f"{name}.b", folder / f"{name}.hop"):  # a name linked twice in one case
        if old.is_symlink() or old.is_file():
            old.unlink()
    if target == "loop":
        (folder / f"{name}.b").symlink_to(name)
        link.symlink_to(f"{name}.b")
    elif target == "self":
        link.symlink_to(name)
    elif target == "chain-out":  # a link inside that leads to a link that leads outside
        (folder / f"{name}.hop").symlink_to(outside / name)
        link.symlink_to(f"{name}.hop")
    elif target == "outside":
        link.symlink_to(outside / name)
    elif target == "dev-zero":
        link.symlink_to("/dev/zero")
    elif target == "fifo":
        fifo = outside / f"{name}.fifo"
        if not fifo.exists():
            os.mkfifo(fifo)
        link.symlink_to(fifo)
    elif target == "proc-mem":
        link.symlink_to("/proc/self/mem")
    elif target == "dangling":
        link.symlink_to(folder / "nothing-here" / name)
    elif target == "folder":
        link.symlink_to(folder)
    elif target == "absolute-etc":
        link.symlink_to("/etc/passwd")
    else:  # parent-folder: a relative link out
        link.symlink_to(Path("..") / "outside" / name)


def _outside_files(outside: Path) -> None:
    """Files outside the folder with every linked name, each holding the marker (and valid content)."""
    outside.mkdir(exist_ok=True)
    sys.path.insert(0, str(ROOT / "tests"))
    from foldermaker import model_tensors, write_safetensors

    write_safetensors(outside / "model.safetensors", model_tensors("gptq", 4))
    body = {"model_type": OUTSIDE_MARK, "chat_template": OUTSIDE_MARK, "quant_method": "gptq", "bits": 4,
            "dataset": OUTSIDE_MARK, "weight_map": {"x": "model.safetensors"}}  # fmt: skip
    for name in ("config.json", "tokenizer_config.json", "quantize_config.json", "model.safetensors.index.json"):
        (outside / name).write_text(json.dumps(body))
    (outside / "README.md").write_text(f"---\nbase_model: {OUTSIDE_MARK}/x\nlicense: {OUTSIDE_MARK}\n---\n")
    (outside / "chat_template.jinja").write_text(OUTSIDE_MARK)


def make_link_cases(folder: Path, seed: int, n: int) -> list[Case]:
    """`n` model folders, each with one to three of its files replaced by a hostile link (seeded)."""
    rng = random.Random(seed)
    sys.path.insert(0, str(ROOT / "tests"))
    from foldermaker import make_folder

    cases: list[Case] = []
    for i in range(n):
        root = folder / f"links{i}"
        root.mkdir()
        outside = root / "outside"
        _outside_files(outside)
        fmt = rng.choice(["gptq", "exl2", "awq"])
        qc = {"quant_method": fmt, "bits": 4.5 if fmt == "exl2" else 4, "group_size": 128}
        made = make_folder(root, fmt, None if rng.random() < 0.15 else qc, card="---\nlicense: mit\n---\n")
        whats = []
        for _ in range(rng.randint(1, 3)):
            name, target = rng.choice(LINKED_FILES), rng.choice(LINK_TARGETS)
            if name == "model.safetensors.index.json" and rng.random() < 0.5:  # or: the index names the link
                (made / name).unlink(missing_ok=True)  # an earlier link of this case (to a FIFO) is not written through
                (made / name).write_text(json.dumps({"weight_map": {"model.embed_tokens.weight": "w.safetensors"}}))
                _make_link(made, "w.safetensors", target, outside)
                whats.append(f"index names w.safetensors -> {target}")
                continue
            _make_link(made, name, target, outside)
            whats.append(f"{name} -> {target}")
        cases.append(Case(str(made), f"{fmt} folder: " + "; ".join(whats), "links"))
    return cases


# --- compare inputs (issue 24): --text and --prompts files of every hostile kind -----------------------------------

COMPARE_CHILD = r"""
import json, os, resource, signal, sys, time, traceback
limit, seconds = int(sys.argv[2]), float(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
resource.setrlimit(resource.RLIMIT_CPU, (int(sys.argv[4]), int(sys.argv[4])))
class Hang(BaseException):
    pass
def alarm(*_):
    raise Hang()
signal.signal(signal.SIGALRM, alarm)
from core.errors import QuantDoctorError
from core.app.compare import prompts_from, read_own_texts
for line in open(sys.argv[1]):
    case = json.loads(line)
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    outcome, detail = "ok", ""
    try:
        if case["what"].startswith("text"):
            read_own_texts([f"mine={case['path']}"])
        else:
            prompts_from([], case["path"])
    except QuantDoctorError as exc:
        outcome, detail = "typed", type(exc).__name__ + ": " + exc.message[:160]
    except Hang:
        outcome, detail = "hang", f"more than {seconds:g} s"
    except MemoryError:
        outcome, detail = "memory", "MemoryError under the address-space limit"
    except BaseException:
        outcome, detail = "traceback", traceback.format_exc()[-1500:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    hwm = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:')]
    rss = (hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    print(json.dumps({"path": case["path"], "what": case["what"], "outcome": outcome, "detail": detail,
                      "seconds": round(time.monotonic() - t0, 3), "max_rss": rss}), flush=True)
"""

PROMPT_ITEMS: list[tuple[str, str]] = [
    ("text", '"a prompt"'), ("object", '{"prompt": "p", "system": "s"}'), ("NaN", "NaN"), ("Infinity", "Infinity"),
    ("1e999", "1e999"), ("huge int", "9" * 5000), ("null", "null"), ("list", "[1, [2]]"), ("deep", "[" * 5000 + "]" * 5000),
    ("duplicate keys", '{"prompt": "a", "prompt": "b"}'), ("prompt not text", '{"prompt": 5}'), ("empty text", '""'),
    ("control characters", '"\\u001b]52;c;AAAA\\u0007 \\u202e"'), ("system object", '{"prompt": "p", "system": {}}'),
]  # fmt: skip


def _compare_input(path: Path, rng: random.Random) -> str:
    """One hostile --text / --prompts input at `path` (a file, a link, a FIFO, or a path that is not one)."""
    kind = rng.choice(["json", "json", "json", "bytes", "special", "size", "path"])
    if kind == "json":
        items = [rng.choice(PROMPT_ITEMS) for _ in range(rng.randint(1, 4))]
        body = "[" + ", ".join(v for _, v in items) + "]"
        if rng.random() < 0.3:
            body = '{"system": ' + rng.choice(PROMPT_ITEMS)[1] + ', "prompts": ' + body + "}"
        if rng.random() < 0.2:
            body = body[: rng.randrange(1, len(body))]  # cut
        path.write_text(body)
        return "json [" + ", ".join(k for k, _ in items) + "]"
    if kind == "bytes":
        choice = rng.choice(["binary", "nul", "invalid utf-8", "bom only", "empty", "spaces", "utf-16"])
        data = {"binary": bytes(rng.randrange(256) for _ in range(512)), "nul": b"text\x00more",
                "invalid utf-8": b"\xff\xfe\xc3( words", "bom only": b"\xef\xbb\xbf", "empty": b"",
                "spaces": b" \n\t \n", "utf-16": "a prompt".encode("utf-16")}[choice]  # fmt: skip
        path.write_bytes(data)
        return choice
    if kind == "special":
        choice = rng.choice(["fifo", "dev-zero", "proc-mem", "folder", "loop", "dangling"])
        if choice == "fifo":
            os.mkfifo(path)
        elif choice == "folder":
            path.mkdir()
        elif choice == "loop":
            path.symlink_to(path.name)
        else:
            path.symlink_to({"dev-zero": "/dev/zero", "proc-mem": "/proc/self/mem",
                             "dangling": str(path) + ".gone"}[choice])  # fmt: skip
        return choice
    if kind == "size":
        size = rng.choice([8 * 1024 * 1024 + 1, 1 << 30, 40 << 30])  # sparse: over each limit, never written
        with open(path, "wb") as f:
            f.truncate(size)
        return f"sparse {size:,} bytes"
    return "path " + rng.choice(list(_ODD_PATHS))


# Paths that are not a file at all: each must be a plain error before anything is opened.
_ODD_PATHS = {"~nosuchuser": "~nosuchuser-qd/x.txt", "empty": "", "5000 characters": "x" * 5000, "NUL": "a\x00b"}


def make_compare_cases(folder: Path, seed: int, n: int) -> list[Case]:
    """`n` hostile inputs for `compare --text` / `--prompts` (seeded), each named by what it is."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for i in range(n):
        path = folder / f"input{i}.txt"
        what = _compare_input(path, rng)
        target = _ODD_PATHS[what[5:]] if what.startswith("path ") else str(path)
        option = rng.choice(["text", "prompts"])
        cases.append(Case(target, f"{option}: {what}", "compare"))
    return cases


# Inspect and diagnose each linked folder (the estimate is GGUF-only), with an audit hook that records every
# open of a file outside the folder: such an open, or the outside files' marker in any result or message, is
# the outcome "leak" (a finding, like a traceback).
LINK_CHILD = r"""
import json, os, resource, signal, sys, time, traceback
limit, seconds = int(sys.argv[2]), float(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
resource.setrlimit(resource.RLIMIT_CPU, (int(sys.argv[4]), int(sys.argv[4])))
class Hang(BaseException):
    pass
def alarm(*_):
    raise Hang()
signal.signal(signal.SIGALRM, alarm)
from core.errors import QuantDoctorError
from core.model.inspection import inspect_model
from core.diagnosis import diagnose
from core.hardware.catalog import catalog_profile
from core.settings.setup import Setup
hw = catalog_profile("RTX 4090")
MARK = sys.argv[5]
watched, opened = [], []
def hook(event, args):
    if event == "open" and watched and isinstance(args[0], (str, bytes, os.PathLike)):
        real = os.path.realpath(os.fsdecode(args[0]))
        if real.startswith(watched[0]) or real in ("/dev/zero", "/etc/passwd") or real.startswith("/proc/"):
            opened.append(real)
sys.addaudithook(hook)
for line in open(sys.argv[1]):
    case = json.loads(line)
    outside = os.path.realpath(os.path.join(os.path.dirname(case["path"]), "outside"))
    watched[:] = [outside + os.sep]
    opened.clear()
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    outcome, detail, shown = "ok", "", ""
    try:
        profile = inspect_model(case["path"])
        shown = repr(profile) + repr(diagnose(profile, Setup.of(), hw).to_dict())
    except QuantDoctorError as exc:
        outcome, detail = "typed", type(exc).__name__ + ": " + exc.message[:160]
        shown = exc.message + exc.fix
    except Hang:
        outcome, detail = "hang", f"more than {seconds:g} s"
    except MemoryError:
        outcome, detail = "memory", "MemoryError under the address-space limit"
    except BaseException:
        outcome, detail = "traceback", traceback.format_exc()[-1500:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        watched.clear()
    if opened or MARK in shown:
        outcome, detail = "leak", f"opened {opened[:3]}; marker shown: {MARK in shown}"
    hwm = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:')]
    rss = (hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    print(json.dumps({"path": case["path"], "what": case["what"], "outcome": outcome, "detail": detail,
                      "seconds": round(time.monotonic() - t0, 3), "max_rss": rss}), flush=True)
"""


def fuzz_links(seed: int, n: int) -> Report:
    """Model folders with hostile links through inspect and diagnose (issue 24): a result or a typed error,
    and never an open of a file outside the folder nor a word of one in any result (outcome "leak")."""
    work = Path(tempfile.mkdtemp(prefix="qd-fuzz-links-"))
    try:
        cases = make_link_cases(work, seed, n)
        report = run_cases(cases, work, child=LINK_CHILD, extra=[OUTSIDE_MARK])
        report.cases = cases
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fuzz_compare_inputs(seed: int, n: int) -> Report:
    """Hostile `--text` / `--prompts` inputs through the comparison's own readers (issue 24)."""
    work = Path(tempfile.mkdtemp(prefix="qd-fuzz-compare-"))
    try:
        cases = make_compare_cases(work, seed, n)
        report = run_cases(cases, work, child=COMPARE_CHILD)
        report.cases = cases
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)
