#!/usr/bin/env bash
# Measure what llama.cpp really uses on an NVIDIA GPU, to set core.memory.estimate's CUDA runtime overhead.
#
# Needs: an NVIDIA GPU with nvidia-smi, nvcc, cmake, ninja, g++, python3 with pynvml (nvidia-ml-py);
# no internet, no pip. The llama.cpp sources that llama-cpp-python 0.3.36 vendors must be copied
# into .llama-src/ of the checkout (ggml/, src/, include/, vendor/, cmake/, CMakeLists.txt; common/
# and tools/ are not built). The demo model is too large to carry (98 MB), so a twin with its exact
# tensor list is generated here, along with a Llama-3-8B-shaped file (sparse: no disk, no download).
#
# What it does, within a hard budget (BUDGET_S, default 480 s; each step has its own timeout):
#   1. `python3 -m core gpus --json` (falling back to `python3 -m core.hardware`) -> $OUT/gpus.json
#   2. builds libllama with CUDA for sm_90 only (the `llama` target, shared libs) into
#      $LLAMA_BUILD_DIR (default /tmp/qd-llama-build: survives between calls on a warm machine, and
#      ninja resumes an interrupted build), then measure.cpp against it
#   3. samples GPU memory (NVML every 50 ms with per-process use, and nvidia-smi every 100 ms) while
#      measure.cpp loads each model fully offloaded (-ngl 99) and, per context case, creates a
#      context, decodes a 512-token batch and 8 single tokens, and frees it
#   4. analyze.py: per case, llama.cpp's CUDA buffers (model + KV + compute) against the peak memory
#      used; the difference is the runtime overhead (CUDA context, cuBLAS, ggml's memory pool)
# Results (at most 8 files): summary.txt, measurements.json, gpus.json, llama.log, samples-nvml.txt,
# samples-smi.txt, build.log, run.log. Exit 0 only if every check passed.
#
#   OUT=/some/dir bash packaging/device/measure_cuda_overhead.sh
# Then, on the development machine, compare with the estimate:
#   .venv/bin/python packaging/device/compare.py DIR/measurements.json DIR/gpus.json
set -uo pipefail

