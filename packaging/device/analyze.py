"""Turn one measurement run into figures: llama.cpp's buffers per case, the GPU memory actually used,
and the difference, which is the CUDA runtime overhead core.memory.estimate plans with.

Inputs: the NVML and nvidia-smi samples, and per model the markers measure.cpp printed, the
llama.cpp log and the measuring process' pid. Output: measurements.json and summary.txt in --out.
Exits 1 when a check fails (a case without buffers, without samples, or a failed decode), so the
driver script reports a broken run instead of publishing numbers from it. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

MIB = 1024**2
BUFFER = re.compile(r"(\S+)\s+(model|KV|output|compute) buffer size =\s+([\d.]+) MiB")


def read_nvml(path: Path) -> list[tuple[int, int, dict[int, int]]]:
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        procs = {int(p.split(":")[0]): int(p.split(":")[1]) for p in parts[3:] if ":" in p}
        rows.append((int(parts[0]), int(parts[1]), procs))
    return rows


def read_smi(path: Path) -> list[tuple[int, int]]:
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            stamp, used = (x.strip() for x in line.split(",")[:2])
            t = datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
            rows.append((int(t * 1000), int(float(used)) * MIB))
        except ValueError:
            continue
    return rows


def read_marks(path: Path) -> list[tuple[str, int, int, str]]:
    marks = []
    for line in path.read_text().splitlines():
        if line.startswith("MARK "):
            parts = line.split(maxsplit=4)
            marks.append((parts[1], int(parts[2]), int(parts[3]), parts[4] if len(parts) > 4 else ""))
    return marks


def buffers(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = BUFFER.search(line)
        if m and " size is " not in line:
            key = f"{m.group(1)} {m.group(2)}"
            out[key] = out.get(key, 0) + int(float(m.group(3)) * MIB)
    return out


def on_gpu(name: str) -> bool:
    dev = name.split()[0]
    return dev.startswith("CUDA") and not dev.startswith("CUDA_Host")


def window(rows: list[Any], t0: int, t1: int) -> list[Any]:
    return [r for r in rows if t0 <= r[0] <= t1]


def analyze(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    nvml, smi = read_nvml(Path(args.nvml)), read_smi(Path(args.smi))
    problems: list[str] = []
    runs = []
    first_start = None
    for name, marks_file, log_file, pid in args.run:
        marks = read_marks(Path(marks_file))
        starts = [t for e, _, t, _ in marks if e == "model_load_start"]
        if starts:
            first_start = min(first_start or starts[0], starts[0])
        runs.append((name, marks, Path(log_file).read_text(errors="replace"), int(pid)))
    before = [used for t, used, _ in nvml if first_start is None or t < first_start]
    baseline = int(statistics.median(before[-20:])) if before else None
    if baseline is None:
        problems.append("no NVML samples before the first model load: no baseline")
    result: dict[str, Any] = {"baseline_used_bytes": baseline, "models": {}}
    for name, marks, log, pid in runs:
        head, *blocks = re.split(r"\n@@case \d+ \S+\n", log)
        model_bufs = buffers(head)
        model_gpu = sum(v for k, v in model_bufs.items() if on_gpu(k))
        at = {(e, c): (t, x) for e, c, t, x in marks}
        entry: dict[str, Any] = {"pid": pid, "model_buffers": model_bufs, "cases": []}
        if ("model_loaded", -1) not in at:
            problems.append(f"{name}: the model did not load (see llama.log)")
            result["models"][name] = entry
            continue
        steady = window(nvml, at[("model_loaded", -1)][0], at.get(("model_steady", -1), at[("model_loaded", -1)])[0])
        if steady and baseline is not None:
            used = max(u for _, u, _ in steady)
            proc = max((p.get(pid, 0) for _, _, p in steady), default=0)
            entry["after_load"] = {
                "device_used_minus_baseline": used - baseline,
                "process_used": proc,
                "overhead_device": used - baseline - model_gpu,
                "overhead_process": proc - model_gpu if proc else None,
            }
        for c, block in enumerate(blocks):
            spec = at.get(("case_start", c), (0, "?"))[1]
            case: dict[str, Any] = {"case": spec, "buffers": buffers(block)}
            if ("ctx_created", c) not in at:
                problems.append(f"{name} {spec}: llama.cpp could not create the context")
                entry["cases"].append(case)
                continue
            t0, t1 = at[("ctx_created", c)][0], at.get(("case_end", c), (at[("ctx_created", c)][0] + 2000, ""))[0]
            samples, smi_samples = window(nvml, t0, t1 + 100), window(smi, t0, t1 + 100)
            gpu = model_gpu + sum(v for k, v in case["buffers"].items() if on_gpu(k))
            case["reported_gpu_bytes"] = gpu
            case["reported_host_bytes"] = sum(v for k, v in case["buffers"].items() if not on_gpu(k))
            case["decode"] = at.get(("decoded", c), (0, "missing"))[1]
            if case["decode"] != "ok":
                problems.append(f"{name} {spec}: decode {case['decode']}")
            if not any(k.endswith(("KV", "compute")) and on_gpu(k) for k in case["buffers"]):
                problems.append(f"{name} {spec}: no CUDA KV/compute buffer in the log (did it run on the GPU?)")
            if len(samples) < 3:
                problems.append(f"{name} {spec}: only {len(samples)} NVML samples in the case window")
                entry["cases"].append(case)
                continue
            peak = max(u for _, u, _ in samples)
            proc_peak = max(p.get(pid, 0) for _, _, p in samples)
            case["peak_device_used_bytes"] = peak
            case["peak_smi_used_bytes"] = max((u for _, u in smi_samples), default=None)
            case["peak_process_bytes"] = proc_peak or None
            if baseline is not None:
                case["overhead_device_bytes"] = peak - baseline - gpu
            if proc_peak:
                case["overhead_process_bytes"] = proc_peak - gpu
            entry["cases"].append(case)
        result["models"][name] = entry
    overheads = [
        c.get("overhead_process_bytes") or c.get("overhead_device_bytes")
        for m in result["models"].values()
        for c in m["cases"]
        if c.get("overhead_process_bytes") or c.get("overhead_device_bytes")
    ]
    if overheads:
        worst = max(overheads)
        result["cuda_overhead_bytes_max"] = worst
        result["cuda_overhead_suggested_constant_bytes"] = -(-worst // (64 * MIB)) * 64 * MIB
    else:
        problems.append("no overhead could be derived")
    result["problems"] = problems
    return result, problems


def summary_lines(result: dict[str, Any]) -> list[str]:
    def mib(v: Any) -> str:
        return "?" if v is None else f"{v / MIB:9.1f}"

    lines = [f"baseline device memory.used before llama.cpp: {mib(result['baseline_used_bytes'])} MiB", ""]
    header = (
        f"{'model':<10} {'case':<18} {'reported GPU':>12} {'peak used-base':>14} {'peak process':>12} {'overhead':>9}"
    )
    lines.append(header)
    base = result["baseline_used_bytes"] or 0
    for name, m in result["models"].items():
        if "after_load" in m:
            a = m["after_load"]
            lines.append(f"{name:<10} {'(model only)':<18} {'':>12} {mib(a['device_used_minus_baseline'])}     "
                         f"{mib(a['process_used'])}    {mib(a['overhead_process'] or a['overhead_device'])}")  # fmt: skip
        for c in m["cases"]:
            peak = c.get("peak_device_used_bytes")
            over = c.get("overhead_process_bytes") or c.get("overhead_device_bytes")
            lines.append(
                f"{name:<10} {c['case']:<18} {mib(c.get('reported_gpu_bytes')):>12} "
                f"{mib(peak - base if peak else None):>14} {mib(c.get('peak_process_bytes')):>12} {mib(over):>9}"
            )
    lines.append("")
    if "cuda_overhead_suggested_constant_bytes" in result:
        lines.append(
            f"CUDA runtime overhead (peak minus llama.cpp's CUDA buffers), worst case: "
            f"{mib(result['cuda_overhead_bytes_max']).strip()} MiB -> RUNTIME_OVERHEAD_BYTES['cuda'] = "
            f"{result['cuda_overhead_suggested_constant_bytes'] // MIB} * MIB"
        )
    lines.append("CHECK ok" if not result["problems"] else "CHECK FAILED: " + "; ".join(result["problems"]))
    return lines


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--nvml", required=True)
    p.add_argument("--smi", required=True)
    p.add_argument("--run", nargs=4, action="append", default=[], metavar=("NAME", "MARKS", "LOG", "PID"))
    p.add_argument("--out", required=True)
    args = p.parse_args()
    result, problems = analyze(args)
    out = Path(args.out)
    (out / "measurements.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = summary_lines(result)
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
