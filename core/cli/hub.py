"""`quantdoctor-cli hub …`: the model Hub from the command line (card, alternatives, download).

Registered by core.cli.main (see `register`). Every Hub failure is a QuantDoctorError (offline, gated, not found,
rate limited, disk full ...) so core.cli.main prints its message and fix and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from core.cli.output import print_json, whole
from core.display_text import one_line

Handler = Callable[[argparse.Namespace], int]


def _size(n: int | None) -> str:
    from core.app.hub import format_bytes

    return format_bytes(n) if n is not None else "size ?"


def _command(*args: str) -> str:
    """A quantdoctor-cli command to paste, quoted for the person's shell (core.shells): a file name from the
    Hub is the server's text, and `a;touch x;-Q8_0.gguf` must stay one argument, not run `touch`."""
    from core.shells import Terminal, join

    return join(["quantdoctor-cli", *args], Terminal.here().shell)


def cmd_card(args: argparse.Namespace) -> int:
    from core.app.hub import fetch_card

    card = fetch_card(args.repo, revision=args.revision)
    if args.json:
        print_json(card.to_dict())
        return 0
    gated = {"manual": "gated (manual approval)", "auto": "gated (license click-through)"}.get(str(card.gated), "")
    head = ", ".join(x for x in (gated, f"license: {card.license}" if card.license else "") if x)
    print(one_line(card.repo_id + (f"  ({head})" if head else "")))
    if card.quantizes:
        print(one_line(f"Quantization of: {', '.join(card.quantizes)}  (from the {card.relation_source})"))
    elif card.relation:
        print(one_line(f"{card.relation.capitalize()} of: {', '.join(card.base_models)}  (from the {card.relation_source})"))
    elif card.base_models:
        print(one_line(f"Base model: {', '.join(card.base_models)}"))
    if card.datasets:
        print(one_line(f"Datasets: {', '.join(card.datasets[:8])}"))
    if card.language:
        print(one_line(f"Languages: {', '.join(card.language[:12])}"))
    models = card.gguf_models()
    if models:
        print(f"GGUF files ({len(models)}):")
        for e in models:
            parts = f"  ({len(e.files)} parts)" if len(e.files) > 1 else ""
            print(f"  {(e.quant.name if e.quant else '?'):<9} {_size(e.size):>10}  {one_line(e.name)}{parts}")
    else:
        fq = card.folder_quant()
        total = sum(f.size or 0 for f in card.files)
        print(one_line(f"{fq.name if fq else (card.method or 'Files')}: {len(card.files)} files, {_size(total)}"))
    return 0


