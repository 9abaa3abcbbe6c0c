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
import stat
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core import jsonfile
from core.children import make_temp_dir, remove_temp_dir
from core.errors import EvaluationSetupError, IncompatibleModelsError, RemoteEngineError
from core.evaluation import early_stop, refcache
from core.evaluation.domains import Domain, Prompt, eval_text, prompts, resolve_domains
from core.evaluation.identity import check_same_vocab, file_fingerprint, vocab_of
from core.evaluation.long_context import long_chunk
from core.evaluation.metrics import (
    DomainMetrics,
    TokenStats,
    TopLogprobs,
    approximate_stats,
    summarize,
)
from core.evaluation.overall import OverallClock
from core.evaluation.remote import RemoteEngine, is_url
from core.evaluation.runners import ChunkScored, LocalEngine, TaskDone, TaskResult
from core.evaluation.samples import Sample, first_divergence
from core.evaluation.scoring import EVAL_DEFAULT_CTX, EvalSettings
from core.evaluation.verdicts import Overall, Verdict, far_above_typical, judge, table
from core.evaluation.verdicts import overall as overall_verdict
from core.files import stat_path, user_path
from core.numbers import percent, perplexity_change, plain
from core.progress import Job, Progress, format_duration
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
    reference_type: str | None = None  # the files' quant type labels (GGUF file type), when local
    candidate_type: str | None = None
    own_texts: list[str] = field(default_factory=list)  # the person's own texts among the domains
    # How far each domain was scored (early_stop.DomainWatch.status): tokens, planned_tokens, final,
    # certain_after, cut_short, band. Empty for a comparison that predates the stop rule or used a server.
    early_stop: dict[str, dict[str, Any]] = field(default_factory=dict)
    measured_everything: bool = True  # False: domains stopped once their verdict was certain
    verdict_seconds: float | None = None  # from the start until the overall verdict was final

    def verdict(self, domain: str) -> Verdict:
        """The domain's verdict: its numbers' band, or the band the stop rule made certain when it stopped early."""
        m = self.metrics[domain]
        v = judge(m.kld_mean, m.top1_agreement)
        status = self.early_stop.get(domain)
        if not isinstance(status, dict):
            return v
        band = status.get("band")
        if status.get("final") and status.get("cut_short") and isinstance(band, str) and band != v.band:
            b = next((x for x in table().bands if x.id == band), None)
            if b is not None:
                return Verdict(b.id, b.words, "the stop rule's interval")
        return v

    def weight(self, domain: str) -> int:
        """A domain's weight in the overall verdict: its full run's tokens (the scored ones when it ran to the end)."""
        status = self.early_stop.get(domain)
        planned = status.get("planned_tokens") if isinstance(status, dict) else None
        return int(planned) if isinstance(planned, int) and planned > 0 else self.metrics[domain].tokens

    def cut_short(self) -> dict[str, dict[str, Any]]:
        """The domains scored on fewer tokens than a full run (none measured at all included)."""
        return {d: s for d, s in self.early_stop.items() if isinstance(s, dict) and s.get("cut_short")}

    def overall(self) -> Overall | None:
        """The overall verdict: the one most of the scored tokens get, with worse domains named (verdicts.overall)."""
        return overall_verdict({d: (self.verdict(d), self.weight(d)) for d in self.metrics})

    def times_typical(self, domain: str) -> float | None:
        """How far above the published loss for the candidate's type (only against a separate reference file)."""
        if self.what != "quant":
            return None
        return far_above_typical(self.candidate_type, self.metrics[domain].kld_mean)

    def verdicts_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for d in self.metrics:
            v: dict[str, Any] = {**self.verdict(d).to_dict()}
            n = self.times_typical(d)
            if n is not None:
                v["times_typical"] = round(n, 1)
            out[d] = v
        return out

    def to_dict(self) -> dict[str, Any]:
        whole = self.overall()
        return {
            "verdicts": self.verdicts_dict(),
            "verdict": whole.to_dict() if whole else None,
            "table_reference": table().reference_precision,
            "reference_type": self.reference_type,
            "candidate_type": self.candidate_type,
            "own_texts": self.own_texts,
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
            "early_stop": self.early_stop,
            "cut_short": sorted(self.cut_short()),
            "measured_everything": self.measured_everything,
            "verdict_seconds": None if self.verdict_seconds is None else round(self.verdict_seconds, 2),
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
            seconds=float(data.get("seconds", 0.0)), reference_type=data.get("reference_type"),
            candidate_type=data.get("candidate_type"), own_texts=list(data.get("own_texts", [])),
            early_stop=dict(data.get("early_stop") or {}), measured_everything=bool(data.get("measured_everything", True)),
            verdict_seconds=data.get("verdict_seconds"),
        )  # fmt: skip


