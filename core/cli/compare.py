"""`quantdoctor-cli compare`: run a quant and a reference side by side and measure the loss.

Registered by core.cli.main (see `register`). Progress goes to stderr; the result to stdout as
a summary, or as JSON with `--json`; `--report FILE.html` also writes a self-contained page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.cli.output import print_json, whole
from core.errors import EvaluationSetupError, NotEnoughMemoryError
from core.progress import Progress, run_job

HELP = "Run a quant and a reference on the same texts and prompts; measure the loss (PPL, KLD, top-1)."


def register(subparsers: Any) -> dict[str, tuple[str, Any]]:
    from core.app.compare import ALIASES, DOMAINS
    from core.cli.run_options import add_run_arguments
    from core.settings.run import CACHE_TYPES

    p = subparsers.add_parser("compare", help=HELP, description=HELP)
    p.add_argument("--reference", metavar="PATH|URL",
                   help="the higher-precision model: a .gguf file, or an OpenAI-compatible server's URL")  # fmt: skip
    p.add_argument("--file-or-settings", action="store_true",
                   help="is it the file or my settings? Run --candidate twice: with your -c/-ctk/-ctv/-fa and with an "
                        "f16 cache, against --reference (default: the file itself), scored at your context")  # fmt: skip
    p.add_argument("--candidate", metavar="PATH|URL",
                   help="the quant to judge (default: the reference file itself, with --candidate-cache-type)")  # fmt: skip
    add_run_arguments(p, title="how llama.cpp runs both models (default: context 4096, f16 cache, all GPU layers)")
    p.add_argument("--cache-type", choices=CACHE_TYPES, metavar="T",
                   help="KV cache type (K and V) for both models, like -ctk T -ctv T (default f16)")  # fmt: skip
    p.add_argument("--candidate-cache-type", choices=CACHE_TYPES, metavar="T",
                   help="KV cache type for the candidate, e.g. q4_0 against the reference's f16 to isolate the cache")  # fmt: skip
    p.add_argument("--domains", nargs="+", metavar="DOMAIN", choices=[*DOMAINS, *ALIASES],
                   help="which domains (default: general code multilingual math)")  # fmt: skip
    p.add_argument("--long-context", action="store_true",
                   help="add the long-context domain: a long document scored in one chunk of your context (-c; 8192 "
                        "when not given), capped by this machine's memory (said so when capped)")  # fmt: skip
    p.add_argument("--text", action="append", default=[], metavar="NAME=FILE",
                   help="your own text, scored like the shipped ones as its own domain (repeatable; e.g. "
                        "mydocs=notes.md); needs at least 2 × the chunk size in tokens. With --text or --prompt and "
                        "no --domains, only yours are used")  # fmt: skip
    p.add_argument("--prompt", action="append", default=[], metavar="TEXT",
                   help="your own prompt, answered by both models side by side (repeatable)")  # fmt: skip
    p.add_argument("--prompts", metavar="FILE",
                   help='your prompts from a file: one a line, or JSON ["…", {"prompt": "…", "system": "…"}]')  # fmt: skip
    p.add_argument(
        "--chunk", type=whole(16, 1 << 20), default=512, help="evaluation chunk in tokens, as llama-perplexity -c (512)"
    )
    p.add_argument(
        "--max-chunks", type=whole(0, 1 << 20), default=0, help="score at most this many chunks per text (0: all)"
    )
    p.add_argument("--samples", type=whole(0, 100), default=1, help="sample prompts per domain (default 1; 0: none)")
    p.add_argument("--sample-tokens", type=whole(1, 4096), default=96, help="tokens per sample output (default 96)")
    p.add_argument("--no-metrics", action="store_true", help="only the sample outputs")
    p.add_argument("--full", action="store_true",
                   help="measure every chunk of every domain, even once the verdict is certain (by default a domain "
                        "stops as soon as no unscored chunk could change its verdict, and the comparison once the "
                        "overall verdict is certain; the numbers are always those of the tokens scored)")  # fmt: skip
    p.add_argument("--gpu-scoring", choices=("ask", "yes", "no"), default="ask",
                   help="score on this machine's GPU with llama.cpp's build for it (CUDA on Windows, Metal on Apple "
                        "Silicon, Vulkan otherwise): 'ask' shows its size and asks on a terminal before fetching it "
                        "(default; a build fetched before is used as it is), 'yes' fetches it after printing its size, "
                        "'no' scores on the CPU. Without a GPU, or when the build fails, the CPU path says why")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.add_argument("--report", metavar="FILE.html", help="also write a self-contained HTML report")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--plan", action="store_true",
                   help="only say how long the comparison would take here and its peak memory (and, when a model "
                        "cannot be compared on this computer, what would work); load nothing")  # fmt: skip
    return {"compare": (HELP, cmd_compare)}


def choose_scorer(mode: str, quiet: bool = False) -> str:
    """Set the scorer for this run (core.app.gpu): the GPU build when the person agrees to its size; returns
    the line that says where the comparison will be scored."""
    from core.app import gpu
    from core.app.machine import detect_hardware
    from core.cli.output import ProgressPrinter

    if mode == "no":
        return gpu.current().words()
    found = gpu.offer_for(detect_hardware())
    if isinstance(found, gpu.Scorer):
        gpu.use(found)
        return found.words()
    agreed = found.cached or mode == "yes"
    if not agreed and sys.stdin.isatty() and sys.stderr.isatty():
        sys.stderr.write(gpu.question(found) + " [y/N] ")
        sys.stderr.flush()
        agreed = sys.stdin.readline().strip().lower() in ("y", "yes")
    elif not agreed:
        return gpu.not_asked(found).words() + " Give --gpu-scoring yes to fetch it."
    if not agreed:
        return gpu.decline(found).words()
    if not found.cached and not quiet:
        sys.stderr.write(f"Fetching {found.words()}\n")
    printer = ProgressPrinter()
    try:
        chosen = run_job(gpu.accept(found, found.size), None if quiet else printer)
    finally:
        printer.close()
    return chosen.words()


def cmd_compare(args: argparse.Namespace) -> int:
    from core.app.compare import (
        ALIASES,
        DEFAULT_DOMAINS,
        EVAL_DEFAULT_CTX,
        DomainResult,
        EvalSettings,
        Provisional,
        compare,
        measured_speed,
        prompts_from,
        read_own_texts,
        text_summary,
    )
    from core.app.compare_plan import preflight, remember_speed, remembered_speed
    from core.app.report import write_comparison_report
    from core.cli.output import ProgressPrinter
    from core.cli.run_options import run_settings_from_args

    if args.file_or_settings:
        return _file_or_settings(args)
    if args.reference is None:
        raise EvaluationSetupError("Say what to compare with: the reference.", "Give --reference PATH|URL.")
    candidate = args.candidate
    if candidate is None:
        if not args.candidate_cache_type:
            raise EvaluationSetupError(
                "Say what to compare the reference with.",
                "Give --candidate PATH|URL, or --candidate-cache-type T to compare the reference file with itself "
                "under another KV cache type.",
            )
        candidate = args.reference
    wants_long = args.long_context or any(ALIASES.get(d, d) == "long" for d in args.domains or [])
    both = {"cache_type_k": args.cache_type, "cache_type_v": args.cache_type} if args.cache_type else {}
    ref_settings = run_settings_from_args(args, n_ctx=8192 if wants_long else EVAL_DEFAULT_CTX, **both)
    cand_settings = ref_settings.with_cache(args.candidate_cache_type) if args.candidate_cache_type else ref_settings
    if args.sample_tokens < 1 or args.samples < 0:
        raise EvaluationSetupError("--samples must be 0 or more and --sample-tokens at least 1.")
    ev = EvalSettings(chunk=args.chunk, max_chunks=args.max_chunks, sample_tokens=args.sample_tokens)
    texts = read_own_texts(args.text)
    own_prompts = prompts_from(args.prompt, args.prompts)
    domains = args.domains
    if domains is None and (texts or own_prompts) and not args.long_context:
        domains = []  # only the person's own texts and prompts
    if args.report:
        report = Path(args.report)
        if not report.parent.is_dir():
            raise EvaluationSetupError(f"The folder for the report, {report.parent}, does not exist.")
    plan = preflight(
        args.reference, candidate, ref_settings, domains if domains is not None else list(DEFAULT_DOMAINS),
        args.long_context, ev, len(own_prompts), texts, remembered_speed(),
    )  # fmt: skip
    if args.plan:
        if args.json:
            print_json(plan.to_dict())
        else:
            print("\n".join(plan.words()))
        return 0 if plan.fits else 1
    if not plan.fits:  # said before anything is loaded, with what would work
        raise NotEnoughMemoryError(" ".join(plan.problems()), "What would work: " + "; or ".join(plan.options))
    if not args.quiet:
        sys.stderr.write("\n".join(plan.words()) + "\n")
    where = choose_scorer(args.gpu_scoring, args.quiet)
    if not args.quiet:
        sys.stderr.write(where + "\n")
    printer = ProgressPrinter()
    on_progress = None if args.quiet else printer
    said: list[tuple[str, bool]] = []

    def show(event: Progress) -> None:
        if isinstance(event, DomainResult) and not args.quiet:
            printer.close()
            sys.stderr.write(f"Done: {event.line()}\n")  # each domain as soon as it is done
        if isinstance(event, Provisional):
            # the first words after the first chunk, then again only when the verdict or its finality changes
            now = (event.verdict.band if event.verdict else "", event.final)
            if not args.quiet and (not said or said[-1] != now):
                printer.close()
                sys.stderr.write(f"{event.line()}\n")
            said.append(now)
            return
        if on_progress is not None:
            on_progress(event)

    job = compare(
        args.reference, candidate, ref_settings, cand_settings, domains, args.long_context, ev,
        samples_per_domain=args.samples, with_metrics=not args.no_metrics, with_samples=args.samples > 0,
        texts=texts, own_prompts=own_prompts, full=args.full,
    )  # fmt: skip
    try:
        result = run_job(job, show)
    finally:
        job.close()
        printer.close()
    if result.seconds and not args.max_chunks:  # this machine's speed, for the next estimate (window or CLI)
        remember_speed(measured_speed(result.seconds, plan.sizes, list(plan.domains), args.long_context, ev,
                                      len(own_prompts), texts))  # fmt: skip
    if args.report:
        write_comparison_report(result, Path(args.report))
    if args.json:
        print_json(result.to_dict())
    else:
        sys.stdout.write(text_summary(result))
        if args.report:
            print(f"Report written to {args.report}")
    return 0


def _file_or_settings(args: argparse.Namespace) -> int:
    """`compare --file-or-settings`: the person's file with their settings and with safe ones."""
    from core.app.compare import EVAL_DEFAULT_CTX, DomainResult, EvalSettings, file_or_settings, read_own_texts
    from core.cli.output import ProgressPrinter
    from core.cli.run_options import run_settings_from_args

    model = args.candidate or args.reference
    if model is None:
        raise EvaluationSetupError("Say which file to test.", "Give --candidate YOUR.gguf (and your -c -ctk -ctv -fa).")
    if args.candidate is None:
        args.reference = None
    theirs = run_settings_from_args(args, n_ctx=EVAL_DEFAULT_CTX)
    ev = EvalSettings(chunk=args.chunk, max_chunks=args.max_chunks, sample_tokens=args.sample_tokens)
    texts = read_own_texts(args.text)
    domains = args.domains if args.domains is not None else ([] if texts else None)
    printer = ProgressPrinter()

    def show(event: Progress) -> None:
        if args.quiet:
            return
        if isinstance(event, DomainResult):
            printer.close()
            sys.stderr.write(f"Done: {event.line()}\n")
        printer(event)

    job = file_or_settings(model, theirs, args.reference, ev, domains, texts)
    try:
        trial = run_job(job, show)
    finally:
        job.close()
        printer.close()
    if args.json:
        print_json(trial.to_dict())
    else:
        print(trial.explanation)
        if trial.capped:
            print(trial.capped)
    return 0
