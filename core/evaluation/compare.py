"""The comparison job: reference and candidate on the same texts and prompts, one after the other.

Order of work, and why:
1. Check what can be checked without loading anything (files exist, are GGUF, share a vocabulary;
   servers answer) so a mistake is refused in a second, not after minutes of loading.
2. Run the reference: score each domain's text (or reuse its cached logits) and answer the prompts.
   Its worker exits before the candidate's starts: never two models in memory at once.
3. Run the candidate with the reference's kept logits: per-token stats are computed in its worker,
   and only small arrays come back.
4. Summarise per domain (metrics.summarize) and pair the samples.

With a server on either side the texts are scored in windows both sides can see (the server's echo
+ logprobs, and the local model's same view of them), and the figures are labelled approximate.
"""

from __future__ import annotations

import difflib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.children import make_temp_dir, remove_temp_dir
from core.errors import EvaluationSetupError, IncompatibleModelsError, RemoteEngineError
from core.evaluation import refcache
from core.evaluation.domains import Domain, Prompt, eval_text, prompts, resolve_domains
from core.evaluation.identity import check_same_vocab, file_fingerprint, vocab_of
from core.evaluation.metrics import (
    DomainMetrics,
    TokenStats,
    TopLogprobs,
    approximate_stats,
    summarize,
)
from core.evaluation.remote import RemoteEngine, is_url
from core.evaluation.runners import LocalEngine, TaskResult
from core.evaluation.samples import Sample, first_divergence
from core.evaluation.scoring import EVAL_DEFAULT_CTX, EvalSettings
from core.progress import Job, Progress
from core.settings.run import RunSettings

Engine = LocalEngine | RemoteEngine
MIN_ALIGNED = 0.8  # below this share of aligned positions, two servers/models do not tokenize alike


@dataclass
class Comparison:
    """Everything a comparison found: per-domain metrics and the paired sample outputs."""

    reference: str
    candidate: str
    what: str  # "quant" (two files), "settings" (one file, two setups), "remote" (a server involved)
    metrics: dict[str, DomainMetrics]
    samples: list[Sample]
    approximate: bool = False
    reference_settings: dict[str, Any] = field(default_factory=dict)
    candidate_settings: dict[str, Any] = field(default_factory=dict)
    eval_settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cached_reference: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": [s.to_dict() for s in self.samples],
            "metrics": {d: m.to_dict() for d, m in self.metrics.items()},
            "reference": self.reference,
            "candidate": self.candidate,
            "what": self.what,
            "approximate": self.approximate,
            "reference_settings": self.reference_settings,
            "candidate_settings": self.candidate_settings,
            "eval_settings": self.eval_settings,
            "notes": self.notes,
            "cached_reference": self.cached_reference,
            "seconds": round(self.seconds, 2),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        return cls(
            reference=data["reference"], candidate=data["candidate"], what=data.get("what", "quant"),
            metrics={d: DomainMetrics.from_dict(m) for d, m in data.get("metrics", {}).items()},
            samples=[Sample.from_dict(s) for s in data.get("samples", [])],
            approximate=bool(data.get("approximate")), reference_settings=data.get("reference_settings", {}),
            candidate_settings=data.get("candidate_settings", {}), eval_settings=data.get("eval_settings", {}),
            notes=list(data.get("notes", [])), cached_reference=list(data.get("cached_reference", [])),
            seconds=float(data.get("seconds", 0.0)),
        )  # fmt: skip


@dataclass
class _Plan:
    domains: list[Domain]
    texts: dict[str, str]
    prompts: list[Prompt]
    notes: list[str] = field(default_factory=list)


def make_engine(source: str, settings: RunSettings, role: str) -> Engine:
    """A local engine for a path, a remote one for a URL (typed errors for anything else)."""
    if is_url(source):
        engine: Engine = RemoteEngine(source)
        engine.role = role
        return engine
    path = Path(source).expanduser()
    if path.is_dir():
        raise EvaluationSetupError(
            f"{path} is a folder. Only GGUF files run locally; EXL2 / GPTQ / AWQ models are compared through a server.",
            "Serve the model with TabbyAPI or vLLM and give its address (http://HOST:PORT) instead of the folder.",
        )
    if not path.exists():
        raise EvaluationSetupError(f"{path} does not exist.", "Check the path and pick the file again.")
    return LocalEngine(path, settings, role)


