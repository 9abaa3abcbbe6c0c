"""`quantdoctor-cli diagnose`: the ranked checks from the command line."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

from core.app.engines import ReadsFrom, connect_setup, engine_ids, log_setup, readers
from core.app.session import Session
from core.app.types import CONFIDENCE_WORDS, WORKLOADS, Setup, symptom_ids, symptoms
from core.app.words import bpw_words
from core.cli.observe import add_observation_arguments, observations_from_args
from core.cli.run_options import add_run_arguments, given_run_values
from core.display_text import one_line
from core.errors import SetupError
from core.severity import GLYPHS, NOT_CHECKED_GLYPH


def add_setup_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p, title="your settings (flags win over imported settings)")
    g = p.add_argument_group("what you are doing")
    g.add_argument(
        "--symptom", action="append", choices=symptom_ids(), metavar="WHAT",
        help="what went wrong (repeatable): " + ", ".join(symptom_ids()) + "; the causes of it rank first",
    )  # fmt: skip
    g.add_argument("--workload", choices=WORKLOADS, help="what you use the model for (default chat)")
    g.add_argument(
        "--expect", metavar="NAME", help="the model you expected, e.g. Qwen/Qwen3-8B or 'the instruct version'"
    )
    g.add_argument("--engine", choices=engine_ids(), help="what runs the model (default llama.cpp)")
    src = p.add_mutually_exclusive_group()
    # every engine's settings readers (core.engines.<engine>.ENGINE.readers): --from-command, --from-ollama...
    for r in readers():
        if r.source is ReadsFrom.ENVIRONMENT:
            src.add_argument(f"--from-{r.option}", action="store_true", help=r.help)
            p.add_argument(f"--{r.file_option}", metavar="FILE", help=f"with --from-{r.option}: {r.file_title.lower()}")
        else:
            src.add_argument(f"--from-{r.option}", metavar="CMD" if r.source is ReadsFrom.TEXT else "FILE", help=r.help)
    src.add_argument(
        "--from-engine",
        metavar="ENGINE",
        help="ask the running engine: ollama[:MODEL], lmstudio[:MODEL], llama-server[:URL], koboldcpp, "
        "text-generation-webui, tabbyapi, vllm (this machine only)",
    )
    src.add_argument("--from-log", metavar="FILE", help="read an engine's log: llama.cpp, Ollama, LM Studio, koboldcpp")


def _given(args: argparse.Namespace) -> dict[str, Any]:
    flags: dict[str, Any] = {"workload": args.workload, "expected": args.expect, "engine": args.engine}
    return {**given_run_values(args), **{k: v for k, v in flags.items() if v is not None}}


def setup_from_args(args: argparse.Namespace) -> Setup:
    given = _given(args)
    for r in readers():
        value = getattr(args, f"from_{r.option}".replace("-", "_"), None)
        if value:
            source = getattr(args, r.file_option.replace("-", "_"), None) if r.source is ReadsFrom.ENVIRONMENT else value
            return r.read(source, **given)
    return Setup.of(source="command-line flags", **given)


def evidence_from_args(args: argparse.Namespace, setup: Setup) -> tuple[Setup, Any]:
    """With --from-engine / --from-log: the engine's own settings (flags still win) and what else it said."""
    if getattr(args, "from_engine", None):
        return connect_setup(args.from_engine, _given(args), model=args.path)
    if getattr(args, "from_log", None):
        return log_setup(args.from_log, _given(args), model=args.path)
    return setup, None


def load_hardware(args: argparse.Namespace) -> Any:
    from core.cli.hardware import hardware_from_args

    return hardware_from_args(args)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from core.app.report import to_json, write_diagnosis_report

    setup, evidence = evidence_from_args(args, setup_from_args(args))
    path = args.path or setup.model_path
    if not path:
        raise SetupError(
            "No model given.",
            "Name the model file, or use --from-command with a command that has -m"
            + (" (the engine did not say where its model file is)." if evidence else "."),
        )
    session = Session()
    session.set_setup(setup, evidence)
    session.set_symptoms(args.symptom or ())
    session.load_model(path)
    if args.measurements:
        session.load_comparison(args.measurements)
    if args.hub:
        session.ask_hub()
    session.set_hardware(load_hardware(args))
    session.set_observations(observations_from_args(args, str(path)))
    d = session.diagnose()
    if args.report:
        out = write_diagnosis_report(d, args.report)
        print(f"Report written to {out}", file=sys.stderr)
    if args.json:
        print(to_json(d))
    elif not args.report:
        _print_text(d)
    return 0


def _print_text(d: Any) -> None:
    """The diagnosis as lines. Every value from the file, the engine or a log is shown on one line
    (core.display_text.one_line): a newline in a model's name cannot print a finding of its own."""
    print(f"{one_line(d.model.display_name)}: {one_line(d.model.nominal_type)}, {bpw_words(d.model)}")
    if d.symptoms:
        print("What went wrong: " + "; ".join(symptoms()[s].words for s in d.symptoms))
    if d.headline:
        print(f"\n=> {one_line(d.headline)}")
    for f in d.findings:
        unchecked = not f.checked  # the check's own status: it could not look
        mark = NOT_CHECKED_GLYPH if unchecked else GLYPHS[f.severity]
        sure = f", {CONFIDENCE_WORDS[f.confidence].lower()}" if f.is_problem else (", not checked" if unchecked else "")
        print(f"\n[{mark}] {f.rank}. {one_line(f.title)}  ({f.id}{sure})")
        for e in f.evidence:
            print(f"      - {one_line(e)}")
        for step in f.fix:
            copy = "\n" + textwrap.indent(step.command, " " * 10) if step.command else ""
            print(f"      > {one_line(step.text)}{copy}")  # every line of a multi-line copy text at one indent
    for n in d.notes:
        print(f"\nnote: {one_line(n)}")
    table = getattr(d.engine, "vs_estimate", None)
    if table is not None and table.rows:
        print("\nQuant Doctor's memory estimate vs llama.cpp's own buffers (from the log):")
        for line in table.table():
            print(f"  {one_line(line)}")
        print(f"  {one_line(table.verdict)}")


def register(sub: Any) -> dict[str, Any]:
    help_text = "Run the ranked checks on a model with your settings and say what is wrong."
    p = sub.add_parser("diagnose", help=help_text, description=help_text)
    p.add_argument("path", nargs="?", help="the model file or folder (or give it with --from-command ... -m PATH)")
    add_setup_arguments(p)
    hw = p.add_mutually_exclusive_group()
    hw.add_argument("--gpu", metavar="NAME", help="what-if: diagnose for a GPU from the catalog, e.g. 'RTX 4090'")
    hw.add_argument("--hardware", metavar="FILE", help="a machine profile saved with `gpus --save`")
    add_observation_arguments(p)
    p.add_argument("--measurements", metavar="FILE", help="a comparison saved by `compare --json`: confirms suspicions")
    p.add_argument("--hub", action="store_true", help="with --expect: ask the model Hub what this file quantizes")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--report", metavar="FILE", help="write a report: .html, .md or .json")
    return {"diagnose": (help_text, cmd_diagnose)}
