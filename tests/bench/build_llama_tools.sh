#!/usr/bin/env bash
# Build llama.cpp's tools (`llama-perplexity` by default; `llama-server`; or both in one go) from the
# llama.cpp sources vendored inside the llama-cpp-python sdist of the *installed* version, so the
# reference tools and the library the app uses are the same llama.cpp. llama-perplexity is used by
# tests/test_eval_agreement.py and tests/bench/bench_eval.py; llama-server by the engine tests
# (tests/test_engines_llama_server.py). CI runs both tests, so `make test` builds both targets: one
# cmake configure, one build folder, one `cmake --build --target llama-server llama-perplexity`.
#
# Portable flags only: -march=native dies with "Illegal instruction" on machines whose CPU reports
# features the sandbox hides (AMX). Only the named targets are built (it prints how long that took:
# 2,508 s for both on 2 cores shared with four other jobs); each binary is cached per llama-cpp-python
# version (llama-server is built without its web UI: no npm, no download), so a second run prints the
# paths at once. Fetching/unpacking the sdist is locked and so is the build folder, so two builds
# running at once (two targets, or the same one twice) never share a build folder unlocked.
#
#   bash tests/bench/build_llama_tools.sh                                  # llama-perplexity; path on the last line
#   bash tests/bench/build_llama_tools.sh llama-server                     # llama-server
#   bash tests/bench/build_llama_tools.sh llama-server llama-perplexity    # both; one path a line, in that order
#   LLAMA_TOOLS_DIR=/somewhere bash ...                                    # cache elsewhere
set -euo pipefail

TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=(llama-perplexity)
MARKERS=()
for TARGET in "${TARGETS[@]}"; do
    case "$TARGET" in
        llama-perplexity) MARKERS+=(tools/perplexity/perplexity.cpp) ;;
        llama-server) MARKERS+=(tools/server/server.cpp) ;;
        *) echo "unknown target '$TARGET' (llama-perplexity or llama-server)" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))')"
if [[ -z "${LLAMA_TOOLS_DIR:-}" ]]; then
    LLAMA_TOOLS_DIR="$(cd "$ROOT" && "$PY" -c 'from core.paths import cache_dir; print(cache_dir())')/llama-tools"
fi
CACHE="$LLAMA_TOOLS_DIR/$VERSION"

all_built() {
    local t
    for t in "${TARGETS[@]}"; do [[ -x "$CACHE/bin/$t" ]] || return 1; done
}

print_paths() {
    local t
    for t in "${TARGETS[@]}"; do echo "$CACHE/bin/$t"; done
}

if all_built; then
    echo "cached: ${TARGETS[*]} for llama-cpp-python $VERSION" >&2
    print_paths
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
    for MARKER in "${MARKERS[@]}"; do
        if [[ ! -f "$SRC/vendor/llama.cpp/$MARKER" ]]; then
            rm -rf "$SRC.tmp" && mkdir -p "$SRC.tmp"
            tar -xzf "$SDIST" -C "$SRC.tmp" --strip-components=1
            rm -rf "$SRC" && mv "$SRC.tmp" "$SRC"
        fi
    done
) 9>"$CACHE/.source.lock"

(
    flock 9
    if all_built; then exit 0; fi   # built by a concurrent run while we waited
    TODO=()
    for t in "${TARGETS[@]}"; do [[ -x "$CACHE/bin/$t" ]] || TODO+=("$t"); done
    GEN=()
    command -v ninja >/dev/null && GEN=(-G Ninja)
    BUILD="$CACHE/build"
    START=$SECONDS
    # One configure for every tool (the server's sources are configured even when only
    # llama-perplexity is asked for, so a later llama-server build reuses this folder as it is).
    cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" "${GEN[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
        -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >&2
    cmake --build "$BUILD" --target "${TODO[@]}" -j "$(nproc)" >&2
    for t in "${TODO[@]}"; do
        cp "$BUILD/bin/$t" "$CACHE/bin/$t.tmp" && mv "$CACHE/bin/$t.tmp" "$CACHE/bin/$t"
        echo "built: $CACHE/bin/$t" >&2
    done
    echo "built ${TODO[*]} in $((SECONDS - START)) s on $(nproc) cores" >&2
) 9>"$CACHE/.build.lock"
print_paths