@dataclass(frozen=True)
class DomainResult(Progress):
    """One domain's numbers and verdict, as soon as that domain is done (before the whole job ends)."""

    milestone: ClassVar[bool] = True
    domain: str = ""
    metrics: DomainMetrics | None = None
    verdict: Verdict | None = None
    status: dict[str, Any] = field(default_factory=dict)  # early_stop.DomainWatch.status(), when scored locally

    def line(self) -> str:
        return domain_line(self.domain, self.metrics, self.verdict) + rests_on(self.status)


def rests_on(status: dict[str, Any]) -> str:
    """ " (certain after 255 of 1,020 tokens: the rest was not scored)", or "" for a domain scored to the end."""
    planned, tokens = status.get("planned_tokens"), status.get("tokens")
    if not status.get("cut_short") or not isinstance(planned, int) or not isinstance(tokens, int):
        return ""
    if status.get("final"):
        return f" (certain after {tokens:,} of {planned:,} tokens: the rest was not scored)"
    return f" (not final: {tokens:,} of {planned:,} tokens scored, stopped once the overall verdict was certain)"


@dataclass(frozen=True)
class Provisional(Progress):
    """The overall verdict so far, after each scored chunk: `final` once no unscored chunk can change it.

    Until then it is the verdict of the chunks scored so far (marked provisional wherever it is shown),
    with `eta_final_s` the time left until it is final at the latest (when every chunk has been scored).
    """

    milestone: ClassVar[bool] = True
    verdict: Verdict | None = None
    final: bool = False
    tokens: int = 0  # tokens scored so far, all domains
    eta_final_s: float | None = None
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)  # per domain: status + "words"

    def line(self) -> str:
        if self.verdict is None:
            return "No verdict yet."
        if self.final:
            return f"Final verdict after {self.tokens:,} tokens: {self.verdict.words}."
        eta = f"; final in about {format_duration(self.eta_final_s)} at most" if self.eta_final_s is not None else ""
        return f"Provisional verdict after {self.tokens:,} tokens: {self.verdict.words} (not final yet{eta})."


def domain_line(domain: str, m: DomainMetrics | None, v: Verdict | None) -> str:
    """ "general: noticeable loss — perplexity 10.2 → 12.1 (19% higher), same top token 76% of the time"."""
    if m is None or v is None:
        return f"{domain}: not measured"
    return (
        f"{domain}: {v.words} — {perplexity_change(m.ppl_reference, m.ppl_candidate)}, the same top token "
        f"{percent(m.top1_agreement)} of the time, mean KL divergence {plain(m.kld_mean)}"
    )


@dataclass
class _Plan:
    domains: list[Domain]
    texts: dict[str, str]
    prompts: list[Prompt]
    notes: list[str] = field(default_factory=list)
    own: set[str] = field(default_factory=set)  # the person's own texts: a failure is an error, not a note


