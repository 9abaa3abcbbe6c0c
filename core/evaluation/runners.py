"""The local engine: one model file, the person's settings, a worker process per run.

`LocalEngine.run(tasks)` is a job (a generator of Progress returning the tasks' results). Each run
starts a fresh worker that loads the model, does every task, and exits, so the model is in memory
only for that run, two models are never loaded together as long as runs are sequential, and a
crash costs that run only: the engine object stays usable for the next one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.children import make_temp_dir, remove_temp_dir
from core.errors import CancelledError, EvaluationSetupError, NotEnoughMemoryError, RunnerCrashedError
from core.evaluation.child_client import WorkerProcess, fatal_error
from core.evaluation.memory_check import not_enough_memory, require_fit
from core.evaluation.scorer import Scorer, current, fell_back
from core.evaluation.scoring import EVAL_DEFAULT_CTX
from core.files import write_text_file
from core.progress import EtaClock, Job, Progress
from core.settings.run import RunSettings


@dataclass(frozen=True)
class TokenProgress(Progress):
    """A sample output growing by one token (phase/done/total as for any progress event)."""

    side: str = ""
    sample_id: str = ""
    token: str = ""


@dataclass(frozen=True)
class TaskDone(Progress):
    """A task finished in the worker: its result file is complete, so its numbers can be shown now."""

    task_id: str = ""


@dataclass(frozen=True)
class ChunkScored(Progress):
    """A candidate chunk scored against the reference: its sums (for the stop rule) and its numbers' file."""

    task_id: str = ""
    position: int = 0  # its place in the text's chunk order
    index: int = 0  # its place in the text
    kld_sum: float = 0.0
    hits: int = 0  # positions where both models' most likely token is the same
    tokens: int = 0
    file: str = ""


@dataclass
class TaskResult:
    """What the worker said at the end of one task: `ok` with its fields, or an error kind + message."""

    task_id: str
    ok: bool
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return str(self.fields.get("message", ""))

    @property
    def kind(self) -> str:
        return str(self.fields.get("kind", ""))


def largest_context(settings: RunSettings, tasks: list[dict[str, Any]]) -> int:
    """The largest context the worker will set up: the settings' own, or a task's chunk or window."""
    sizes = [settings.n_ctx or EVAL_DEFAULT_CTX]
    sizes += [int(t[key]) for t in tasks for key in ("chunk", "n_ctx") if isinstance(t.get(key), int)]
    return max(sizes)


