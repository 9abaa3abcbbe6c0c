#!/usr/bin/env bash
# Copy the llama.cpp that llama-cpp-python vendors into .llama-src/ (an ignored folder) for the
# device measurement: only what building libllama with CUDA needs (19 MB: the other GPU backends,
# common/, tools/ and the HTTP library are left out, so it fits the device's 64 MiB carry limit).
#
#   bash packaging/device/prepare_llama_src.sh /path/to/llama_cpp_python-0.3.36/vendor/llama.cpp
set -euo pipefail
SRC="${1:?give the vendored llama.cpp folder of the llama-cpp-python sdist}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="$ROOT/.llama-src"
[[ -f "$SRC/include/llama.h" ]] || { echo "$SRC is not a llama.cpp source folder" >&2; exit 1; }
rm -rf "$DEST" && mkdir -p "$DEST"
skip=()
for b in vulkan sycl opencl hexagon metal et webgpu openvino cann virtgpu zdnn zendnn musa hip; do
    skip+=(--exclude="ggml/src/ggml-$b")
done
(cd "$SRC" && tar cf - "${skip[@]}" --exclude=vendor/cpp-httplib CMakeLists.txt cmake include src vendor LICENSE ggml) |
    tar xf - -C "$DEST"
du -sh "$DEST"
git -C "$ROOT" check-ignore -q .llama-src || echo "note: add .llama-src/ to .gitignore so it is carried, not committed" >&2