def make_engine(source: str, settings: RunSettings, role: str) -> Engine:
    """A local engine for a path, a remote one for a URL (typed errors for anything else)."""
    if is_url(source):
        engine: Engine = RemoteEngine(source)
        engine.role = role
        return engine
    path = user_path(source, EvaluationSetupError)  # `~nosuchuser`: a plain error (core.files)
    if stat.S_ISDIR(stat_path(path, "a model file", EvaluationSetupError).st_mode):  # missing, unreadable: plain
        raise EvaluationSetupError(
            f"{path} is a folder. Only GGUF files run locally; EXL2 / GPTQ / AWQ models are compared through a server.",
            "Serve the model with TabbyAPI or vLLM and give its address (http://HOST:PORT) instead of the folder.",
        )
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
    texts: dict[str, str] | None = None,
    own_prompts: list[Prompt] | None = None,
    long_context_ctx: int | None = None,
    full: bool = False,
) -> Job[Comparison]:
    """Compare a candidate (a quant, or the same file with other settings, or a server) to a reference.

    `texts` are the person's own ({name: text}, scored like the shipped texts, each its own domain);
    `own_prompts` are answered by both models like the shipped prompt sets. A `DomainResult` is
    yielded for each domain as soon as its numbers are in; every event carries the overall share done.
    Two local files are scored in rounds and each domain stops once its verdict is certain, the whole
    comparison once the overall verdict is (core.evaluation.early_stop); a `Provisional` event after
    every chunk says the verdict so far. `full` measures every chunk all the same.
    The long-context domain is scored at `eval_settings.long_chunk` when given, else at the person's context
    (`long_context_ctx`, default the candidate's n_ctx) capped by this machine's memory, with a note when capped.
    """
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

    chosen = [] if domains == [] else resolve_domains(domains, long_context)
    plan = _plan(chosen, samples_per_domain, with_metrics, with_samples)
    for name, text in (texts or {}).items():
        if name in plan.texts:
            raise EvaluationSetupError(f"Two texts are named '{name}'.", "Give your text another name.")
        plan.texts[name] = text
        plan.own.add(name)
    plan.prompts += own_prompts or []
    if not plan.texts and not plan.prompts:
        raise EvaluationSetupError("There is nothing to compare on.", "Pick a domain, a text or a prompt.")
    if not ev.long_chunk:
        ev = _at_their_context(ev, ref, cand, long_context_ctx or cand_settings.n_ctx, plan)
    workdir = make_temp_dir("qd-compare-")
    early: dict[str, dict[str, Any]] = {}
    verdict_at: float | None = None
    try:
        if isinstance(ref, LocalEngine) and isinstance(cand, LocalEngine):
            metrics, pieces, cached, rounds = yield from _exact(ref, cand, plan, ev, workdir, full)
            early = {d: _status(rounds, d) for d in rounds.ref_files}
            if rounds.final_at is not None:
                verdict_at = rounds.final_at - started
        else:
            metrics, pieces = yield from _approximate(ref, cand, plan, ev, workdir)
            cached = []
            for dom, m in metrics.items():
                v = judge(m.kld_mean, m.top1_agreement)
                yield DomainResult(f"{dom}: {v.words}", domain=dom, metrics=m, verdict=v)
    finally:
        remove_temp_dir(workdir)

    samples = _pair_samples(plan, pieces)
    yield Progress("Comparison finished", 1, 1, overall=1.0, overall_eta_s=0.0)
    result = Comparison(
        reference=_source_label(ref), candidate=_source_label(cand), what=what, metrics=metrics, samples=samples,
        approximate=what == "remote", reference_settings=ref_settings.to_dict(),
        candidate_settings=cand_settings.to_dict(), eval_settings=ev.to_dict(), notes=plan.notes,
        cached_reference=cached, seconds=time.monotonic() - started, reference_type=_type_of(ref),
        candidate_type=_type_of(cand), own_texts=sorted(plan.own), early_stop=early,
        measured_everything=full or not any(s.get("cut_short") for s in early.values()), verdict_seconds=verdict_at,
    )  # fmt: skip
    if metrics and what == "quant":
        result.notes.append(_reference_note(result))
    return result


def _at_their_context(ev: EvalSettings, ref: Engine, cand: Engine, ctx: int | None, plan: _Plan) -> EvalSettings:
    """The long-context chunk: the person's context, capped by what scoring it needs of this machine's memory."""
    wanted = ctx or EVAL_DEFAULT_CTX
    if "long" not in plan.texts:
        return replace(ev, long_chunk=wanted - wanted % 2)
    chunk, capped = long_chunk([str(e.path) for e in (ref, cand) if isinstance(e, LocalEngine)], wanted)
    if capped:
        plan.notes.append(f"Long context: {capped}")
    return replace(ev, long_chunk=chunk)


def _type_of(engine: Engine) -> str | None:
    if not isinstance(engine, LocalEngine):
        return None
    from core.model.inspection import inspect_model

    try:
        return inspect_model(str(engine.path)).nominal_type
    except Exception:  # the label is a courtesy; the comparison itself already ran on the file
        return None


def _reference_note(c: Comparison) -> str:
    t = table()
    if c.reference_type and c.reference_type.upper() not in ("F16", "BF16", "F32"):
        return f"Your reference is a {c.reference_type}, not {t.reference_precision}. {t.reference_note}"
    return f"The verdicts use llama.cpp's published figures, measured against {t.reference_precision}."


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
            "label": f"sample output ({p.id})",
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

