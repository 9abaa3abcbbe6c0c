"""Child process: requantize a GGUF with llama.cpp's own quantizer.

Run as `python -m core.demo.quantize_child IN OUT FTYPE`. It lives in its own process because
llama.cpp may abort() or be killed for memory, which must never take the app down. llama.cpp
logs one `[ i/ n]` line per tensor, which the parent turns into progress.
"""

from __future__ import annotations

import ctypes
import os
import sys


def main(argv: list[str]) -> int:
    from core.children import run_in_background, watch_parent

    run_in_background()
    watch_parent()  # die with the app, however it dies
    src, dst, ftype = argv[0], argv[1], int(argv[2])
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    if rc != 0:
        print(f"llama_model_quantize returned {rc}", file=sys.stderr)
    return int(rc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
