"""Print what `quantdoctor-cli diagnose` ranks first on each crafted differential case (issue 14).

    PYTHONPATH=. python tests/bench/differential_cases.py

Each case is a real GGUF made with the gguf writer (or the demo model with changed metadata); each
line shows the case, the top finding (id, severity, confidence) and the report's headline.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from test_differential import ALPACA, CHATML, CHATML_TOKENS, LLAMA3_BOS, LLAMA3_TOKENS, THINKING, make, qwen

from core.cli.main import main
from core.demo.prepare import prepare_demo
from core.progress import run_job


def top(args: list[str]) -> tuple[str, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["diagnose", *args, "--json"])
    d = json.loads(out.getvalue())
    f = d["findings"][0]
    return f"{f['id']} {f['severity']} ({f['confidence']}): {f['title']}", d.get("headline") or ""


def cases(tmp: Path) -> list[tuple[str, list[str]]]:
    from ggufmaker import copy_with_metadata

    demo = run_job(prepare_demo())
    prompt = tmp / "prompt.txt"
    prompt.write_text("Answer in French.\n" + " ".join(["the long report about memory"] * 1300), encoding="utf-8")
    yarn = {"qwen2.rope.scaling.type": "yarn", "qwen2.rope.scaling.factor": 4.0,
            "qwen2.rope.scaling.original_context_length": 32768}  # fmt: skip
    bos = {"tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.bos_token_id": 0, "tokenizer.ggml.add_bos_token": True}
    no_pre = copy_with_metadata(demo.reference, tmp / "no-pre.gguf", drop=["tokenizer.ggml.pre"])
    return [
        ("base model, no template, nothing expected", [str(make(tmp, "Llama 3.1 8B"))]),
        ("Alpaca template on a ChatML model", [str(qwen(tmp, "Qwen2.5 7B Alpaca Instruct", template=ALPACA))]),
        ("no tokenizer.ggml.pre (metadata)", [str(make(tmp, "Mistral 7B Instruct", template=CHATML, tokens=CHATML_TOKENS))]),
        ("no tokenizer.ggml.pre (llama.cpp probe)", [str(no_pre), "--probe"]),
        ("BOS template + add_bos_token", [str(make(tmp, "Llama 3.1 8B Instruct", template=LLAMA3_BOS, tokens=LLAMA3_TOKENS, meta=bos)), "--engine", "lm-studio"]),
        ("YaRN at 8K", [str(qwen(tmp, "Qwen3 8B YaRN", meta=yarn, n_ctx=131072)), "-c", "8192"]),
        ("Ollama default ctx + long prompt", [str(demo.reference), "--engine", "ollama", "--prompt-file", str(prompt)]),
        ("thinking template + temperature 0", [str(qwen(tmp, "Qwen3 8B", template=THINKING)), "-c", "8192", "--temperature", "0"]),
    ]  # fmt: skip


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in cases(Path(tmp)):
            first, headline = top(args)
            print(f"{name:45s} -> {first}\n{'':45s}    {headline}")
