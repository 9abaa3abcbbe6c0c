"""`quantdoctor-cli`: the headless face of Quant Doctor (also `python -m core`).

Each command prints plain words by default and JSON with `--json`. Anything the person can fix
(a broken file, no network) ends with exit code 2 and a message that says what to do — never a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from core import __version__
from core.children import RUN_MODULE_FLAG, install_signal_cleanup, run_module_from_argv
from core.cli import compare, diagnose, engines, hardware, hub, model
from core.cli.output import install_safe_streams, print_json
from core.cli.run_options import normalise_argv
from core.display_text import one_line
from core.errors import QuantDoctorError

COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {}
_COMMAND_MODULES = (model, hardware, diagnose, compare, hub, engines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantdoctor-cli",
        description="Find out why a quantized local LLM got worse, and what to do about it.",
    )
    parser.add_argument("--version", action="version", version=f"Quant Doctor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMAND_MODULES:
        COMMANDS.update(module.register(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == [RUN_MODULE_FLAG] and len(raw) > 1:  # a bundled child process (core.children)
        run_module_from_argv(raw[1:])
        return 0
    install_safe_streams()
    install_signal_cleanup()
    args = build_parser().parse_args(normalise_argv(raw))
    try:
        return COMMANDS[args.command][1](args)
    except QuantDoctorError as err:
        if getattr(args, "json", False):
            print_json(err.to_dict())
        print(f"Error: {one_line(err.message)}\nFix: {one_line(err.fix)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Cancelled.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `quantdoctor-cli inspect --json | head`: the reader left, which is not an error. Point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        return 0


if __name__ == "__main__":
    sys.exit(main())
