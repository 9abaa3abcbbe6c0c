"""The tokenizer probe's child: `python -m core.model.token_probe_child MODEL PROMPT_FILE`.

Loads the vocabulary only, tokenizes the prompt with the BOS the model asks for and special tokens
parsed (as a chat engine does), and prints one JSON line. llama.cpp's own log goes to stderr, where
the parent reads its warnings. The JSON goes to a duplicate of stdout; fd 1 points at stderr so
nothing llama.cpp prints can corrupt it.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    model, prompt_file = argv[0], argv[1]
    try:
        import llama_cpp
    except ImportError:
        proto.write(json.dumps({"error": "llama-cpp-python is not installed"}) + "\n")
        return 3
    from core.files import read_text_limited

    text = read_text_limited(prompt_file, 64 << 20, "the prompt file")  # written by token_probe.py
    try:
        llm = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=True)
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    except Exception as exc:  # llama.cpp's refusal, reported to the parent as data
        proto.write(json.dumps({"error": f"llama.cpp could not read the vocabulary: {exc}"}) + "\n")
        return 2
    proto.write(json.dumps({"tokens": len(tokens), "first": tokens[:4]}) + "\n")
    proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
