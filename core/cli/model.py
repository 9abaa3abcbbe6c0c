"""`inspect` and `demo`: what is in a model file, and the demo model with its damaged copies."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.output import ProgressPrinter, print_json
from core.progress import run_job


def cmd_inspect(args: argparse.Namespace) -> int:
    from core.model.inspection import inspect_model
    from core.model.profile_text import profile_summary

    profile = inspect_model(args.path)
    if args.json:
        print_json(profile.to_dict(with_tensors=args.tensors))
    else:
        print(profile_summary(profile))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from core.app.demo import prepare_demo
    from core.model.inspection import inspect_model

    printer = ProgressPrinter()
    try:
        demo = run_job(prepare_demo(), None if args.quiet else printer)
    finally:
        printer.close()
    rows = [("reference", demo.reference), *demo.candidates.items()]
    if args.json:
        out = demo.to_dict()
        out["files"] = [
            {"role": role, "path": str(path), "nominal_type": (p := inspect_model(path)).nominal_type,
             "effective_bpw": round(p.effective_bpw, 4), "file_size": p.file_size}
            for role, path in rows
        ]  # fmt: skip
        print_json(out)
        return 0
    print(f"Demo models are ready in {demo.folder}:")
    for role, path in rows:
        p = inspect_model(path)
        print(f"  {role:<10} {p.nominal_type:<6} {p.effective_bpw:5.2f} bpw  {path}")
    print("\nTry:  quantdoctor-cli inspect " + str(demo.candidates.get("Q2_0", demo.reference)))
    return 0


def register(sub: Any) -> dict[str, Any]:
    commands = {
        "inspect": ("Read a model file or folder and describe its quantization.", cmd_inspect),
        "demo": ("Prepare the demo model and its degraded copies; print their paths.", cmd_demo),
    }
    p = sub.add_parser("inspect", help=commands["inspect"][0], description=commands["inspect"][0])
    p.add_argument("path", help="a .gguf file (any part of a split model), or an EXL2 / GPTQ / AWQ folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.add_argument("--tensors", action="store_true", help="with --json, include every tensor")
    p = sub.add_parser("demo", help=commands["demo"][0], description=commands["demo"][0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return commands
