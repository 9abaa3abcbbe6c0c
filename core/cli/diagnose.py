"""`quantdoctor-cli diagnose`: the ranked checks from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.checks.finding import CONFIDENCE_WORDS
from core.checks.measurements import Measured, load_comparison
from core.cli.observe import add_observation_arguments, observations_from_args
from core.cli.run_options import add_run_arguments, given_run_values
from core.engines import registry as engines
from core.engines.koboldcpp import from_kcpps
from core.engines.llamacpp import from_command
from core.engines.lmstudio import from_lmstudio
from core.engines.ollama import from_ollama
from core.errors import SetupError
from core.settings.setup import WORKLOADS, Setup
from core.severity import GLYPHS, NOT_CHECKED_GLYPH


def add_setup_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p, title="your settings (flags win over imported settings)")
    g = p.add_argument_group("what you are doing")
    g.add_argument("--workload", choices=WORKLOADS, help="what you use the model for (default chat)")
    g.add_argument(
        "--expect", metavar="NAME", help="the model you expected, e.g. Qwen/Qwen3-8B or 'the instruct version'"
    )
    g.add_argument("--engine", choices=engines.ids(), help="what runs the model (default llama.cpp)")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--from-command", metavar="CMD", help="import settings from a llama-server / llama-cli command line"
    )
    src.add_argument("--from-ollama", action="store_true", help="import Ollama's settings (OLLAMA_* variables)")
    src.add_argument("--from-kcpps", metavar="FILE", help="import a koboldcpp .kcpps file")
    src.add_argument("--from-lmstudio", metavar="FILE", help="import an LM Studio per-model config")
    src.add_argument(
        "--from-engine",
        metavar="ENGINE",
        help="ask the running engine: ollama[:MODEL], lmstudio[:MODEL], llama-server[:URL], koboldcpp, "
        "text-generation-webui, tabbyapi, vllm (this machine only)",
    )
    src.add_argument("--from-log", metavar="FILE", help="read an engine's log: llama.cpp, Ollama, LM Studio, koboldcpp")
    p.add_argument("--modelfile", metavar="FILE", help="with --from-ollama: the model's Modelfile")


def setup_from_args(args: argparse.Namespace) -> Setup:
    flags: dict[str, Any] = {"workload": args.workload, "expected": args.expect, "engine": args.engine}
    given = {**given_run_values(args), **{k: v for k, v in flags.items() if v is not None}}
    if args.from_command:
        return from_command(args.from_command, **given)
    if args.from_ollama:
        return from_ollama(modelfile=args.modelfile, **given)
    if args.from_kcpps:
        return from_kcpps(args.from_kcpps, **given)
    if args.from_lmstudio:
        return from_lmstudio(args.from_lmstudio, **given)
    return Setup.of(source="command-line flags", **given)


def evidence_from_args(args: argparse.Namespace, setup: Setup) -> tuple[Setup, Any]:
    """With --from-engine / --from-log: the engine's own settings (flags still win) and what else it said."""
    flags: dict[str, Any] = {"workload": args.workload, "expected": args.expect, "engine": args.engine}
    given = {**given_run_values(args), **{k: v for k, v in flags.items() if v is not None}}
    if getattr(args, "from_engine", None):
        from core.engines.evidence import engine_evidence
        from core.engines.live import connect

        found = connect(args.from_engine)
        if found.setup is None:
            raise SetupError(f"{found.summary()}.", "Load a model in it (or name one), then try again.")
        return Setup.of(**{**found.setup.to_dict(), **_legacy(given)}), engine_evidence(found)
    if getattr(args, "from_log", None):
        from core.engines.evidence import log_evidence, model_on_disk
        from core.engines.logs import read_log
        from core.model.inspection import inspect_model

        reading = read_log(args.from_log)
        path = args.path or model_on_disk(reading.model_path)
        return reading.setup(**given), log_evidence(reading, inspect_model(path) if path else None)
    return setup, None


def _legacy(values: dict[str, Any]) -> dict[str, Any]:
    return {("ctx" if k == "n_ctx" else k): v for k, v in values.items()}


def load_measurements(path: str) -> Measured:
    """A saved `compare --json` output, as the comparison it was (core.checks.measurements.load_comparison)."""
    return load_comparison(path)


def load_hardware(args: argparse.Namespace) -> Any:
    from core.cli.hardware import hardware_from_args

    return hardware_from_args(args)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from core.diagnosis import diagnose
    from core.model.inspection import inspect_model
    from core.report.diagnosis_report import to_json, write_diagnosis_report

    setup, evidence = evidence_from_args(args, setup_from_args(args))
    path = args.path or setup.model_path
    if not path:
        raise SetupError(
            "No model given.",
            "Name the model file, or use --from-command with a command that has -m"
            + (" (the engine did not say where its model file is)." if evidence else "."),
        )
    profile = inspect_model(path)
    comparison = load_measurements(args.measurements) if args.measurements else None
    hub_evidence = None
    if args.hub and setup.expected:
        from core.hub.evidence import hub_finetune_evidence  # never raises for Hub trouble

        hub_evidence = hub_finetune_evidence(profile, setup.expected).evidence_lines()
    observations = observations_from_args(args, str(path))
    d = diagnose(
        profile, setup, load_hardware(args), comparison, hub_evidence=hub_evidence, engine=evidence,
        observations=observations,
    )  # fmt: skip
    if args.report:
        out = write_diagnosis_report(d, args.report)
        print(f"Report written to {out}", file=sys.stderr)
    if args.json:
        print(to_json(d))
    elif not args.report:
        _print_text(d)
    return 0


def _print_text(d: Any) -> None:
    print(f"{d.model.display_name}: {d.model.nominal_type}, {d.model.effective_bpw:.2f} bits per weight")
    if d.headline:
        print(f"\n=> {d.headline}")
    for f in d.findings:
        unchecked = not f.checked  # the check's own status: it could not look
        mark = NOT_CHECKED_GLYPH if unchecked else GLYPHS[f.severity]
        sure = f", {CONFIDENCE_WORDS[f.confidence].lower()}" if f.is_problem else (", not checked" if unchecked else "")
        print(f"\n[{mark}] {f.rank}. {f.title}  ({f.id}{sure})")
        for e in f.evidence:
            print(f"      - {e}")
        for step in f.fix:
            print(f"      > {step.text}" + (f"\n          {step.command}".replace("\n", "\n          ")
                                            if step.command else ""))  # fmt: skip
    for n in d.notes:
        print(f"\nnote: {n}")
    table = getattr(d.engine, "vs_estimate", None)
    if table is not None and table.rows:
        print("\nQuant Doctor's memory estimate vs llama.cpp's own buffers (from the log):")
        for line in table.table():
            print(f"  {line}")
        print(f"  {table.verdict}")


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
