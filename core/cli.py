"""`quantdoctor-cli`: the headless face of Quant Doctor (also `python -m core`).

Each command prints plain words by default and JSON with `--json`. Anything the person can fix
(a broken file, no network) ends with exit code 2 and a message that says what to do — never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from core import __version__
from core.children import RUN_MODULE_FLAG, run_module_from_argv
from core.cli_output import print_json
from core.errors import QuantDoctorError
from core.progress import Progress, run_job


class _ProgressPrinter:
    """Progress on stderr: a rewritten line on a terminal, a line per phase otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_phase = ""
        self.width = 0

    def __call__(self, event: Progress) -> None:
        if self.tty:
            text = event.describe()[:100]
            sys.stderr.write("\r" + text.ljust(self.width))
            self.width = len(text)
            sys.stderr.flush()
        elif event.phase != self.last_phase:
            sys.stderr.write(event.phase + "\n")
        self.last_phase = event.phase

    def close(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")


def cmd_inspect(args: argparse.Namespace) -> int:
    from core.modelfile import inspect_model
    from core.summary import profile_summary

    profile = inspect_model(args.path)
    if args.json:
        print_json(profile.to_dict(with_tensors=args.tensors))
    else:
        print(profile_summary(profile))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from core.demo import prepare_demo
    from core.modelfile import inspect_model

    printer = _ProgressPrinter()
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


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "inspect": ("Read a model file or folder and describe its quantization.", cmd_inspect),
    "demo": ("Prepare the demo model and its degraded copies; print their paths.", cmd_demo),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantdoctor-cli",
        description="Find out why a quantized local LLM got worse, and what to do about it.",
    )
    parser.add_argument("--version", action="version", version=f"Quant Doctor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("inspect", help=COMMANDS["inspect"][0], description=COMMANDS["inspect"][0])
    p.add_argument("path", help="a .gguf file (any part of a split model), or an EXL2 / GPTQ / AWQ folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.add_argument("--tensors", action="store_true", help="with --json, include every tensor")
    p = sub.add_parser("demo", help=COMMANDS["demo"][0], description=COMMANDS["demo"][0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    for module in _COMMAND_MODULES:
        COMMANDS.update(module.register(sub))
    return parser


def _command_modules() -> list[Any]:
    """Other command groups live in their own modules; each has `register(subparsers) -> COMMANDS`."""
    import importlib

    found = []
    for name in ("core.cli_hardware", "core.cli_diagnose", "core.cli_eval", "core.cli_hub"):
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


_COMMAND_MODULES = _command_modules()


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == [RUN_MODULE_FLAG] and len(raw) > 1:  # a bundled child process (core.children)
        run_module_from_argv(raw[1:])
        return 0
    args = build_parser().parse_args(raw)
    try:
        return COMMANDS[args.command][1](args)
    except QuantDoctorError as err:
        if getattr(args, "json", False):
            print_json(err.to_dict())
        print(f"Error: {err.message}\nFix: {err.fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Cancelled.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