FIRST_LOOK = 1  # chunks per domain in the first round: the first words come after one chunk
GROWTH = 4  # each later round scores up to this many times as many chunks per domain as the one before


@dataclass
class _Rounds:
    """The state of an exact comparison scored in rounds (reference, then candidate, then the stop rule)."""

    ref_files: dict[str, Path]
    watches: dict[str, early_stop.DomainWatch]
    held: dict[str, int]  # reference chunks the cache entry holds, per domain
    chunk_files: dict[str, list[str]] = field(default_factory=dict)  # candidate per-chunk numbers, in order
    announced: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)
    final_at: float | None = None
    last_shown: tuple[str, bool] | None = None

    def open_domains(self) -> list[str]:
        return [d for d, w in self.watches.items() if d in self.ref_files and not w.final and not w.complete]


def _exact(
    ref: LocalEngine, cand: LocalEngine, plan: _Plan, ev: EvalSettings, workdir: Path, full: bool
) -> Job[tuple[dict[str, DomainMetrics], dict[str, dict[str, list[str]]], list[str], _Rounds]]:
    """Score in rounds: a first look, then more chunks only where the verdict is not certain.

    The first look scores one chunk of the largest texts that hold half of the tokens (the others are
    only tokenized, `_first_look`): enough to settle a clearly bad overall verdict, the case that stops
    early. The next rounds take up to GROWTH times as many chunks of every domain still open.

    With `full`, one round scores everything (the verdicts still turn final as early as they can,
    but every chunk is measured). Samples run with the last round, or on their own afterwards.
    """
    fingerprint = file_fingerprint(ref.path)
    st = _Rounds({}, {}, {})
    alpha = early_stop.per_domain_alpha(len(plan.texts))
    never_scored: set[str] = set()
    for dom, text in plan.texts.items():
        chunk = _chunk_for(dom, ev)
        key = refcache.CacheKey(
            fingerprint, refcache.text_sha256(text), refcache.logit_settings(ref.settings.to_dict()), chunk,
            ev.max_chunks, ev.top_k, ev.tail_samples,
        )  # fmt: skip
        hit, damaged = refcache.lookup_checked(key)
        if damaged:
            plan.notes.append(damaged)
        st.ref_files[dom] = hit or refcache.path_for(key)
        st.watches[dom] = early_stop.DomainWatch(dom, chunk - 1 - chunk // 2, alpha)
        st.held[dom] = 0
        if hit is not None:
            have, total = refcache.held(hit)
            st.held[dom] = have
            if total:
                st.watches[dom].plan(total)
            if have and have >= total:
                never_scored.add(dom)
    clock = OverallClock()
    pieces: dict[str, dict[str, list[str]]] = {}
    samples_left = bool(plan.prompts)
    target: int | None = None if full else FIRST_LOOK
    ref_phase, cand_phase = f"Reference ({ref.label})", f"Candidate ({cand.label})"
    _plan_clock(clock, st, plan, ev)
    round_no = 0
    while True:
        if not full and _settled(st) is not None:
            break
        open_now = st.open_domains()
        if not open_now:
            break
        round_no += 1
        want = {d: _want(st.watches[d], target) for d in open_now}
        last = all(w is None or w >= (st.watches[d].n_chunks or w + 1) for d, w in want.items())
        with_samples = last and samples_left
        ref_tasks = [
            {**_score_task(d, plan.texts[d], _chunk_for(d, ev), ev, "reference", out=st.ref_files[d], own=d in plan.own),
             "positions": None if w is None else [st.held[d], w], "extend": True}
            for d, w in want.items() if w is None or st.held[d] < w
        ]  # fmt: skip
        if round_no == 1 and not full:
            _first_look(ref_tasks, st)
        if with_samples:
            ref_tasks += _generate_tasks(plan, ev)
        if ref_tasks:
            never_scored -= {t["name"] for t in ref_tasks if t["kind"] == "score"}
            keys = _round_keys(clock, "reference", ref_phase, ref_tasks, round_no)
            results = yield from _relay(ref.run(ref_tasks, ref_phase, workdir), "reference", clock, keys)
            _drop_failed(results, plan, st.ref_files, "reference")
            for d in want:
                r = results.get(f"score:{d}")
                if r is not None and r.ok:
                    st.held[d] = int(r.fields.get("chunks_cached", st.held[d]))
                    if st.watches[d].n_chunks is None:
                        st.watches[d].plan(int(r.fields["n_chunk"]))
                        _replan(clock, st, d)
            _pieces_from(results, plan, "reference", pieces)
        order = sorted((d for d in want if d in st.ref_files and st.held[d] > st.watches[d].chunks),
                       key=lambda d: -(st.watches[d].planned_tokens or 0))  # fmt: skip
        cand_tasks = [
            {**_score_task(d, plan.texts[d], _chunk_for(d, ev), ev, "candidate",
                           out=workdir / f"cand-{d}-{round_no}.npz", reference=st.ref_files[d], own=d in plan.own),
             "positions": [st.watches[d].chunks, min(st.held[d], want[d] or st.held[d])]}
            for d in order
        ]  # fmt: skip
        if with_samples:
            cand_tasks += _generate_tasks(plan, ev)
            samples_left = False
        keys = _round_keys(clock, "candidate", cand_phase, cand_tasks, round_no)
        results = yield from _candidate_round(cand.run(cand_tasks, cand_phase, workdir), clock, keys, st, full,
                                              stoppable=not with_samples)  # fmt: skip
        _pieces_from(results, plan, "candidate", pieces)
        for d in order:
            r = results.get(f"score:{d}")
            if r is not None and not r.ok:
                if r.kind == "tokenizer":
                    raise IncompatibleModelsError(
                        f"{ref.path.name} and {cand.path.name} split the {d} text into different tokens, so they "
                        "do not share a tokenizer and cannot be compared token by token."
                    )
                plan.notes.append(f"No {d} metrics: {r.message}")
                del st.ref_files[d]
        target = None if target is None else target * GROWTH
    for d in st.ref_files:
        if d not in st.announced and st.chunk_files.get(d):
            yield _domain_result(clock, st, d)
    if st.final_at is None and st.chunk_files:
        st.final_at = time.monotonic()
    if samples_left:  # the verdict was final before the last round: the samples on their own
        for engine, side, phase in ((ref, "reference", ref_phase), (cand, "candidate", cand_phase)):
            tasks = _generate_tasks(plan, ev)
            keys = _round_keys(clock, side, phase, tasks, round_no + 1)
            results = yield from _relay(engine.run(tasks, phase, workdir), side, clock, keys)
            _pieces_from(results, plan, side, pieces)
    metrics = {d: _metrics_of(st, d) for d in st.ref_files if st.chunk_files.get(d)}
    return metrics, pieces, sorted(never_scored & set(metrics)), st


def _first_look(ref_tasks: list[dict[str, Any]], st: _Rounds) -> None:
    """Mark the first round's reference scoring so its worker scores only the largest texts (llama_child.first_look).

    Texts that hold half of the tokens settle a clearly bad overall verdict on their own (the
    token-weighted median), so the others are only tokenized: their sizes are what the stop rule
    needs of them. Domains outside the job already have a reference chunk (the cache): they count as
    covered. A later round scores the rest when the verdict is not settled.
    """
    inside = {t["name"] for t in ref_tasks if t["kind"] == "score"}
    held = sum(w.planned_tokens or 0 for d, w in st.watches.items() if d in st.ref_files and d not in inside)
    for t in ref_tasks:
        if t["kind"] == "score":
            t["first_look"] = {"held_tokens": held}


def _want(w: early_stop.DomainWatch, target: int | None) -> int | None:
    """How many chunks of the order a domain should have after this round (None: all of them)."""
    if target is None:
        return None
    want = max(target, w.chunks + 1)
    return want if w.n_chunks is None else min(want, w.n_chunks)


def _settled(st: _Rounds) -> int | None:
    """The overall band once it is certain, and only when the domains measured so far already read it.

    The second condition keeps what is shown honest: the overall verdict a report computes from the
    domains it has numbers for is the one the stop rule found certain.
    """
    band = early_stop.overall_settled({d: st.watches[d] for d in st.ref_files})
    if band is None:
        return None
    shown = _shown_overall(st)
    ids = [b.id for b in table().bands]
    return band if shown is not None and ids.index(shown.verdict.band) == band else None


def _shown_overall(st: _Rounds) -> Overall | None:
    per = {d: (_shown_verdict(st, d), st.watches[d].planned_tokens or st.watches[d].tokens)
           for d in st.ref_files if st.watches[d].chunks}  # fmt: skip
    return overall_verdict(per)


def _shown_verdict(st: _Rounds, d: str) -> Verdict:
    w = st.watches[d]
    if w.final_band is not None:
        return early_stop.band_verdict(w.final_band, "the stop rule's interval")
    return judge(w.kld_sum / w.tokens, w.hits / w.tokens)


def _candidate_round(
    run: Job[dict[str, TaskResult]], clock: OverallClock, keys: dict[str, tuple[str, str]], st: _Rounds, full: bool,
    stoppable: bool,
) -> Job[dict[str, TaskResult]]:  # fmt: skip
    """Relay a candidate run; feed each scored chunk to the stop rule; end the run once the verdict is settled."""
    results: dict[str, TaskResult] = {}
    try:
        while True:
            try:
                event = next(run)
            except StopIteration as stop:
                results = stop.value
                return results
            _tick(clock, "candidate", keys, event)
            if not isinstance(event, ChunkScored):
                yield clock.stamp(event)
                continue
            d = event.task_id.removeprefix("score:")
            w = st.watches[d]
            w.add(event.kld_sum, event.hits, event.tokens)
            st.chunk_files.setdefault(d, []).append(event.file)
            if (w.complete or (w.final and not full)) and d not in st.announced:
                _drop_rest(clock, d, w)  # a full run announces a domain with all its numbers, when it is done
                yield _domain_result(clock, st, d)
            settled = _settled(st)
            if settled is not None and st.final_at is None:
                st.final_at = time.monotonic()
            yield from _provisional(clock, st, settled)
            if settled is not None and not full and stoppable:
                for other, ow in st.watches.items():
                    _drop_rest(clock, other, ow)
                return results  # closing the run ends its worker: the rest is not needed
    finally:
        run.close()


def _provisional(clock: OverallClock, st: _Rounds, settled: int | None) -> Job[None]:
    shown = _shown_overall(st)
    if shown is None:
        return
    final = settled is not None or all(w.final or w.complete for d, w in st.watches.items() if d in st.ref_files)
    left = [k for k, wk in clock.work.items() if wk.kind == "score" and wk.done < wk.total]
    domains = {d: {**w.status(), "words": _shown_verdict(st, d).words} for d, w in st.watches.items() if w.chunks}
    tokens = sum(w.tokens for w in st.watches.values())
    eta = 0.0 if final else clock.seconds_left(left)
    yield clock.stamp(Provisional(
        "Final verdict" if final else "Provisional verdict", tokens, None, "tokens",
        verdict=shown.verdict, final=final, tokens=tokens, eta_final_s=eta, domains=domains,
    ))  # fmt: skip


def _domain_result(clock: OverallClock, st: _Rounds, d: str) -> Progress:
    st.announced.add(d)
    m = _metrics_of(st, d)
    v = (
        _shown_verdict(st, d)
        if st.watches[d].final and not st.watches[d].complete
        else judge(m.kld_mean, m.top1_agreement)
    )
    return clock.stamp(DomainResult(f"{d}: {v.words}", domain=d, metrics=m, verdict=v, status=_status(st, d)))


def _status(st: _Rounds, d: str) -> dict[str, Any]:
    w = st.watches[d]
    lo, hi = w.band_range()
    return {**w.status(), "band": table().bands[lo].id if lo == hi else None}


def _metrics_of(st: _Rounds, d: str) -> DomainMetrics:
    """Exactly llama-perplexity's figures for the chunks scored: their per-token numbers, concatenated."""
    parts = []
    for f in st.chunk_files.get(d, []):
        with np.load(f) as z:
            parts.append(TokenStats.from_arrays(z))
    return summarize(TokenStats.concat(parts))


def _drop_rest(clock: OverallClock, d: str, w: early_stop.DomainWatch) -> None:
    """A domain that is settled needs no more scoring on either side: take it off the clock."""
    for side in ("reference", "candidate"):
        work = clock.work.get(f"{side}:score:{d}")
        if work is not None:
            work.total = max(work.done, 1.0)


def _plan_clock(clock: OverallClock, st: _Rounds, plan: _Plan, ev: EvalSettings) -> None:
    """Plan the whole job as a full run would do it; settled domains are taken off as the job goes."""
    for side in ("reference", "candidate"):
        clock.plan(f"{side}:load:1", side, "load", 1)
        for d in plan.texts:
            chunk = _chunk_for(d, ev)
            n = st.watches[d].n_chunks or (len(plan.texts[d]) // 4 // chunk or 1)
            n = min(n, ev.max_chunks) if ev.max_chunks else n
            if side == "reference":
                n -= min(n, st.held[d])
            clock.plan(f"{side}:score:{d}", side, "score", max(1, n * (chunk - 1 - chunk // 2)))
        for p in plan.prompts:
            clock.plan(f"{side}:sample:{p.id}", side, "generate", ev.sample_tokens)


def _replan(clock: OverallClock, st: _Rounds, d: str) -> None:
    """The reference told how many chunks the text has: size the candidate's work on it."""
    work = clock.work.get(f"candidate:score:{d}")
    if work is not None and st.watches[d].planned_tokens:
        work.total = float(st.watches[d].planned_tokens or 1)


def _round_keys(
    clock: OverallClock, side: str, phase: str, tasks: list[dict[str, Any]], round_no: int
) -> dict[str, tuple[str, str]]:
    """{the phase text a task's events carry: (its clock key, its task id)}; a later round's load is planned."""
    load = f"{side}:load:{round_no}"
    if load not in clock.work:
        clock.plan(load, side, "load", 1)
    keys: dict[str, tuple[str, str]] = {}
    for t in tasks:
        key = f"{side}:score:{t['name']}" if t["kind"] == "score" else f"{side}:{t['id']}"
        keys[f"{phase}: {t.get('label', t['id'])}"] = (key, f"{t['id']}@{round_no}")
    keys[f"{phase}: loaded"] = (load, "")
    return keys


def _tick(clock: OverallClock, side: str, keys: dict[str, tuple[str, str]], event: Progress) -> None:
    """Move the clock for one event of a run: work done so far in this run's task, on top of earlier rounds."""
    hit = keys.get(event.phase)
    if hit is None:
        if event.phase.endswith(": loaded"):
            for key, _tid in keys.values():
                if key.startswith(f"{side}:load:"):
                    clock.advance(key, 1)
        return
    key, tid = hit
    if not tid:
        clock.advance(key, 1)
        return
    for k, _t in keys.values():  # the first event of a task means this run's model has loaded
        if k.startswith(f"{side}:load:"):
            clock.advance(k, 1)
    work = clock.work.get(key)
    if work is None or isinstance(event, TaskDone):
        if isinstance(event, TaskDone) and work is not None and key.startswith(f"{side}:sample:"):
            clock.advance(key, float("inf"))
        return
    base = clock.base.setdefault(tid, work.done)
    clock.advance(key, base + event.done)


def _relay(
    run: Job[dict[str, TaskResult]], side: str, clock: OverallClock, keys: dict[str, tuple[str, str]]
) -> Job[dict[str, TaskResult]]:
    """Pass a run's events on, stamped with the overall share and ETA."""
    try:
        while True:
            try:
                event = next(run)
            except StopIteration as stop:
                result: dict[str, TaskResult] = stop.value
                return result
            _tick(clock, side, keys, event)
            yield clock.stamp(event)
    finally:
        run.close()


def _score_task(
    dom: str,
    text: str,
    chunk: int,
    ev: EvalSettings,
    mode: str,
    out: Path,
    reference: Path | None = None,
    own: bool = False,
) -> dict[str, Any]:
    return {
        "kind": "score", "id": f"score:{dom}", "name": dom, "label": f"scoring the {dom} text", "text": text,
        "chunk": chunk, "max_chunks": ev.max_chunks, "n_batch": max(ev.n_batch, chunk), "n_ubatch": ev.n_ubatch,
        "top_k": ev.top_k, "tail_samples": ev.tail_samples, "mode": mode, "out": str(out),
        "reference": str(reference) if reference else None, "min_chunks": 2 if own else 1,
        "fill": dom == "long",
    }  # fmt: skip


def _drop_failed(results: dict[str, TaskResult], plan: _Plan, ref_files: dict[str, Path], side: str) -> None:
    for dom in list(ref_files):
        r = results.get(f"score:{dom}")
        if r is not None and not r.ok and dom in plan.own:
            raise EvaluationSetupError(r.message, "Give a longer text, or score it in smaller chunks (--chunk N).")
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
            # written by our own worker, but read through the JSON door all the same (bounded, typed errors)
            raw = jsonfile.load(workdir / f"{side}-{dom}.json", f"the {side}'s {dom} windows", EvaluationSetupError,
                                expect=list, max_bytes=1 << 30)  # fmt: skip
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
