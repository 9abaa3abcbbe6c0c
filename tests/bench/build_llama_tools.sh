#!/usr/bin/env bash
# Build llama.cpp's `llama-perplexity` from the llama.cpp sources vendored inside the
# llama-cpp-python sdist of the *installed* version, so the reference tool and the library the
# app uses are the same llama.cpp. Used by tests/bench/bench_eval.py and the optional agreement
# test (tests/test_eval_agreement.py); CI does not need it.
#
# Portable flags only: -march=native dies with "Illegal instruction" on machines whose CPU reports
# features the sandbox hides (AMX). Only the llama-perplexity target is built (~7 min on 2 cores);
# the binary is cached, so a second run prints its path at once.
#
#   bash tests/bench/build_llama_tools.sh          # prints the binary's path on its last line
#   LLAMA_TOOLS_DIR=/somewhere bash ...            # cache elsewhere
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))')"
if [[ -z "${LLAMA_TOOLS_DIR:-}" ]]; then
    LLAMA_TOOLS_DIR="$(cd "$ROOT" && "$PY" -c 'from core.paths import cache_dir; print(cache_dir())')/llama-tools"
fi
CACHE="$LLAMA_TOOLS_DIR/$VERSION"
BIN="$CACHE/bin/llama-perplexity"

if [[ -x "$BIN" ]]; then
    echo "cached: llama-perplexity for llama-cpp-python $VERSION" >&2
    echo "$BIN"
    exit 0
fi

mkdir -p "$CACHE/sdist" "$CACHE/bin"
SDIST="$(ls "$CACHE"/sdist/llama_cpp_python-"$VERSION".tar.gz 2>/dev/null || true)"
if [[ -z "$SDIST" ]]; then
    echo "fetching the llama-cpp-python $VERSION sdist" >&2
    # pip prepares the sdist's metadata in an isolated build env (scikit-build-core); no compiling.
    "$PY" -m pip download --no-deps --no-binary :all: \
        --disable-pip-version-check -d "$CACHE/sdist" "llama-cpp-python==$VERSION" >&2
    SDIST="$(ls "$CACHE"/sdist/llama_cpp_python-"$VERSION".tar.gz)"
fi

SRC="$CACHE/src"
if [[ ! -f "$SRC/vendor/llama.cpp/tools/perplexity/perplexity.cpp" ]]; then
    rm -rf "$SRC" && mkdir -p "$SRC"
    tar -xzf "$SDIST" -C "$SRC" --strip-components=1
fi

GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
BUILD="$CACHE/build"
cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" "${GEN[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON >&2
cmake --build "$BUILD" --target llama-perplexity -j "$(nproc)" >&2
cp "$BUILD/bin/llama-perplexity" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
echo "built: $BIN" >&2
echo "$BIN"
