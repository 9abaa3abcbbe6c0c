"""What a model file's names say about it: shared by the fine-tune and chat-template checks.

A helper the checks share (like core.checks.fixes and core.checks.evidence), so that no check imports
another: each check module stands alone (the `independence` contract in pyproject.toml).
"""

from __future__ import annotations

import re

from core.model.profile import ModelProfile

# Words that mark an instruct/chat fine-tune in a model's name.
INSTRUCT_WORDS = {"instruct", "chat", "it", "assistant", "sft", "dpo", "rlhf", "orpo", "hermes", "thinking"}


def tokens(text: str) -> list[str]:
    """The lower-case words of a name ("Llama-3.1-8B-Instruct" -> llama, 3.1, 8b, instruct)."""
    return [t for t in re.split(r"[^a-z0-9.]+", text.lower()) if t]


def name_words(profile: ModelProfile) -> set[str]:
    """The words of the file's own names (metadata names, else the file name), lower-case."""
    named = [profile.name, profile.basename, profile.finetune, *(b.name for b in profile.base_models)]
    parts = [p for p in named if p] or [profile.path.rsplit("/", 1)[-1]]
    return {w for p in parts for w in tokens(p)}
