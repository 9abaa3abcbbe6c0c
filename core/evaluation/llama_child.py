"""The child process that runs llama.cpp: `python -m core.evaluation.llama_child JOB.json`.

It loads one model with the person's settings, runs the job's tasks in order (score texts,
generate samples, score windows), and reports on a line-per-event JSON protocol. It lives in its own
process because llama.cpp may abort() or be killed by the OS for memory: the parent then sees the
process end and raises a typed error, and the app keeps running.

The protocol goes to a duplicate of the original stdout; file descriptor 1 itself is pointed at
stderr, so anything llama.cpp or ggml prints with printf() can never corrupt an event line. Large
arrays travel as .npz files in a folder the parent owns.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from core import jsonfile
from core.children import run_in_background, watch_parent
from core.evaluation.metrics import RefBlock, TokenStats, candidate_stats, compress_reference
from core.evaluation.scoring import EVAL_DEFAULT_CTX
from core.files import is_disk_full
from core.settings.run import RunSettings


class Channel:
    """Event lines to the parent."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def send(self, event: str, /, **fields: Any) -> None:
        self.stream.write(json.dumps({**fields, "type": event}, ensure_ascii=False) + "\n")
        self.stream.flush()


def _protocol_stream() -> TextIO:
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(proto_fd, "w", encoding="utf-8", buffering=1)


def load_reference(path: str) -> tuple[np.ndarray[Any, Any], RefBlock]:
    tokens, block, _order, _done = load_reference_entry(path)
    return tokens, block


def load_reference_entry(path: str) -> tuple[np.ndarray[Any, Any], RefBlock, np.ndarray[Any, Any], int]:
    """(the text's tokens, the kept reference rows, the chunk order, how many chunks of that order it holds).

    An entry may hold only the first chunks of its order (a comparison that stopped early kept them,
    so a later run scores only the rest). One without an order holds every chunk, in text order.
    """
    with np.load(path) as z:
        block = RefBlock(
            z["topk_ids"].astype(np.int32), z["topk_logp"].astype(np.float32), z["rest_mass"].astype(np.float64),
            z["nll"].astype(np.float64), z["argmax"].astype(np.int32), z["tail_ids"].astype(np.int32),
            z["tail_logp"].astype(np.float32),
        )  # fmt: skip
        tokens = z["tokens"].astype(np.int32)
        if "order" in z.files:
            return tokens, block, z["order"].astype(np.int64), int(z["done"])
        meta = jsonfile.loads(str(z["meta"]), "a cached reference's meta") if "meta" in z.files else {}
        n_chunk = int(meta.get("n_chunk") or 0)
        return tokens, block, np.arange(n_chunk), n_chunk


def savez_whole(path: str, **arrays: Any) -> None:
    """Write an .npz under a temporary name, then rename: a write that fails (a full disk, a quota,
    a kill) leaves neither a half file under the real name nor the temporary one behind."""
    tmp = f"{path}.{os.getpid()}.part.npz"  # unique: two comparisons may fill the same cache entry at once
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not exc.filename:  # zipfile's write errors name no file: name it
            raise OSError(exc.errno, exc.strerror, path) from exc
        raise


def save_reference(
    path: str, tokens: np.ndarray[Any, Any], block: RefBlock, meta: dict[str, Any],
    order: np.ndarray[Any, Any] | None = None, done: int | None = None,
) -> None:  # fmt: skip
    n_chunk = int(meta.get("n_chunk", 0))
    savez_whole(
        path, tokens=tokens, topk_ids=block.topk_ids, topk_logp=block.topk_logp, rest_mass=block.rest_mass,
        nll=block.nll, argmax=block.argmax, tail_ids=block.tail_ids, tail_logp=block.tail_logp,
        meta=np.array(json.dumps(meta)), order=np.arange(n_chunk) if order is None else order,
        done=np.array(n_chunk if done is None else done),
    )  # fmt: skip


def _positions(task: dict[str, Any], n_chunk: int) -> tuple[int, int]:
    """The task's slice of the chunk order: [first, stop), both capped at the text's chunks."""
    span = task.get("positions")
    if not span:
        return 0, n_chunk
    return min(int(span[0]), n_chunk), min(int(span[1]), n_chunk)


