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

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from core.children import run_in_background, watch_parent
from core.evaluation.metrics import RefBlock, TokenStats, candidate_stats, compress_reference
from core.evaluation.scoring import EVAL_DEFAULT_CTX
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
    with np.load(path) as z:
        block = RefBlock(
            z["topk_ids"].astype(np.int32), z["topk_logp"].astype(np.float32), z["rest_mass"].astype(np.float64),
            z["nll"].astype(np.float64), z["argmax"].astype(np.int32), z["tail_ids"].astype(np.int32),
            z["tail_logp"].astype(np.float32),
        )  # fmt: skip
        return z["tokens"].astype(np.int32), block


def save_reference(path: str, tokens: np.ndarray[Any, Any], block: RefBlock, meta: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.part.npz"  # unique: two comparisons may fill the same cache entry at once
    np.savez(
        tmp, tokens=tokens, topk_ids=block.topk_ids, topk_logp=block.topk_logp, rest_mass=block.rest_mass,
        nll=block.nll, argmax=block.argmax, tail_ids=block.tail_ids, tail_logp=block.tail_logp,
        meta=np.array(json.dumps(meta)),
    )  # fmt: skip
    os.replace(tmp, path)


def task_score(model: Any, task: dict[str, Any], ch: Channel) -> None:
    """One text through llama-perplexity's chunk loop; reference mode keeps top-k, candidate mode compares."""
    tid = task["id"]
    chunk = int(task["chunk"])
    text = task["text"]
    tokens = model.tokenize(text, add_special=True, parse_special=False)
    if task.get("fill") and 0 < len(tokens) < chunk:  # a long-context chunk longer than the text: repeat it
        body = tokens[1:] if len(tokens) > 1 and tokens[0] == model.bos else tokens
        reps = -(-(chunk - len(tokens)) // len(body))
        tokens = np.concatenate([tokens, *([body] * reps)])
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
    total = n_chunk * per_chunk
    ref_block: RefBlock | None = None
    if task["mode"] == "candidate":
        ref_tokens, ref_block = load_reference(task["reference"])
        if len(ref_tokens) != len(tokens) or not np.array_equal(ref_tokens, tokens):
            ch.send("error", kind="tokenizer", task=tid,
                    message="The two models split the evaluation text into different tokens.")  # fmt: skip
            return
    ch.send("progress", task=tid, done=0, total=total)
    blocks: list[RefBlock] = []
    stats: list[TokenStats] = []
    first = chunk // 2
    started = time.perf_counter()
    done = 0
    for i, logits in model.score_chunks(tokens, chunk, n_chunk, int(task["n_batch"]), int(task["n_ubatch"])):
        for seq in range(logits.n_seqs):
            start = (i + seq) * chunk
            targets = tokens[start + first + 1 : start + chunk]
            rows = logits.rows(seq)
            if ref_block is None:
                blocks.append(compress_reference(rows, targets, int(task["top_k"]), int(task["tail_samples"])))
            else:
                off = (i + seq) * per_chunk
                stats.append(candidate_stats(rows, targets, ref_block.slice(off, off + per_chunk)))
            done += per_chunk
        ch.send("progress", task=tid, done=done, total=total)
    elapsed = time.perf_counter() - started
    if ref_block is None:
        block = RefBlock.concat(blocks, int(task["top_k"]), int(task["tail_samples"]))
        save_reference(task["out"], tokens, block, {"chunk": chunk, "n_chunk": n_chunk, "n_vocab": model.n_vocab})
    else:
        tmp = task["out"] + ".part.npz"
        np.savez(tmp, **TokenStats.concat(stats).to_arrays())  # type: ignore[arg-type]
        os.replace(tmp, task["out"])
    ch.send("done", task=tid, tokens=done, seconds=elapsed, n_chunk=n_chunk, chunk=chunk)


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


def main(argv: list[str]) -> int:
    run_in_background()
    watch_parent()  # die with the app, however it dies (core.children)
    _no_core_dumps()
    ch = Channel(_protocol_stream())
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    from core.evaluation.llama_runner import LlamaModel, RunnerError

    settings = RunSettings.from_dict(job["settings"])
    model = None
    try:
        t0 = time.perf_counter()
        model = LlamaModel(job["model"], settings)
        ch.send("loaded", n_vocab=model.n_vocab, seconds=time.perf_counter() - t0, pid=os.getpid())
        for task in job["tasks"]:
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
    finally:
        if model is not None:
            model.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