def compare(
    reference: str,
    candidate: str,
    reference_settings: RunSettings | None = None,
    candidate_settings: RunSettings | None = None,
    domains: list[str] | None = None,
    long_context: bool = False,
    eval_settings: EvalSettings | None = None,
    samples_per_domain: int = 1,
    with_metrics: bool = True,
    with_samples: bool = True,
) -> Job[Comparison]:
    """Compare a candidate (a quant, or the same file with other settings, or a server) to a reference."""
    started = time.monotonic()
    ev = eval_settings or EvalSettings()
    ref_settings = reference_settings or RunSettings(n_ctx=EVAL_DEFAULT_CTX)
    cand_settings = candidate_settings or ref_settings
    yield Progress("Checking the two models")
    ref = make_engine(reference, ref_settings, "reference")
    cand = make_engine(candidate, cand_settings, "candidate")
    what = "remote"
    if isinstance(ref, LocalEngine) and isinstance(cand, LocalEngine):
        check_same_vocab(ref.path, cand.path)  # refuse before anything loads
        same_file = ref.path.resolve() == cand.path.resolve()
        what = "settings" if same_file else "quant"
    for engine in (ref, cand):
        if isinstance(engine, RemoteEngine):
            yield from engine.connect()

    plan = _plan(resolve_domains(domains, long_context), samples_per_domain, with_metrics, with_samples)
    workdir = make_temp_dir("qd-compare-")
    try:
        if isinstance(ref, LocalEngine) and isinstance(cand, LocalEngine):
            metrics, pieces, cached = yield from _exact(ref, cand, plan, ev, workdir)
        else:
            metrics, pieces = yield from _approximate(ref, cand, plan, ev, workdir)
            cached = []
    finally:
        remove_temp_dir(workdir)

    samples = _pair_samples(plan, pieces)
    yield Progress("Comparison finished", 1, 1)
    return Comparison(
        reference=_source_label(ref), candidate=_source_label(cand), what=what, metrics=metrics, samples=samples,
        approximate=what == "remote", reference_settings=ref_settings.to_dict(),
        candidate_settings=cand_settings.to_dict(), eval_settings=ev.to_dict(), notes=plan.notes,
        cached_reference=cached, seconds=time.monotonic() - started,
    )  # fmt: skip


def _source_label(engine: Engine) -> str:
    return str(engine.path) if isinstance(engine, LocalEngine) else engine.label


def _plan(domains: list[Domain], samples_per_domain: int, with_metrics: bool, with_samples: bool) -> _Plan:
    texts: dict[str, str] = {}
    chosen: list[Prompt] = []
    for d in domains:
        if with_metrics:
            text = eval_text(d)
            if text:
                texts[d.id] = text
        if with_samples and samples_per_domain > 0:
            chosen += prompts(d)[:samples_per_domain]
    return _Plan(domains, texts, chosen)


def _chunk_for(domain_id: str, ev: EvalSettings) -> int:
    return ev.long_chunk if domain_id == "long" else ev.chunk


def _generate_tasks(plan: _Plan, ev: EvalSettings) -> list[dict[str, Any]]:
    return [
        {
            "kind": "generate",
            "id": f"sample:{p.id}",
            "label": f"sample output ({p.domain})",
            "prompt": p.text,
            "system": p.system,
            "max_tokens": ev.sample_tokens,
        }
        for p in plan.prompts
    ]


def _pieces_from(results: dict[str, TaskResult], plan: _Plan, side: str, out: dict[str, dict[str, list[str]]]) -> None:
    for p in plan.prompts:
        r = results.get(f"sample:{p.id}")
        if r is None:
            continue
        if r.ok:
            out.setdefault(p.id, {})[side] = [str(x) for x in r.fields.get("pieces", [])]
        else:
            plan.notes.append(f"No {side} sample for {p.id}: {r.message}")


# --- both local: exact metrics, the reference cached ---


