#!/usr/bin/env bash
# Run the bundle the way a person would: no virtual environment, no Python on PATH, a fresh cache
# (so the bundle prepares the demo itself, quantizing in a child through quantdoctor-cli).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=dist/QuantDoctor
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
run() { env -i HOME="$HOME" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen QUANTDOCTOR_CACHE_DIR="$cache" "$@"; }
run "$bundle/QuantDoctor" --self-test
demo=$(find "$bundle" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' | head -1)
run "$bundle/quantdoctor-cli" inspect "$demo" --json > "$cache/inspect.json"
grep -q '"nominal_type": "Q4_1"' "$cache/inspect.json"
run "$bundle/quantdoctor-cli" inspect "$cache/demo/SmolLM2-135M-Instruct.Q2_0.gguf" | grep -q "Q2_0 (type 42)"
echo "smoke: both executables ran outside the virtual environment"
