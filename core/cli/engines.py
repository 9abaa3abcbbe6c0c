"""`quantdoctor-cli engines`: which engines run on this machine, and what each has loaded."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.output import print_json
from core.display_text import one_line
from core.textnum import SECONDS, Quantity, decimal_argument, whole_argument


def cmd_engines(args: argparse.Namespace) -> int:
    from core.app.engines import parse_address, scan, usual_log_files

    addresses = [parse_address(a) for a in args.address or ()]  # a typed error for anything off this machine
    result = scan(ports=args.port or (), seconds=args.seconds, addresses=addresses)
    if args.json:
        print_json(result.to_dict())
        return 0
    if not result.found:
        print("No engine answered on this machine (Ollama, LM Studio, llama-server, koboldcpp, "
              "text-generation-webui, TabbyAPI, vLLM at their default ports, or on any port your own "
              f"apps listen on; looked at {', '.join(map(str, result.ports)) or 'none'}).")  # fmt: skip
    for n in result.notes:
        print(f"note: {one_line(n)}")
    for e in result.found:
        print(one_line(e.summary()))
        for m in e.models:
            if not m.loaded:
                continue
            extra = [f"trained for {m.n_ctx_train:,}" if m.n_ctx_train else "", m.quantization or "", m.path or ""]
            print(f"  loaded: {one_line(m.name)}" + "".join(f"; {one_line(x)}" for x in extra if x))
        if e.setup is not None:
            print(f"  settings: {one_line(e.setup.run.describe())}")
            if not e.setup.sampling.empty:
                print(f"  sampling: {one_line(e.setup.sampling.describe())}")
        for line in e.warnings:
            print(f"  ! {one_line(line)}")
        for line in e.missing:
            print(f"  ? {one_line(line)}")
    for p in result.problems:
        print(f"note: {one_line(p)}")
    for engine, paths in usual_log_files().items():
        for path in paths:
            print(f"log: {engine}: {one_line(path)}  (quantdoctor-cli diagnose --from-log {one_line(path)})")
    return 0


_PORT = Quantity("a port", "", 1, 65535)  # one to look at: port 0 is nobody's


def register(sub: Any) -> dict[str, Any]:
    help_text = "List the engines running on this machine (loopback only: their usual ports and any port your own apps listen on) and the model each has loaded."
    p = sub.add_parser("engines", help=help_text, description=help_text)
    p.add_argument("--port", type=whole_argument(_PORT), action="append", metavar="N",
                   help="also look at this port (repeatable)")  # fmt: skip
    p.add_argument("--address", action="append", metavar="URL",
                   help="also look at this address on this machine, e.g. http://127.0.0.1:8091 (repeatable)")
    p.add_argument("--seconds", type=decimal_argument(SECONDS), default=2.0, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print JSON")
    return {"engines": (help_text, cmd_engines)}
