"""What the person pastes beside their settings: the prompt they send (counted with the model's own
tokenizer, in a llama.cpp child process) and the chat template their app applies. Both front ends use
these; the checks read them as `Observations` (context-truncation, chat-template)."""

from __future__ import annotations

from pathlib import Path

from core.model.token_probe import MAX_PROMPT_CHARS, approximate_tokens, probe
from core.progress import Job, Progress
from core.settings.observations import Observation, Observations, PromptCount

__all__ = ["APP_TEMPLATE_SOURCE", "MAX_PROMPT_CHARS", "count_prompt", "count_prompt_job", "with_pasted"]

APP_TEMPLATE_SOURCE = "your app's chat template (pasted)"


def count_prompt(model_path: str | None, text: str) -> tuple[PromptCount, list[str]]:
    """The prompt's length in the model's own tokens (llama.cpp, in a child process) and what llama.cpp
    warned while loading the vocabulary; an approximation for a model that is not a GGUF file."""
    text = text[:MAX_PROMPT_CHARS]
    warnings: list[str] = []
    if model_path and Path(model_path).is_file() and model_path.lower().endswith(".gguf"):
        result = probe(model_path, text)
        warnings = list(result.log)
        if result.tokens is not None:
            return PromptCount(result.tokens, result.method, result.exact), warnings
    how = "an approximation (~4 characters a token; " + ("llama.cpp could not count it)" if warnings else "not a GGUF file)")
    return PromptCount(approximate_tokens(text), how, False), warnings


def count_prompt_job(model_path: str | None, text: str) -> Job[PromptCount]:
    yield Progress("Counting your prompt with the model's own tokenizer", 0, 1)
    return count_prompt(model_path, text)[0]


def with_pasted(base: Observations | None, prompt: PromptCount | None, app_template: str | None) -> Observations:
    """The observations the checks read: what came from elsewhere (a log, a probe, the CLI) with the
    person's pasted prompt and template on top."""
    obs = Observations() if base is None else Observations(**{k: getattr(base, k) for k in base.__dataclass_fields__})
    if prompt is not None:
        obs.prompt = prompt
    if app_template and app_template.strip():
        obs.engine_template = Observation(app_template, APP_TEMPLATE_SOURCE)
    return obs
