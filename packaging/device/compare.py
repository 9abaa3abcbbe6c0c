"""Compare a device measurement (measure_cuda_overhead.sh) with core.memory.estimate's estimate, case by case.

Run on the development machine, where core.memory.estimate and gguf are installed:

    .venv/bin/python packaging/device/compare.py DIR/measurements.json DIR/gpus.json

The models are regenerated with make_gguf.py (deterministic, sparse), the machine profile is the
one the device reported, and each case is estimated fully offloaded; the table shows llama.cpp's
CUDA buffers next to the estimate, and the measured runtime overhead next to the constant.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_gguf

from core.hardware import HardwareProfile
from core.memory.estimate import RUNTIME_OVERHEAD_BYTES, MemorySetup, estimate, model_shape
from core.model.inspection import inspect_model

MIB = 1024**2


def main() -> int:
    measured = json.loads(Path(sys.argv[1]).read_text())
    hardware = HardwareProfile.from_dict(json.loads(Path(sys.argv[2]).read_text()))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in measured["models"].items():
            md, tensors = make_gguf.SHAPES[name]()
            shape = model_shape(inspect_model(make_gguf.write(Path(tmp) / f"{name}.gguf", md, tensors)))
            model_gpu = sum(v for k, v in run["model_buffers"].items() if k.startswith("CUDA") and "Host" not in k)
            for case in run["cases"]:
                ctx, k, v, fa = case["case"].split(":")
                est = estimate(shape, MemorySetup(int(ctx), k, v, fa == "1", 99), hardware)
                gpu, host = est.gpus[0], est.host
                b = case["buffers"]
                got = {
                    "GPU weights": (gpu.weights_bytes, model_gpu),
                    "GPU KV": (gpu.kv_bytes, b.get("CUDA0 KV")),
                    "GPU compute": (gpu.compute_bytes, b.get("CUDA0 compute")),
                    "host compute+output": (
                        host.compute_bytes,
                        (b.get("CUDA_Host compute") or 0) + (b.get("CUDA_Host output") or b.get("CPU output") or 0),
                    ),
                    "runtime overhead": (gpu.overhead_bytes, case.get("overhead_process_bytes")),
                    "GPU total vs peak": (gpu.total_bytes, case.get("peak_process_bytes")),
                }
                for part, (e, m) in got.items():
                    diff = f"{(e - m) / m * 100:+.1f}%" if m else "?"
                    rows.append(
                        f"{name:<10} {case['case']:<18} {part:<20} {e / MIB:10.1f} {m / MIB if m else 0:10.1f} {diff:>8}"
                    )
    print(f"{'model':<10} {'case':<18} {'part':<20} {'estimate':>10} {'measured':>10} {'diff':>8}  (MiB)")
    print("\n".join(rows))
    print(f"\nRUNTIME_OVERHEAD_BYTES['cuda'] is {RUNTIME_OVERHEAD_BYTES['cuda'] // MIB} MiB; the device suggests "
          f"{measured.get('cuda_overhead_suggested_constant_bytes', 0) // MIB} MiB.")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