def task_score(model: Any, task: dict[str, Any], ch: Channel) -> None:
    """One text through llama-perplexity's chunk loop; reference mode keeps top-k, candidate mode compares.

    `positions` [a, b) picks chunks a..b-1 of the text's chunk order (core.evaluation.early_stop
    .chunk_order: a seeded shuffle, so a comparison that stops early has scored a uniform sample); a
    reference run extends the entry at `out` when it already holds the first chunks of that order. A
    candidate run sends each chunk's sums as it is scored ("chunk" events) and keeps its per-token
    numbers in `out`.<position>.npz, so a run stopped between two chunks loses nothing it reported.
    A `count_only` task (set by `first_look`) only tokenizes the text and says how many chunks it has.
    """
    tid = task["id"]
    chunk = int(task["chunk"])
    tokens = _text_tokens(model, task)
    min_chunks = int(task.get("min_chunks") or 1)
    if len(tokens) < min_chunks * chunk and min_chunks > 1:
        ch.send("error", kind="too_short", task=tid, tokens=len(tokens),
                message=f"The '{task.get('name', tid)}' text needs at least {min_chunks} × the chunk size in tokens "
                        f"({min_chunks} × {chunk:,} = {min_chunks * chunk:,}); this has {len(tokens):,}.")  # fmt: skip
        return
    n_chunk = len(tokens) // chunk
    if task.get("max_chunks"):
        n_chunk = min(n_chunk, int(task["max_chunks"]))
    if n_chunk < 1:
        ch.send("error", kind="too_short", task=tid,
                message=f"The '{tid}' text is {len(tokens)} tokens, shorter than one chunk of {chunk}.")  # fmt: skip
        return
    tokens = tokens[: n_chunk * chunk]
    per_chunk = chunk - 1 - chunk // 2
    if task.get("count_only"):  # the first look left this text for later: its size is all the parent needs
        ch.send("done", task=tid, tokens=0, seconds=0.0, n_chunk=n_chunk, chunk=chunk, counted_only=True)
        return
    first_pos, stop_pos = _positions(task, n_chunk)
    kept: RefBlock | None = None
    if task["mode"] == "candidate":
        ref_tokens, kept, order, have = load_reference_entry(task["reference"])
        if len(ref_tokens) != len(tokens) or not np.array_equal(ref_tokens, tokens):
            ch.send("error", kind="tokenizer", task=tid,
                    message="The two models split the evaluation text into different tokens.")  # fmt: skip
            return
        stop_pos = min(stop_pos, have)
    else:
        order, have = _reference_order(task, tokens, n_chunk)
        if have:
            _t, kept, _o, _h = load_reference_entry(task["out"])
        first_pos = have  # a reference entry only ever grows by the next chunks of its order
        stop_pos = max(stop_pos, first_pos)
    todo = order[first_pos:stop_pos]
    total = len(todo) * per_chunk
    picked = np.concatenate([tokens[c * chunk : (c + 1) * chunk] for c in todo]) if len(todo) else tokens[:0]
    ch.send("progress", task=tid, done=0, total=total)
    blocks: list[RefBlock] = [] if kept is None or task["mode"] == "candidate" else [kept]
    stats: list[TokenStats] = []
    first = chunk // 2
    started = time.perf_counter()
    done = 0
    if len(todo):
        for i, logits in model.score_chunks(picked, chunk, len(todo), int(task["n_batch"]), int(task["n_ubatch"])):
            for seq in range(logits.n_seqs):
                start = (i + seq) * chunk
                targets = picked[start + first + 1 : start + chunk]
                rows = logits.rows(seq)
                pos = first_pos + i + seq
                if task["mode"] == "reference":
                    blocks.append(compress_reference(rows, targets, int(task["top_k"]), int(task["tail_samples"])))
                else:
                    assert kept is not None
                    s = candidate_stats(rows, targets, kept.slice(pos * per_chunk, (pos + 1) * per_chunk))
                    stats.append(s)
                    _send_chunk(ch, task, tid, pos, int(order[pos]), s)
                done += per_chunk
            ch.send("progress", task=tid, done=done, total=total)
    elapsed = time.perf_counter() - started
    if task["mode"] == "reference":
        if len(todo) or not have:
            block = RefBlock.concat(blocks, int(task["top_k"]), int(task["tail_samples"]))
            meta = {"chunk": chunk, "n_chunk": n_chunk, "n_vocab": model.n_vocab}
            save_reference(task["out"], tokens, block, meta, order, stop_pos)
        have = max(have, stop_pos)
    else:
        savez_whole(task["out"], **TokenStats.concat(stats).to_arrays())
    ch.send("done", task=tid, tokens=done, seconds=elapsed, n_chunk=n_chunk, chunk=chunk, chunks_cached=have,
            first=first_pos, stop=stop_pos)  # fmt: skip


