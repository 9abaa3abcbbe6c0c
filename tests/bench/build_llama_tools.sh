#!/usr/bin/env bash
# Build one llama.cpp tool (`llama-perplexity` by default, or `llama-server`) from the llama.cpp
# sources vendored inside the llama-cpp-python sdist of the *installed* version, so the reference
# tools and the library the app uses are the same llama.cpp. llama-perplexity is used by
# tests/bench/bench_eval.py and tests/test_eval_agreement.py; llama-server by the engine tests
# (tests/test_engines_llama_server.py), which CI runs, so `make test` builds it (cached).
#
# Portable flags only: -march=native dies with "Illegal instruction" on machines whose CPU reports
# features the sandbox hides (AMX). Only the named target is built (~7 min on 2 cores); the binary
# is cached per llama-cpp-python version (llama-server is built without its web UI: no npm, no
# download), so a second run prints its path at once. Each target has
# its own cmake build folder and lock, and fetching/unpacking the sdist is locked too, so two
# builds running at once (two targets, or the same one twice) never share a build folder.
#
#   bash tests/bench/build_llama_tools.sh                 # llama-perplexity; path on the last line
#   bash tests/bench/build_llama_tools.sh llama-server    # llama-server
#   LLAMA_TOOLS_DIR=/somewhere bash ...                   # cache elsewhere
set -euo pipefail

TARGET="${1:-llama-perplexity}"
case "$TARGET" in
    llama-perplexity) SERVER=OFF; MARKER=tools/perplexity/perplexity.cpp ;;
    llama-server) SERVER=ON; MARKER=tools/server/server.cpp ;;
    *) echo "unknown target '$TARGET' (llama-perplexity or llama-server)" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))')"
if [[ -z "${LLAMA_TOOLS_DIR:-}" ]]; then
    LLAMA_TOOLS_DIR="$(cd "$ROOT" && "$PY" -c 'from core.paths import cache_dir; print(cache_dir())')/llama-tools"
fi
CACHE="$LLAMA_TOOLS_DIR/$VERSION"
BIN="$CACHE/bin/$TARGET"

if [[ -x "$BIN" ]]; then
    echo "cached: $TARGET for llama-cpp-python $VERSION" >&2
    echo "$BIN"
    exit 0
fi

mkdir -p "$CACHE/sdist" "$CACHE/bin"
SRC="$CACHE/src"
(
    flock 9
    SDIST="$(ls "$CACHE"/sdist/llama_cpp_python-"$VERSION".tar.gz 2>/dev/null || true)"
    if [[ -z "$SDIST" ]]; then
        echo "fetching the llama-cpp-python $VERSION sdist" >&2
        # pip prepares the sdist's metadata in an isolated build env (scikit-build-core); no compiling.
        "$PY" -m pip download --no-deps --no-binary :all: \
            --disable-pip-version-check -d "$CACHE/sdist" "llama-cpp-python==$VERSION" >&2
        SDIST="$(ls "$CACHE"/sdist/llama_cpp_python-"$VERSION".tar.gz)"
    fi
    if [[ ! -f "$SRC/vendor/llama.cpp/$MARKER" ]]; then
        rm -rf "$SRC.tmp" && mkdir -p "$SRC.tmp"
        tar -xzf "$SDIST" -C "$SRC.tmp" --strip-components=1
        rm -rf "$SRC" && mv "$SRC.tmp" "$SRC"
    fi
) 9>"$CACHE/.source.lock"

(
    flock 9
    if [[ -x "$BIN" ]]; then exit 0; fi   # built by a concurrent run while we waited
    GEN=()
    command -v ninja >/dev/null && GEN=(-G Ninja)
    BUILD="$CACHE/build-$TARGET"
    cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" "${GEN[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
        -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER="$SERVER" \
        -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >&2
    cmake --build "$BUILD" --target "$TARGET" -j "$(nproc)" >&2
    cp "$BUILD/bin/$TARGET" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
    echo "built: $BIN" >&2
) 9>"$CACHE/.build-$TARGET.lock"
echo "$BIN"
