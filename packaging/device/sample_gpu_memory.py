"""Sample GPU memory every 50 ms through NVML until STOP_FILE appears (or the time limit).

Each line: epoch-ms, device memory used (v1 call, bytes), driver-reserved (v2 call, bytes or -1),
then `pid:bytes` for every compute process on the device. Standard library and pynvml only.

    python3 sample_gpu_memory.py OUT.txt STOP_FILE [LIMIT_S]
"""

from __future__ import annotations

import os
import sys
import time

import pynvml


def main() -> int:
    out_path, stop_file = sys.argv[1], sys.argv[2]
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 600.0
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(int(os.environ.get("QD_GPU_INDEX", "0")))
    deadline = time.time() + limit
    with open(out_path, "w") as out:
        out.write(f"# {pynvml.nvmlDeviceGetName(handle)}; t_ms used_bytes reserved_bytes pid:bytes...\n")
        while time.time() < deadline and not os.path.exists(stop_file):
            t = int(time.time() * 1000)
            used = pynvml.nvmlDeviceGetMemoryInfo(handle).used
            try:
                reserved = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2).reserved
            except Exception:
                reserved = -1
            try:
                procs = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
                per = " ".join(f"{p.pid}:{p.usedGpuMemory or 0}" for p in procs)
            except Exception:
                per = ""
            out.write(f"{t} {used} {reserved} {per}\n")
            out.flush()
            time.sleep(0.05)
    pynvml.nvmlShutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