def _text_tokens(model: Any, task: dict[str, Any]) -> np.ndarray[Any, Any]:
    """The text's tokens as llama-perplexity takes them (BOS first); a long-context text is repeated to fill its chunk."""
    chunk = int(task["chunk"])
    tokens = model.tokenize(task["text"], add_special=True, parse_special=False)
    if task.get("fill") and 0 < len(tokens) < chunk:  # a long-context chunk longer than the text: repeat it
        body = tokens[1:] if len(tokens) > 1 and tokens[0] == model.bos else tokens
        reps = -(-(chunk - len(tokens)) // len(body))
        tokens = np.concatenate([tokens, *([body] * reps)])
    return np.asarray(tokens)


def planned_tokens(model: Any, task: dict[str, Any]) -> int:
    """The tokens a full run of this score task scores (0 for a text shorter than its minimum)."""
    chunk = int(task["chunk"])
    n_chunk = len(_text_tokens(model, task)) // chunk
    if n_chunk < int(task.get("min_chunks") or 1):
        return 0
    if task.get("max_chunks"):
        n_chunk = min(n_chunk, int(task["max_chunks"]))
    return n_chunk * (chunk - 1 - chunk // 2)


def first_look(model: Any, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of the score tasks marked `first_look`, keep the largest texts that hold half of the tokens; count the rest.

    The overall verdict is the token-weighted median over the domains (core.evaluation.verdicts
    .overall, where a tie goes to the worse verdict), so texts that hold at least half of all the
    tokens can settle the worst verdict on their own (any other needs more than half): a
    comparison's first look scores a chunk of those (largest first) and only tokenizes the others,
    whose sizes the stop rule needs to know how much they weigh. The parent cannot choose them itself:
    how many tokens a text is comes from this model's tokenizer. `first_look` holds the tokens of the
    domains outside this job that already have their first reference chunk (from the cache).
    """
    marked = [t for t in tasks if t.get("kind") == "score" and isinstance(t.get("first_look"), dict)]
    if not marked:
        return tasks
    sizes = {t["id"]: planned_tokens(model, t) for t in marked}
    covered = int(marked[0]["first_look"].get("held_tokens") or 0)
    whole = covered + sum(sizes.values())
    counted: set[str] = set()
    for t in sorted(marked, key=lambda t: -sizes[t["id"]]):  # stable: equal sizes keep the parent's order
        if 2 * covered >= whole and sizes[t["id"]] > 0:
            counted.add(t["id"])
        else:
            covered += sizes[t["id"]]
    return [{**t, "count_only": True} if t["id"] in counted else t for t in tasks]


def _reference_order(task: dict[str, Any], tokens: np.ndarray[Any, Any], n_chunk: int) -> tuple[Any, int]:
    """The chunk order and how many of its chunks the entry at `out` already holds (0: start afresh)."""
    from core.evaluation.early_stop import chunk_order

    out = Path(task["out"])
    if task.get("extend") and out.is_file():
        try:
            old_tokens, _block, order, have = load_reference_entry(str(out))
        except (OSError, ValueError, KeyError):  # the parent checked it; a race with another run: start afresh
            have = -1
        if have >= 0 and np.array_equal(old_tokens, tokens) and len(order) == n_chunk:
            return order, have
    return (chunk_order(n_chunk) if task.get("shuffle", True) else np.arange(n_chunk)), 0


def _send_chunk(ch: Channel, task: dict[str, Any], tid: str, pos: int, index: int, s: TokenStats) -> None:
    """One candidate chunk: its sums for the stop rule, its per-token numbers in a file of its own."""
    path = f"{task['out']}.{pos}.npz"
    savez_whole(path, **s.to_arrays())
    ch.send("chunk", task=tid, position=pos, index=index, kld_sum=float(s.kld.sum()), hits=int(s.same_top.sum()),
            tokens=len(s), file=path)  # fmt: skip


def task_generate(model: Any, task: dict[str, Any], ch: Channel, n_ctx: int) -> None:
    """Greedy sample output, each token sent as it comes."""
    tid = task["id"]
    prompt, templated = model.chat_prompt(task["prompt"], task.get("system"))
    pieces: list[str] = []
    ch.send("progress", task=tid, done=0, total=int(task["max_tokens"]))
    from core.evaluation.llama_runner import RunnerError

    try:
        for tok, text in model.generate(prompt, int(task["max_tokens"]), n_ctx):
            pieces.append(text)
            ch.send("token", task=tid, id=tok, text=text)
    except RunnerError as err:
        if err.kind != "too_long":
            raise
        ch.send("error", kind="too_long", task=tid, message=str(err))
        return
    ch.send("done", task=tid, text="".join(pieces), pieces=pieces, templated=templated)


def task_windows(model: Any, task: dict[str, Any], ch: Channel) -> None:
    """Score text windows the way an OpenAI server's echo+logprobs does, for local-vs-remote runs."""
    tid = task["id"]
    k = int(task["top_k"])
    out: list[list[dict[str, Any]]] = []
    windows: list[str] = task["windows"]
    ch.send("progress", task=tid, done=0, total=len(windows))
    for w, text in enumerate(windows):
        toks = model.tokenize(text, add_special=True, parse_special=False)
        if not (len(toks) and toks[0] == model.bos):
            toks = np.concatenate([np.array([model.bos], np.int32), toks])  # windows always start with BOS
        logits = model.window_logits(toks, int(task["n_ctx"]))
        skip = 1
        body = toks[skip:]
        pieces = [model.piece(int(t)).decode("utf-8", errors="ignore") for t in body]
        positions: list[dict[str, Any]] = []
        for j in range(max(1, len(body) // 2), len(body)):
            row = logits[skip + j - 1].astype(np.float64)
            mx = row.max()
            logp = row - (mx + np.log(np.exp(row - mx).sum()))
            top = np.argpartition(-logp, min(k, len(logp) - 1))[:k]
            top_d: dict[str, float] = {}
            for t in top[np.argsort(-logp[top])]:
                top_d.setdefault(model.piece(int(t)).decode("utf-8", errors="ignore"), float(logp[t]))
            positions.append({"offset": j, "token": pieces[j], "logprob": float(logp[body[j]]), "top": top_d})
        out.append(positions)
        ch.send("progress", task=tid, done=w + 1, total=len(windows))
    Path(task["out"]).write_text(json.dumps(out, ensure_ascii=False))
    ch.send("done", task=tid, windows=len(out))


def _no_core_dumps() -> None:
    """An abort() must not write a core file the size of the loaded model (tens of GB) to the disk."""
    if sys.platform == "win32":  # no resource module; Windows writes no core files unless LocalDumps is set
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # Windows has no resource module
        pass


def probe(ch: Channel) -> int:
    """`llama_child --probe`: load the llama.cpp build (LLAMA_CPP_LIB_PATH) and its backends, say what it sees.

    No model is loaded: this is how a fetched GPU build is tried before a comparison relies on it. A build
    that cannot load here (a missing driver, a library for another system) ends this process, not the app.
    """
    from core.evaluation.llama_runner import RunnerError, devices, library_dir, load_backends

    try:
        import llama_cpp

        llama_cpp.llama_backend_init()
        load_backends()
        ch.send("probe", library=library_dir(), devices=devices(), system=llama_cpp.llama_print_system_info().decode(
            "utf-8", "replace"))  # fmt: skip
        return 0
    except RunnerError as err:
        ch.send("fatal", kind=err.kind, message=str(err))
        return 3


def main(argv: list[str]) -> int:
    run_in_background()
    watch_parent()  # die with the app, however it dies (core.children)
    _no_core_dumps()
    ch = Channel(_protocol_stream())
    if argv[:1] == ["--probe"]:
        return probe(ch)
    # the job the parent wrote (runners.py); own texts may be several MB, so the bound is wide
    job = jsonfile.load(argv[0], "the worker's job file", max_bytes=1 << 30)
    from core.evaluation.llama_runner import LlamaModel, RunnerError, devices, library_dir, ran_on

    settings = RunSettings.from_dict(job["settings"])
    model = None
    try:
        t0 = time.perf_counter()
        model = LlamaModel(job["model"], settings)
        devs = devices()
        ch.send("loaded", n_vocab=model.n_vocab, seconds=time.perf_counter() - t0, pid=os.getpid(),
                library=library_dir(), devices=devs, **ran_on(devs, settings.n_gpu_layers))  # fmt: skip
        for task in first_look(model, job["tasks"]):
            kind = task["kind"]
            if kind == "score":
                task_score(model, task, ch)
            elif kind == "generate":
                task_generate(model, task, ch, settings.n_ctx or EVAL_DEFAULT_CTX)
            elif kind == "windows":
                task_windows(model, task, ch)
            else:
                ch.send("error", kind="setup", message=f"unknown task kind {kind!r}")
        ch.send("finished")
        return 0
    except RunnerError as err:
        ch.send("fatal", kind=err.kind, message=str(err), n_ctx=err.n_ctx)
        return 3
    except OSError as err:
        if not is_disk_full(err):
            raise
        # No room to write (ENOSPC, EDQUOT, EFBIG): the parent says so in plain words; the half-written
        # file is already gone (savez_whole).
        ch.send("fatal", kind="disk_full", errno=err.errno, path=str(err.filename or ""), message=str(err))
        return 3
    finally:
        if model is not None:
            model.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
