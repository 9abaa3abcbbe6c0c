"""`quantdoctor-cli gpus` and `quantdoctor-cli fit`: the machine, and whether a model fits it.

    quantdoctor-cli gpus [--json] [--save FILE] [--catalog]
    quantdoctor-cli fit MODEL --ctx N [--cache-type-k T] [--cache-type-v T] [--flash-attn [on|off|auto]]
                        [--n-gpu-layers N] [--gpu NAME | --hardware FILE] [--json]

Registered by core.cli.main (see `register`). Heavy imports (the model reader, the memory estimate) happen
inside the handlers so `gpus` runs where only the standard library, pynvml and psutil exist.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from core.cli.output import print_json
from core.cli.run_options import add_run_arguments
from core.display_text import one_line

Handler = Callable[[argparse.Namespace], int]

GPUS_HELP = "Show the GPUs, RAM and CPU this machine has (or save them as a profile)."
FIT_HELP = "Estimate the memory a GGUF model needs under llama.cpp, and what fits this machine."


def register(subparsers: Any) -> dict[str, tuple[str, Handler]]:
    p = subparsers.add_parser("gpus", help=GPUS_HELP, description=GPUS_HELP)
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.add_argument("--save", metavar="FILE", help="write the profile to FILE.json (for fit --hardware)")
    p.add_argument("--catalog", action="store_true", help="list the GPU catalog used by --gpu and upgrade advice")

    p = subparsers.add_parser("fit", help=FIT_HELP, description=FIT_HELP)
    p.add_argument("path", help="a .gguf file (any part of a split model)")
    add_run_arguments(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--gpu", metavar="NAME", help='what-if: a catalog GPU instead of this machine\'s ("RTX 4090", "2x RTX 3090")'
    )
    where.add_argument("--hardware", metavar="FILE", help="a machine profile saved with `gpus --save`")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    return {"gpus": (GPUS_HELP, cmd_gpus), "fit": (FIT_HELP, cmd_fit)}


def size(n: int | float | None) -> str:
    if n is None:
        return "?"
    if abs(n) < 1024**3:
        return f"{n / 1024**2:.1f} MiB"
    return f"{n / 1024**3:.2f} GiB"


# --- gpus -----------------------------------------------------------------------------------------


def cmd_gpus(args: argparse.Namespace) -> int:
    if args.catalog:
        return _print_catalog(args.json)
    from core.app.machine import detect_hardware, save_profile

    profile = detect_hardware()
    if args.save:
        path = save_profile(profile, args.save)
        if not args.json:
            print(f"Saved the machine profile to {path}.")
    if args.json:
        print_json(profile.to_dict())
        return 0
    for line in hardware_lines(profile):
        print(one_line(line))  # a GPU's name comes from its driver
    return 0


def hardware_lines(profile: Any) -> list[str]:
    lines = []
    for g in profile.gpus:
        head = f"GPU {g.index}: {g.name}"
        if g.lost:
            lines.append(head + "  LOST (fell off the bus; not used)")
            continue
        mem = f"{size(g.total_bytes)} total, {size(g.available_bytes)} usable"
        if g.reserved_bytes:
            mem += f", {size(g.reserved_bytes)} reserved by the driver"
        lines.append(f"{head}  {mem}")
        details = []
        if g.bandwidth_gbps:
            details.append(f"{g.bandwidth_gbps:g} GB/s")
        if g.compute_capability:
            details.append(f"compute capability {g.compute_capability}")
        if g.driver_version:
            details.append(
                f"driver {g.driver_version}" + (f" (CUDA {g.cuda_driver_version})" if g.cuda_driver_version else "")
            )
        if g.mig_enabled:
            details.append(f"MIG on, {len(g.mig_devices)} slices")
        if details:
            lines.append("       " + ", ".join(details))
        lines.extend("       " + n for n in g.notes)
    ram, cpu = profile.ram, profile.cpu
    lines.append(f"RAM: {size(ram.total_bytes)} total, {size(ram.available_bytes)} available")
    flags = [name for name, on in (("AVX2", cpu.avx2), ("AVX-512", cpu.avx512)) if on]
    cores = f"{cpu.physical_cores or '?'} cores / {cpu.logical_cores or '?'} threads"
    lines.append(f"CPU: {cpu.model or 'unknown'}, {cores}" + (f", {', '.join(flags)}" if flags else ""))
    if profile.cpu_only:
        lines.append(f"CPU only: {profile.cpu_only_reason}")
    else:
        lines.extend(profile.notes)
    return lines


def _print_catalog(as_json: bool) -> int:
    from core.app.machine import load_catalog

    cards = load_catalog()
    if as_json:
        print_json([c.to_dict() for c in cards])
        return 0
    for c in cards:
        print(f"{c.name:<28} {c.gpu_class:<12} {c.memory_gib:>6g} GiB {c.bandwidth_gbps:>7g} GB/s  {c.year}")
    return 0


# --- fit ------------------------------------------------------------------------------------------


def hardware_from_args(args: argparse.Namespace) -> Any:
    """The machine a command plans for: --hardware FILE, --gpu NAME (what-if), or this one."""
    from core.app.machine import detect_hardware, load_profile, what_if

    if getattr(args, "hardware", None):
        return load_profile(args.hardware)
    if getattr(args, "gpu", None) is not None:
        from core.errors import UnknownGpuError

        if not args.gpu.strip():
            raise UnknownGpuError("--gpu was given an empty name.", [], 'Name a GPU, e.g. --gpu "RTX 4090".')
        return what_if(args.gpu)
    return detect_hardware()


def cmd_fit(args: argparse.Namespace) -> int:
    from core.app.fit import fit_plan
    from core.app.session import Session
    from core.cli.run_options import run_settings_from_args

    profile = Session().load_model(args.path)
    hardware = hardware_from_args(args)
    report = fit_plan(profile, run_settings_from_args(args), hardware)
    shape = report.shape
    if args.json:
        data = report.to_dict()
        data["hardware"] = {
            "source": hardware.source,
            "gpus": [g.name for g in hardware.gpus],
            "cpu_only_reason": hardware.cpu_only_reason,
        }
        print_json(data)
        return 0
    for line in fit_lines(report, hardware, shape):
        print(one_line(line))
    return 0


def fit_lines(report: Any, hardware: Any, shape: Any) -> list[str]:
    est, s = report.estimate, report.estimate.setup
    on_gpu = "everything on the GPU" if s.n_gpu_layers > shape.n_layer else f"-ngl {s.n_gpu_layers}"
    if not hardware.usable_gpus:
        on_gpu = "CPU only"
    lines = [
        f"{est.model}: {shape.architecture}, {shape.n_layer} layers, {size(shape.weights_bytes)} of weights",
        f"Setup: {s.n_ctx} tokens ({est.kv_cells} KV cells), K {s.cache_type_k} / V {s.cache_type_v}, "
        f"flash attention {s.flash_attn.value}, {on_gpu}, batch {s.n_batch} / ubatch {s.n_ubatch}",
    ]
    if hardware.cpu_only and hardware.cpu_only_reason:
        lines.append(f"Machine: CPU only. {hardware.cpu_only_reason}")
    elif hardware.source == "catalog":
        lines.append("Machine: " + " ".join(hardware.notes))
    lines.append("")
    header = f"{'':<34}{'weights':>11}{'KV cache':>11}{'compute':>11}{'runtime':>11}{'total':>11}{'available':>11}"
    lines.append(header)
    for d in est.devices:
        lines.append(
            f"{d.device[:33]:<34}{size(d.weights_bytes):>11}{size(d.kv_bytes):>11}{size(d.compute_bytes):>11}"
            f"{size(d.overhead_bytes):>11}{size(d.total_bytes):>11}{size(d.available_bytes):>11}"
        )
    lines.append("")
    worst = min((d for d in est.devices if d.margin_bytes is not None), key=lambda d: d.margin_bytes, default=None)
    if est.fits:
        margin = f" (tightest: {worst.device}, {size(worst.margin_bytes)} to spare)" if worst else ""
        lines.append("Fits: yes" + margin)
    else:
        short = [f"{d.device} is {size(-d.margin_bytes)} short" for d in est.devices if not d.fits]
        lines.append("Fits: NO: " + "; ".join(short))
    cap = shape.n_ctx_train
    if report.max_context:
        lines.append(
            f"Largest context that fits these settings: {report.max_context} tokens"
            + (" (the model's own maximum)" if cap and report.max_context >= cap else "")
        )
    else:
        lines.append("No context fits these settings: the weights alone do not fit.")
    if hardware.usable_gpus:
        lines.append(f"GPU layers that fit at this context: {report.max_gpu_layers} of {shape.n_layer + 1}")
    lines.extend(f"Note: {n}" for n in est.notes)
    if report.alternatives:
        lines.append("")
        lines.append("Alternatives:")
        for a in report.alternatives:
            speed = f", ~{a.tokens_per_s:g} tokens/s" if a.tokens_per_s else ""
            slower = f" ({a.slowdown:g}x slower than all on the GPU)" if a.slowdown and a.slowdown > 1.05 else ""
            where = f"GPU {size(a.gpu_bytes)}, " if a.gpu_bytes else ""
            lines.append(
                f"  - {a.label}: {'fits' if a.fits else 'does not fit'} ({where}RAM {size(a.host_bytes)}{speed}){slower}"
            )
            if a.arithmetic:
                lines.append(f"      {a.arithmetic}")
    if report.upgrade is not None:
        lines.append("")
        lines.append("Upgrade:")
        lines.extend("  " + line for line in report.upgrade.lines())
    return lines