START=$(date +%s)
BUDGET_S=${BUDGET_S:-480}
left() { echo $((BUDGET_S - ($(date +%s) - START))); }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${OUT:-$ROOT/device-out}"
SRC="${LLAMA_SRC:-$ROOT/.llama-src}"
BUILD="${LLAMA_BUILD_DIR:-/tmp/qd-llama-build}"
WORK="${WORK_DIR:-/tmp/qd-measure}"
CUDA_ARCH="${CUDA_ARCH:-90}"
CUDA_FA="${QD_CUDA_FA:-ON}"   # OFF builds faster, but flash-attention cases then run on the CPU
mkdir -p "$OUT" "$WORK" "$BUILD"
rm -f "$WORK"/*.marks "$WORK"/*.log "$WORK/stop"
exec > >(tee "$OUT/run.log") 2>&1

say() { echo "[$(($(date +%s) - START))s] $*"; }
finish() {
    say "finished with status $1 ($(left) s of the budget left)"
    exec 1>&- 2>&-   # let tee write the last lines of run.log before the script ends
    sleep 0.5
    exit "$1"
}

[[ -d /usr/local/cuda/bin ]] && export PATH="/usr/local/cuda/bin:$PATH"
say "checking the tools"
missing=()
for tool in nvidia-smi nvcc cmake ninja g++ python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader || missing+=("a working GPU")
nvcc --version | tail -2
python3 -c "import pynvml" 2>/dev/null || missing+=("pynvml (nvidia-ml-py) for python3")

# 1. the machine as core.hardware sees it (needs only pynvml and psutil)
say "core gpus --json"
if ! (cd "$ROOT" && timeout 60 python3 -m core gpus --json >"$OUT/gpus.json" 2>"$WORK/gpus.err"); then
    say "python3 -m core gpus failed ($(tail -1 "$WORK/gpus.err")); using python3 -m core.hardware"
    (cd "$ROOT" && timeout 60 python3 -m core.hardware >"$OUT/gpus.json") || say "core.hardware failed too"
fi
grep -m3 -E '"name"|"total_bytes"|"cpu_only_reason"' "$OUT/gpus.json"

if ((${#missing[@]})); then
    say "MISSING: ${missing[*]}"
    echo "CHECK FAILED: missing ${missing[*]}" >"$OUT/summary.txt"
    finish 1
fi
if [[ ! -f "$SRC/CMakeLists.txt" || ! -d "$SRC/ggml" || ! -d "$SRC/src" || ! -f "$SRC/include/llama.h" ]]; then
    say "no llama.cpp sources in $SRC (copy the vendored llama.cpp there: ggml/ src/ include/ vendor/ cmake/ CMakeLists.txt)"
    echo "CHECK FAILED: no llama.cpp sources in $SRC" >"$OUT/summary.txt"
    finish 1
fi

# 2. models: generated with the standard library (no gguf package here)
say "writing the models"
python3 "$HERE/make_gguf.py" demo "$WORK/demo.gguf" || finish 1
python3 "$HERE/make_gguf.py" llama3-8b "$WORK/llama3-8b.gguf" || finish 1

# 3. build libllama with CUDA, then the measuring program
MEASURE="$BUILD/bin/qd-measure"
if [[ ! -x "$MEASURE" || "$HERE/measure.cpp" -nt "$MEASURE" ]]; then
    say "configuring llama.cpp (CUDA arch $CUDA_ARCH, flash attention kernels $CUDA_FA)"
    timeout $(($(left) - 60)) cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=ON -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" \
        -DGGML_CUDA_FA="$CUDA_FA" -DGGML_CUDA_NCCL=OFF -DGGML_CUDA_CUB_3DOT2=OFF \
        -DGGML_CCACHE=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
        -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        >"$OUT/build.log" 2>&1 || { say "cmake failed:"; tail -20 "$OUT/build.log"; finish 1; }
    budget=$(($(left) - 120))   # keep two minutes for the measurement itself
    say "building target llama with $(nproc) jobs (up to $budget s; ninja resumes on the next call)"
    if ! timeout "$budget" ninja -C "$BUILD" -j "$(nproc)" llama >>"$OUT/build.log" 2>&1; then
        say "the build did not finish in time or failed; its last lines:"
        tail -15 "$OUT/build.log"
        echo "CHECK FAILED: llama.cpp build incomplete (run again: the build resumes in $BUILD)" >"$OUT/summary.txt"
        finish 1
    fi
    g++ -O2 -std=c++17 "$HERE/measure.cpp" -I"$SRC/include" -I"$SRC/ggml/include" \
        -L"$BUILD/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$BUILD/bin" -o "$MEASURE" >>"$OUT/build.log" 2>&1 \
        || { say "compiling measure.cpp failed:"; tail -20 "$OUT/build.log"; finish 1; }
    say "built"
else
    say "using the build already in $BUILD"
fi

# 4. measure
python3 "$HERE/sample_gpu_memory.py" "$OUT/samples-nvml.txt" "$WORK/stop" "$(left)" &
NVML_PID=$!
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 100 >"$OUT/samples-smi.txt" &
SMI_PID=$!
sleep 2   # baseline: the GPU before llama.cpp touches it

runs=()
run_model() {  # name model cases...
    local name=$1 model=$2
    shift 2
    local limit=$(($(left) - 20))
    if ((limit < 20)); then say "no time left for $name"; return; fi
    say "measuring $name: $*"
    echo "===== $name: $model $*" >>"$WORK/all.log"
    # no `timeout` wrapper: the sampler attributes memory by this process' own pid
    "$MEASURE" "$model" 99 "$@" >"$WORK/$name.marks" 2>"$WORK/$name.log" &
    local pid=$!
    (sleep "$limit" && kill "$pid" 2>/dev/null) &
    local watchdog=$!
    wait "$pid"
    local rc=$?
    kill "$watchdog" 2>/dev/null
    say "$name exited with $rc ($(grep -c 'MARK decoded' "$WORK/$name.marks") cases decoded)"
    cat "$WORK/$name.log" >>"$WORK/all.log"
    runs+=(--run "$name" "$WORK/$name.marks" "$WORK/$name.log" "$pid")
    sleep 1
}
: >"$WORK/all.log"
run_model demo "$WORK/demo.gguf" 2048:f16:f16:0 8192:f16:f16:0 8192:q8_0:q8_0:1
run_model llama3-8b "$WORK/llama3-8b.gguf" 2048:f16:f16:0 8192:f16:f16:1 8192:q8_0:q8_0:1 32768:q8_0:q8_0:1 32768:f16:f16:0

touch "$WORK/stop"
kill "$SMI_PID" 2>/dev/null
wait "$NVML_PID" 2>/dev/null
cp "$WORK/all.log" "$OUT/llama.log"

say "analyzing"
python3 "$HERE/analyze.py" --nvml "$OUT/samples-nvml.txt" --smi "$OUT/samples-smi.txt" "${runs[@]}" --out "$OUT"
finish $?