def _exact(
    ref: LocalEngine, cand: LocalEngine, plan: _Plan, ev: EvalSettings, workdir: Path
) -> Job[tuple[dict[str, DomainMetrics], dict[str, dict[str, list[str]]], list[str]]]:
    fingerprint = file_fingerprint(ref.path)
    ref_files: dict[str, Path] = {}
    ref_tasks: list[dict[str, Any]] = []
    cached: list[str] = []
    for dom, text in plan.texts.items():
        chunk = _chunk_for(dom, ev)
        key = refcache.CacheKey(
            fingerprint, refcache.text_sha256(text), refcache.logit_settings(ref.settings.to_dict()), chunk,
            ev.max_chunks, ev.top_k, ev.tail_samples,
        )  # fmt: skip
        hit, damaged = refcache.lookup_checked(key)
        if damaged:
            plan.notes.append(damaged)
        ref_files[dom] = hit or refcache.path_for(key)
        if hit is not None:
            cached.append(dom)
            continue
        ref_tasks.append(_score_task(dom, text, chunk, ev, "reference", out=ref_files[dom]))
    ref_tasks += _generate_tasks(plan, ev)
    pieces: dict[str, dict[str, list[str]]] = {}
    if ref_tasks:
        results = yield from ref.run(ref_tasks, f"Reference ({ref.label})", workdir)
        _drop_failed(results, plan, ref_files, "reference")
        _pieces_from(results, plan, "reference", pieces)

    cand_tasks = [
        _score_task(
            dom, plan.texts[dom], _chunk_for(dom, ev), ev, "candidate", out=workdir / f"cand-{dom}.npz", reference=path
        )
        for dom, path in ref_files.items()
    ]
    cand_tasks += _generate_tasks(plan, ev)
    results = yield from cand.run(cand_tasks, f"Candidate ({cand.label})", workdir)
    _pieces_from(results, plan, "candidate", pieces)
    metrics: dict[str, DomainMetrics] = {}
    for dom in ref_files:
        r = results.get(f"score:{dom}")
        if r is None:
            continue
        if not r.ok:
            if r.kind == "tokenizer":
                raise IncompatibleModelsError(
                    f"{ref.path.name} and {cand.path.name} split the {dom} text into different tokens, so they do "
                    "not share a tokenizer and cannot be compared token by token."
                )
            plan.notes.append(f"No {dom} metrics: {r.message}")
            continue
        with np.load(workdir / f"cand-{dom}.npz") as z:
            metrics[dom] = summarize(TokenStats.from_arrays(z))
    return metrics, pieces, cached


def _score_task(
    dom: str, text: str, chunk: int, ev: EvalSettings, mode: str, out: Path, reference: Path | None = None
) -> dict[str, Any]:
    return {
        "kind": "score", "id": f"score:{dom}", "label": f"scoring the {dom} text", "text": text, "chunk": chunk,
        "max_chunks": ev.max_chunks, "n_batch": max(ev.n_batch, chunk), "n_ubatch": ev.n_ubatch,
        "top_k": ev.top_k, "tail_samples": ev.tail_samples, "mode": mode, "out": str(out),
        "reference": str(reference) if reference else None,
    }  # fmt: skip


def _drop_failed(results: dict[str, TaskResult], plan: _Plan, ref_files: dict[str, Path], side: str) -> None:
    for dom in list(ref_files):
        r = results.get(f"score:{dom}")
        if r is not None and not r.ok:
            plan.notes.append(f"No {dom} metrics: {r.message}")
            del ref_files[dom]


# --- a server involved: windows both sides can score, approximate metrics ---


def _approximate(
    ref: Engine, cand: Engine, plan: _Plan, ev: EvalSettings, workdir: Path
) -> Job[tuple[dict[str, DomainMetrics], dict[str, dict[str, list[str]]]]]:
    server = ref if isinstance(ref, RemoteEngine) else cand
    assert isinstance(server, RemoteEngine)
    local = ref if isinstance(ref, LocalEngine) else cand if isinstance(cand, LocalEngine) else None
    prefix = ""
    if local is not None:
        vocab = vocab_of(local.path)
        prefix = "" if vocab.add_bos else vocab.bos_text
    windows: dict[str, list[str]] = {}
    for dom, text in plan.texts.items():
        probe = text[:2000]
        n = yield from server.count_tokens(probe)
        chars_per_token = max(0.5, len(probe) / max(1, n))
        windows[dom] = split_windows(text, _chunk_for(dom, ev), chars_per_token, ev.max_chunks)
    pieces: dict[str, dict[str, list[str]]] = {}
    scored: dict[str, dict[str, list[list[TopLogprobs]]]] = {}
    for engine in (ref, cand):
        scored[engine.role] = yield from _windows_on(engine, windows, plan, ev, workdir, pieces, prefix)
    metrics: dict[str, DomainMetrics] = {}
    for dom in windows:
        if dom not in scored["reference"] or dom not in scored["candidate"]:
            continue
        a_all: list[TopLogprobs] = []
        b_all: list[TopLogprobs] = []
        total = 0
        for wa, wb in zip(scored["reference"][dom], scored["candidate"][dom], strict=True):
            a, b = _align_sequences(wa, wb)
            a_all += a
            b_all += b
            total += max(len(wa), len(wb))
        if total and len(a_all) < MIN_ALIGNED * total:
            raise IncompatibleModelsError(
                f"The two models split the {dom} text into different tokens (only {len(a_all)} of {total} positions "
                "line up), so they do not share a tokenizer and cannot be compared token by token."
            )
        metrics[dom] = summarize(approximate_stats(a_all, b_all), approximate=True)
    if metrics:
        plan.notes.append(
            f"A server was involved: its metrics come from top-{ev.remote_top_k} log-probabilities, so KL divergence "
            "is an estimate (PPL, Δp and top-1 agreement are exact for the server's tokenization)."
        )
    return metrics, pieces


