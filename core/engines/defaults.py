"""What each engine does when a setting is not given (to be folded into one module per engine)."""

from __future__ import annotations

from core.settings.setup import Setup

_DEFAULT_CTX = {"ollama": 4096, "koboldcpp": 4096, "lm-studio": 4096}


def effective_ctx(setup: Setup, model_ctx: int | None) -> int:
    """The context the engine will really use: the setting, else the engine's default."""
    if setup.run.n_ctx:
        return setup.run.n_ctx
    default = _DEFAULT_CTX.get(setup.engine)
    if default:
        return default
    return model_ctx or 4096  # llama.cpp's -c 0 means the model's own context
