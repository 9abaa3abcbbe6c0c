"""Every engine Quant Doctor knows, in the order menus list them.

Adding an engine is one module (see core/engines/vllm.py for the smallest) and one entry here;
docs/ARCHITECTURE.md walks through it. `Setup.engine` is a plain id string in core.settings (a lower
layer), so this registry is where an id is checked: `get` refuses an unknown one with a plain error.
"""

from __future__ import annotations

from core.engines import koboldcpp, llamacpp, lmstudio, ollama, tabbyapi, textgen, vllm
from core.engines.base import Engine
from core.errors import SetupError
from core.settings.setup import Setup

ENGINES: dict[str, Engine] = {
    e.id: e
    for e in (
        llamacpp.ENGINE,
        ollama.ENGINE,
        lmstudio.ENGINE,
        koboldcpp.ENGINE,
        textgen.ENGINE,
        tabbyapi.ENGINE,
        vllm.ENGINE,
    )
}


def ids() -> tuple[str, ...]:
    return tuple(ENGINES)


def get(engine_id: str) -> Engine:
    try:
        return ENGINES[engine_id]
    except KeyError:
        raise SetupError(
            f"'{engine_id}' is not an engine Quant Doctor knows.", f"Use one of: {', '.join(ENGINES)}."
        ) from None


def of(setup: Setup) -> Engine:
    """The engine a setup runs on."""
    return get(setup.engine)


def register(engine: Engine) -> Engine:
    """Add an engine at run time (a plug-in, a test); its id must be new."""
    if engine.id in ENGINES:
        raise ValueError(f"engine id {engine.id!r} is already registered")
    ENGINES[engine.id] = engine
    return engine


def effective_ctx(setup: Setup, model_ctx: int | None) -> int:
    """The context the setup's engine really uses for a model trained for `model_ctx` tokens."""
    return of(setup).effective_ctx(setup.run, model_ctx)