def _windows_on(
    engine: Engine, windows: dict[str, list[str]], plan: _Plan, ev: EvalSettings, workdir: Path,
    pieces: dict[str, dict[str, list[str]]], prefix: str,
) -> Job[dict[str, list[list[TopLogprobs]]]]:  # fmt: skip
    side = engine.role
    out: dict[str, list[list[TopLogprobs]]] = {}
    if isinstance(engine, LocalEngine):
        tasks: list[dict[str, Any]] = [
            {"kind": "windows", "id": f"windows:{dom}", "label": f"scoring the {dom} text", "windows": w,
             "top_k": ev.remote_top_k, "n_ctx": _chunk_for(dom, ev), "out": str(workdir / f"{side}-{dom}.json")}
            for dom, w in windows.items()
        ]  # fmt: skip
        tasks += _generate_tasks(plan, ev)
        results = yield from engine.run(tasks, f"{side.capitalize()} ({engine.label})", workdir)
        for dom in windows:
            r = results.get(f"windows:{dom}")
            if r is None or not r.ok:
                plan.notes.append(
                    f"No {dom} metrics: the {side} could not score it ({r.message if r else 'no result'})."
                )
                continue
            raw = json.loads((workdir / f"{side}-{dom}.json").read_text(encoding="utf-8"))
            out[dom] = [[TopLogprobs(**p) for p in w] for w in raw]
        _pieces_from(results, plan, side, pieces)
        return out
    try:
        for dom, w in windows.items():
            phase = f"{side.capitalize()} ({engine.label}): scoring the {dom} text"
            out[dom] = yield from engine.score_windows(w, ev.remote_top_k, phase, prefix)
    except RemoteEngineError as err:
        out.clear()
        plan.notes.append(f"No metrics from the server: {err.message} {err.fix}")
    for p in plan.prompts:
        got = yield from engine.generate(
            p.text, ev.sample_tokens, ev.seed, f"{side.capitalize()} ({engine.label}): sample {p.id}", p.id, p.system
        )
        pieces.setdefault(p.id, {})[side] = got
    return out


def _align_sequences(a: list[TopLogprobs], b: list[TopLogprobs]) -> tuple[list[TopLogprobs], list[TopLogprobs]]:
    """Pair positions of two scorings of one window by their token strings (same tokenizer: all of them)."""
    if [p.token for p in a] == [p.token for p in b]:
        return a, b
    matcher = difflib.SequenceMatcher(None, [p.token for p in a], [p.token for p in b], autojunk=False)
    left: list[TopLogprobs] = []
    right: list[TopLogprobs] = []
    for block in matcher.get_matching_blocks():
        left += a[block.a : block.a + block.size]
        right += b[block.b : block.b + block.size]
    return left, right


def split_windows(text: str, chunk: int, chars_per_token: float, max_windows: int = 0) -> list[str]:
    """Cut `text` at line or word breaks into windows of about 85% of `chunk` tokens (room for BOS)."""
    budget = max(64, int((chunk - 4) * chars_per_token * 0.85))
    out: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + budget)
        if end < len(text):
            cut = text.rfind("\n", start + budget // 2, end)
            if cut < 0:
                cut = text.rfind(" ", start + budget // 2, end)
            end = cut if cut > start else end
        piece = text[start:end]
        if len(piece.strip()) >= 16 and (end == len(text) or len(piece) >= budget // 2):
            out.append(piece)
        start = end
        if max_windows and len(out) >= max_windows:
            break
    return out


def _pair_samples(plan: _Plan, pieces: dict[str, dict[str, list[str]]]) -> list[Sample]:
    out: list[Sample] = []
    for p in plan.prompts:
        got = pieces.get(p.id, {})
        if "reference" not in got or "candidate" not in got:
            continue
        a, b = got["reference"], got["candidate"]
        tok, char = first_divergence(a, b)
        out.append(Sample(p.domain, p.id, p.shown, "".join(a), "".join(b), tok, char, len(a), len(b)))
    return out