class LocalEngine:
    """A GGUF run by llama.cpp (through llama-cpp-python) in a child process."""

    exact = True

    def __init__(self, path: Path, settings: RunSettings, role: str = "model", scorer: Scorer | None = None) -> None:
        self.path = Path(path)
        self.settings = settings.require_llama_cpp_loads()
        self.role = role
        self.scorer = scorer or current()  # which llama.cpp build (core.evaluation.scorer)
        self.ran_on: dict[str, Any] = {}  # what the last worker said it ran on: backend, device, library
        self._worker: WorkerProcess | None = None
        if not self.path.is_file():
            raise EvaluationSetupError(f"{self.path} does not exist or is not a file.", "Pick the .gguf file again.")

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def running_pid(self) -> int | None:
        """The worker's process id while a run is in progress (tests kill it to check crash handling)."""
        w = self._worker
        return w.pid if w is not None and w.returncode is None else None

    def describe(self) -> str:
        return f"{self.path.name} ({self.settings.describe()})"

    def run(self, tasks: list[dict[str, Any]], phase: str, workdir: Path | None = None) -> Job[dict[str, TaskResult]]:
        """Run `tasks` in one worker; yields progress (and TokenProgress for samples), returns results by id.

        A worker on a GPU build that ends before its model has loaded (a driver that fails, a GPU without the
        memory) is run again on the CPU path, and the scorer says why from then on (scorer.fell_back).
        """
        try:
            return (yield from self._run(tasks, phase, workdir))
        except (RunnerCrashedError, EvaluationSetupError, NotEnoughMemoryError) as err:
            if self.scorer.library is None or self.ran_on:
                raise
            self.scorer = fell_back(self.scorer, err.message)
            yield Progress(f"{phase}: the GPU build failed; running on the CPU", message=err.message)
            return (yield from self._run(tasks, phase, workdir))

    def _run(self, tasks: list[dict[str, Any]], phase: str, workdir: Path | None) -> Job[dict[str, TaskResult]]:
        what = f"the {self.role} ({self.path.name})"
        self.ran_on = {}
        require_fit(self.path, self.settings, largest_context(self.settings, tasks), what)  # before llama.cpp
        owns = workdir is None
        folder = make_temp_dir("qd-eval-") if workdir is None else workdir
        job_file = folder / f"job-{self.role}.json"
        write_text_file(  # a full disk is a plain DiskFullError (core.files), not a traceback
            job_file,
            json.dumps({"model": str(self.path), "settings": self.settings.to_dict(), "tasks": tasks}),
            "the comparison's job file",
            RunnerCrashedError,
        )
        worker = WorkerProcess(job_file, what, self.scorer.library)
        self._worker = worker
        names = {t["id"]: t.get("label", t["id"]) for t in tasks}
        units = {t["id"]: "windows" if t.get("kind") == "windows" else "tokens" for t in tasks}
        results: dict[str, TaskResult] = {}
        clocks: dict[str, EtaClock] = {}
        finished = False
        current = Progress(f"{phase}: loading {self.path.name}")
        try:
            yield current
            for event in worker.events():
                if event is None:
                    yield current
                    continue
                kind = event.get("type")
                tid = str(event.get("task", ""))
                if kind == "loaded":
                    self.ran_on = {k: event.get(k) for k in ("backend", "device", "library")}
                    current = Progress(f"{phase}: loaded", message=f"{event.get('seconds', 0):.1f} s to load")
                elif kind == "progress":
                    total = float(event.get("total") or 0)
                    clock = clocks.setdefault(tid, EtaClock(total))
                    clock.total = total
                    done = float(event.get("done", 0))
                    current = Progress(
                        f"{phase}: {names.get(tid, tid)}", done, total or None, units.get(tid, ""), clock.eta(done)
                    )
                elif kind == "token":
                    text = str(event.get("text", ""))
                    done = current.done + 1
                    current = TokenProgress(
                        f"{phase}: {names.get(tid, tid)}", done, current.total, "tokens",
                        clocks[tid].eta(done) if tid in clocks else None, side=self.role, sample_id=tid, token=text,
                    )  # fmt: skip
                elif kind == "done":
                    results[tid] = TaskResult(tid, True, event)
                    yield TaskDone(current.phase, current.done, current.total, current.unit, task_id=tid)
                    continue
                elif kind == "chunk":
                    yield ChunkScored(
                        current.phase, current.done, current.total, current.unit, current.eta_s, task_id=tid,
                        position=int(event.get("position", 0)), index=int(event.get("index", 0)),
                        kld_sum=float(event.get("kld_sum", 0.0)), hits=int(event.get("hits", 0)),
                        tokens=int(event.get("tokens", 0)), file=str(event.get("file", "")),
                    )  # fmt: skip
                    continue
                elif kind == "error":
                    results[tid] = TaskResult(tid, False, event)
                elif kind == "fatal":
                    worker.kill()
                    if event.get("kind") == "memory":
                        n_ctx = event.get("n_ctx")
                        ctx = n_ctx if isinstance(n_ctx, int) else None
                        raise not_enough_memory(self.path, self.settings, ctx, what, str(event.get("message")))
                    raise fatal_error(event, what)
                elif kind == "finished":
                    finished = True
                yield current
            if not finished:
                raise worker.crash_error()
            return results
        except GeneratorExit:
            worker.kill()
            raise
        except KeyboardInterrupt as exc:
            worker.kill()
            raise CancelledError("The comparison was cancelled.") from exc
        finally:
            worker.kill()
            self._worker = None
            if owns:
                remove_temp_dir(folder)