def cmd_alternatives(args: argparse.Namespace) -> int:
    from core.app.hub import find_alternatives, memory_fit, parse_gpu_budget, simple_fit
    from core.app.machine import detect_hardware, what_if
    from core.app.session import Session
    from core.errors import UnknownGpuError

    profile = Session().load_model(args.path)
    if args.gpu:
        try:
            fits = memory_fit(what_if(args.gpu))
        except UnknownGpuError:
            fits = simple_fit(parse_gpu_budget(args.gpu))  # a bare size ("24GB") still works
    else:
        fits = memory_fit(detect_hardware())
    alts = find_alternatives(
        profile, args.expect, ctx=args.ctx, workload=args.workload, fits=fits, peek=args.peek, limit=args.limit
    )
    if args.json:
        print_json(alts.to_dict())
        return 0
    budget = f"a {args.gpu} GPU" if args.gpu else "this machine's free memory"
    print(f"Quants of {one_line(alts.expected)} ({alts.expected_how}), for {alts.ctx:,} tokens of context with a q8_0 cache")
    print(f"on {budget}" + (" — a MoE model: Q5_K_M or better recommended" if alts.moe else "") + ":")
    for note in alts.notes:
        print(f"  note: {one_line(note)}")
    if not alts.candidates:
        print("  none found.")
        return 0
    for i, c in enumerate(alts.candidates, 1):
        name = c.file or "(whole repository)"
        qname = c.quant.name if c.quant else "?"
        print(f"{i:>3}. {qname:<13} {_size(c.size):>10}  {one_line(c.repo_id)}  {one_line(name)}")
        print(one_line(f"       {' · '.join(c.badges())} · calibration: {c.calibration}"))
    best = alts.candidates[0]
    if best.file:
        print(f"\nDownload the first with:  {_command('hub', 'download', best.repo_id, best.file)}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from core.app.hub import download, reference_file
    from core.cli.output import ProgressPrinter
    from core.errors import QuantDoctorError
    from core.progress import run_job

    repo, filename = args.repo, args.file
    if args.reference or not filename:
        if filename:
            raise QuantDoctorError("Give either a FILE or --reference, not both.", "Drop one of them.")
        from core.app.hub import find_reference

        best = find_reference(args.repo)
        if best is None:
            repo, filename = reference_file(args.repo)
            print(f"Reference: {repo} {filename}", file=sys.stderr)
        else:
            repo, filename = best.repo_id, best.filename
            print(f"Reference: {best.words()}", file=sys.stderr)
    printer = ProgressPrinter()
    try:
        done = run_job(download(repo, filename, revision=args.revision), None if args.quiet else printer)
    except KeyboardInterrupt:
        printer.close()
        print(f"The download of {filename} stopped; what arrived is kept: run the same command to resume.",
              file=sys.stderr)  # fmt: skip
        raise
    finally:
        printer.close()
    if args.json:
        print_json(done.to_dict())
        return 0
    how = "already in the cache" if done.already_cached else (
        f"resumed from {_size(done.resumed_from)}" if done.resumed_from else "downloaded"
    )  # fmt: skip
    check = ", sha256 verified" if done.verified else ""
    print(f"{done.path}  ({_size(done.size)}, {how}{check})")
    print(f"Diagnose it with:  {_command('inspect', str(done.path))}")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    """What to compare against without a higher-precision file: the best one on the Hub with its size, the
    free disk and the time to fetch it, the published table, or the settings question. Downloads nothing."""
    from core.app.hub import reference_choices

    choices = reference_choices(args.repo, args.basename, args.type)
    if args.json:
        print_json(choices.to_dict())
        return 0
    for line in choices.lines():
        print(line)
    if choices.offer is not None:
        o = choices.offer
        print(f"To fetch it:  {_command('hub', 'download', o.repo_id, o.filename)}")
    return 0


def register(subparsers: Any) -> dict[str, tuple[str, Handler]]:
    """Add `hub` with its sub-commands to the main parser; core.cli.main calls this."""
    help_text = "Ask the model Hub: a repository's card, better quants, downloads."
    hub = subparsers.add_parser("hub", help=help_text, description=help_text)
    sub = hub.add_subparsers(dest="hub_command", required=True, metavar="HUB_COMMAND")

    p = sub.add_parser("card", help="Show a repository's card: what it quantizes, license, gated, files.")
    p.add_argument("repo", help="owner/name, or the model page's address")
    p.add_argument("--revision", help="a branch, tag or commit (default: main)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.set_defaults(hub_handler=cmd_card)

    p = sub.add_parser("alternatives", help="List better quants of the model you expected, ranked for this machine.")
    p.add_argument("path", help="the model file (or folder) you have now")
    p.add_argument("--expect", help="the model you meant to run (owner/name); default: what the file quantizes")
    p.add_argument("--ctx", type=whole(1, 1 << 24), help="your context length in tokens (default 4096)")
    p.add_argument("--gpu", help="size the fit for this GPU's memory, e.g. '24GB' or 'RTX 4090 24GB'")
    p.add_argument("--workload", default="chat", help="chat, code, multilingual, math, long-documents, roleplay")
    p.add_argument(
        "--peek", type=whole(0, 50), default=0, metavar="N", help="read the headers of the top N files (Range)"
    )
    p.add_argument("--limit", type=whole(1, 1000), default=20, help="show at most this many (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a list")
    p.set_defaults(hub_handler=cmd_alternatives)

    p = sub.add_parser("download", help="Download a file into the Hugging Face cache (resumable, sha256-checked).")
    p.add_argument("repo", help="owner/name")
    p.add_argument("file", nargs="?", help="the file in the repository (see `hub card`)")
    p.add_argument("--reference", action="store_true", help="pick a Q8_0 of the same model as a reference")
    p.add_argument("--revision", help="a branch, tag or commit (default: main)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(hub_handler=cmd_download)

    p = sub.add_parser("reference", help="The best reference on the Hub for your model, with its size (no download).")
    p.add_argument("repo", nargs="?", help="your model's repository (owner/name)")
    p.add_argument("--basename", help="the model's name when no repository is known, e.g. Qwen2.5-7B-Instruct")
    p.add_argument("--type", help="your file's quant type, e.g. Q3_K_S (for the published figure)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the choices")
    p.set_defaults(hub_handler=cmd_reference)

    def dispatch(args: argparse.Namespace) -> int:
        handler: Handler = args.hub_handler
        return handler(args)

    return {"hub": (help_text, dispatch)}
